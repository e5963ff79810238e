"""Per-meter keys: HKDF-SHA256 (RFC 5869) from a master key per access level and key version.

``K(meter, level, version) = HKDF(IKM = master, salt = none, info = "OP2v1-kdf" ‖ FLAG(3) ‖ serial(16, NUL padded) ‖
level(1) ‖ version(1), length 32)``.  The fields have fixed lengths, so "12"+"3" and "1"+"23" cannot collide.
The master key lives only with the key server; meters hold their own derived keys, hand-helds a package of the
derived keys of one work order.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigError

__all__ = ["KEY_LEN", "MeterIdentity", "derive_meter_key", "parse_key_hex"]

KEY_LEN = 32
_INFO = b"OP2v1-kdf"


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """The meter as the keys know it: FLAG manufacturer id (3 characters) and serial number (1-16 characters)."""

    flag: str
    serial: str

    def __post_init__(self) -> None:
        if len(self.flag) != 3 or not self.flag.isascii() or not self.flag.isalpha():
            raise ConfigError(f"manufacturer id must be 3 letters, got {self.flag!r}")
        if not 1 <= len(self.serial) <= 16 or not self.serial.isascii() or not self.serial.isalnum():
            raise ConfigError(f"serial number must be 1-16 letters or digits, got {self.serial!r}")

    def encode(self) -> bytes:
        """FLAG(3) ‖ serial padded with NUL to 16 bytes."""
        return self.flag.encode("ascii") + self.serial.encode("ascii").ljust(16, b"\x00")


def derive_meter_key(master: bytes, identity: MeterIdentity, level: int, version: int) -> bytes:
    """The key of one meter, access level and key version."""
    if len(master) < 16:
        raise ConfigError("a master key must have at least 16 bytes")
    if not 1 <= level <= 4 or not 0 <= version <= 255:
        raise ConfigError(f"level must be 1-4 and key version 0-255 (got {level}, {version})")
    info = _INFO + identity.encode() + bytes([level, version])
    return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=None, info=info).derive(master)


def parse_key_hex(text: str, what: str = "key") -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise ConfigError(f"{what} must be hexadecimal") from exc
    if len(key) < 16:
        raise ConfigError(f"{what} must have at least 16 bytes (32 hex digits)")
    return key
