"""How the hand-held unit answers the meter's P0 operand."""

from __future__ import annotations

from typing import Protocol

from ..errors import MeterkitError
from ..iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage
from ..security.answer_crypto import AnswerCipher, password_session_key, unwrap_answer
from ..security.challenge import parse_operand
from ..security.keys import MeterIdentity

__all__ = ["Authenticator", "PasswordAuthenticator"]


class Authenticator(Protocol):
    """Produces the P1/P2 command for a meter's operand and decrypts protected answers."""

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        """The P1 or P2 command to send after the meter's P0."""
        ...

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        """Decrypt answers (identity when the session is not encrypted)."""
        ...


class PasswordAuthenticator:
    """A static password sent with P1 (access level 2 in most meters).

    If the meter's P0 operand is an OP2-HMAC challenge, the answer key of the session is derived from the password
    and the challenge, and encrypted answers (``ENC(...)``) are decrypted transparently."""

    def __init__(self, password: str) -> None:
        self._password = password
        self._cipher: AnswerCipher | None = None

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        self._cipher = None
        try:
            challenge, serial = parse_operand(operand)
            identity = MeterIdentity(flag=identification.manufacturer, serial=serial)
        except MeterkitError:  # another manufacturer's operand: no answer encryption
            pass
        else:
            self._cipher = AnswerCipher(password_session_key(self._password, challenge, identity), identity, 0)
        return CommandMessage(command="P", command_type="1", data_set=DataSet.single("", self._password))

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        return unwrap_answer(self._cipher, datasets)

    def __repr__(self) -> str:
        return "PasswordAuthenticator(***)"
