"""How the hand-held unit answers the meter's P0 operand."""

from __future__ import annotations

from typing import Protocol

from ..errors import MeterkitError
from ..iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage
from ..security.answer_crypto import AnswerCipher, session_key, unwrap_answer
from ..security.challenge import answer_tag, answer_text, parse_operand_full
from ..security.keys import MeterIdentity, password_key

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
    """A static password (access level 2 in most meters).

    To a meter whose P0 operand is an OP2-HMAC challenge (meterkit's virtual meter) the password never goes in
    clear: the hand-held answers with ``P2`` keyed by the password (:func:`~meterkit.security.keys.password_key`), and
    encrypted answers (``ENC(...)``) are decrypted transparently.  Any other meter gets the classic ``P1(password)``;
    ``clear=True`` forces P1."""

    def __init__(self, password: str, *, clear: bool = False, require_encryption: bool = False) -> None:
        self._password = password
        self._clear = clear
        self.require_encryption = require_encryption
        self._cipher: AnswerCipher | None = None

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        self._cipher = None
        try:
            parsed = parse_operand_full(operand)
            identity = MeterIdentity(flag=identification.manufacturer, serial=parsed.serial)
        except MeterkitError:  # another manufacturer's operand: the classic clear-text password
            parsed = None
        if parsed is None or self._clear:
            return CommandMessage(command="P", command_type="1", data_set=DataSet.single("", self._password))
        key = password_key(self._password, identity)
        tag = answer_tag(key, identity, 2, parsed.challenge)
        self._cipher = AnswerCipher(session_key(key, parsed.challenge, identity, 2), identity, 2)
        return CommandMessage(command="P", command_type="2", data_set=DataSet.single("", answer_text(tag)))

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        return unwrap_answer(self._cipher, datasets, require=self.require_encryption)

    def __repr__(self) -> str:
        return "PasswordAuthenticator(***)"
