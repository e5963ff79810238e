"""The hand-held unit's side of OP2-HMAC: answers the meter's P0 with a P2 from a key package."""

from __future__ import annotations

import os
from pathlib import Path

from ..clock import Clock, SystemClock
from ..errors import SecurityError
from ..iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage
from ..iec62056_21.sealed import unwrap_answer
from ..security.answer_crypto import AnswerCipher, session_key
from ..security.challenge import answer_tag, answer_text, parse_operand_full
from ..security.keys import MeterIdentity
from ..security.package import KeyPackage, open_package

__all__ = ["KeyPackageAuthenticator", "load_key_authenticator"]


class KeyPackageAuthenticator:
    """Answers challenges with the level-``level`` key of the meter named in the operand."""

    def __init__(self, package: KeyPackage, level: int, *, require_encryption: bool = False) -> None:
        if level not in (2, 3):
            raise SecurityError("challenge-response grants level 2 or 3")
        self.package = package
        self.level = level
        self._cipher: AnswerCipher | None = None
        #: the session key of the last exchange (a protected session's MACs derive from it)
        self.integrity_key: bytes | None = None
        self.require_encryption = require_encryption

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        parsed = parse_operand_full(operand)
        identity = MeterIdentity(flag=identification.manufacturer, serial=parsed.serial)
        key = self.package.key(identity, self.level, parsed.versions[self.level])
        tag = answer_tag(key, identity, self.level, parsed.challenge)
        self.integrity_key = session_key(key, parsed.challenge, identity, self.level)
        self._cipher = AnswerCipher(self.integrity_key, identity, self.level)
        value = answer_text(tag, int(self.package.not_after.timestamp()), self.package.hhu)
        return CommandMessage(command="P", command_type="2", data_set=DataSet.single("", value))

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        """Decrypt encrypted answers with the session's key (plain answers pass unchanged)."""
        return unwrap_answer(self._cipher, datasets, require=self.require_encryption)

    def __repr__(self) -> str:
        return f"KeyPackageAuthenticator(hhu={self.package.hhu!r}, level={self.level})"


def load_key_authenticator(
    path: Path,
    level: int,
    passphrase: str | None = None,
    clock: Clock | None = None,
    *,
    require_encryption: bool = False,
) -> KeyPackageAuthenticator:
    """Open a key package (passphrase from the argument or ``METERKIT_KEY_PASSPHRASE``)."""
    secret = passphrase if passphrase is not None else os.environ.get("METERKIT_KEY_PASSPHRASE", "")
    package = open_package(path, secret, now=(clock or SystemClock()).now())
    return KeyPackageAuthenticator(package, level, require_encryption=require_encryption)
