"""How the hand-held unit answers the meter's P0 operand."""

from __future__ import annotations

from typing import Protocol

from ..iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage

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
    """A static password sent with P1 (access level 2 in most meters)."""

    def __init__(self, password: str) -> None:
        self._password = password

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        return CommandMessage(command="P", command_type="1", data_set=DataSet.single("", self._password))

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        return datasets

    def __repr__(self) -> str:
        return "PasswordAuthenticator(***)"
