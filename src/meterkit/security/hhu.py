"""The hand-held unit's side of OP2-HMAC: answers the meter's P0 with a P2 from a key package."""

from __future__ import annotations

import os
from pathlib import Path

from ..clock import Clock, SystemClock
from ..errors import SecurityError
from ..iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage
from .answer_crypto import AnswerCipher, session_key, unwrap_answer
from .challenge import answer_tag, parse_operand
from .keys import MeterIdentity
from .package import KeyPackage, open_package

__all__ = ["KeyPackageAuthenticator", "load_key_authenticator"]


class KeyPackageAuthenticator:
    """Answers challenges with the level-``level`` key of the meter named in the operand."""

    def __init__(self, package: KeyPackage, level: int) -> None:
        if level not in (2, 3):
            raise SecurityError("challenge-response grants level 2 or 3")
        self.package = package
        self.level = level
        self._cipher: AnswerCipher | None = None

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        challenge, serial = parse_operand(operand)
        identity = MeterIdentity(flag=identification.manufacturer, serial=serial)
        key = self.package.key(identity, self.level, challenge[0])
        tag = answer_tag(key, identity, self.level, challenge)
        self._cipher = AnswerCipher(session_key(key, challenge, identity, self.level), identity, self.level)
        return CommandMessage(command="P", command_type="2", data_set=DataSet.single("", tag.hex().upper()))

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        """Decrypt encrypted answers with the session's key (plain answers pass unchanged)."""
        return unwrap_answer(self._cipher, datasets)

    def __repr__(self) -> str:
        return f"KeyPackageAuthenticator(hhu={self.package.hhu!r}, level={self.level})"


def load_key_authenticator(
    path: Path, level: int, passphrase: str | None = None, clock: Clock | None = None
) -> KeyPackageAuthenticator:
    """Open a key package (passphrase from the argument or ``METERKIT_KEY_PASSPHRASE``)."""
    secret = passphrase if passphrase is not None else os.environ.get("METERKIT_KEY_PASSPHRASE", "")
    package = open_package(path, secret, now=(clock or SystemClock()).now())
    return KeyPackageAuthenticator(package, level)
