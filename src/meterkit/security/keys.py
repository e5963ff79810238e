"""Per-meter keys: HKDF-SHA256 (RFC 5869) from a master key per access level and key version.

``K(meter, level, version) = HKDF(IKM = master, salt = none, info = "OP2v1-kdf" ‖ FLAG(3) ‖ serial(16, NUL padded) ‖
level(1) ‖ version(1), length 32)``.  The fields have fixed lengths, so "12"+"3" and "1"+"23" cannot collide.
The master key lives only with the key server; meters hold their own derived keys, hand-helds a package of the
derived keys of one work order.  The one key that starts from a human secret, the read password's
(:func:`password_key`), goes through scrypt instead, so that offline guessing costs.  The head-end alarms are
signed with a key of their own (:func:`alarm_key`), so the head-end can check them without holding a key that opens
the port.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import ConfigError

__all__ = [
    "KEY_LEN",
    "PASSWORD_KDF",
    "MeterIdentity",
    "alarm_key",
    "derive_meter_key",
    "hkdf_sha256",
    "parse_key_hex",
    "password_key",
    "valid_hhu_id",
    "work_order_key",
]

KEY_LEN = 32
_INFO = b"OP2v1-kdf"
_INFO_WO = b"OP2v1-wo"
_INFO_ALARM = b"OP2v1-alarm"
_SALT_PW = b"OP2v2-pw"
#: The cost of :func:`password_key` (scrypt, RFC 7914): 2**15 x 8 x 128 bytes = 32 MiB of memory and about 0.1 s of
#: one core per guess (``benchmarks/bench_password_kdf.py``).
PASSWORD_KDF = {"n": 2**15, "r": 8, "p": 1}


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
    return hkdf_sha256(master, info)


def alarm_key(master: bytes, identity: MeterIdentity) -> bytes:
    """The key that signs one meter's head-end alarms: ``HKDF-SHA256(master, info = "OP2v1-alarm" ‖ FLAG(3) ‖
    serial(16, NUL padded))``.  Its own label, so it is none of the meter's level keys (``"OP2v1-kdf"``) nor a session
    key (those start from a level key), and knowing it opens no session on the port; it does not change when a level
    key is rotated."""
    if len(master) < 16:
        raise ConfigError("a master key must have at least 16 bytes")
    return hkdf_sha256(master, _INFO_ALARM + identity.encode())


_HHU_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def hkdf_sha256(ikm: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    """HKDF-SHA256 (RFC 5869) to a 32-byte key: every key of OP2-HMAC from key material comes from here."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=salt, info=info).derive(ikm)


def valid_hhu_id(hhu: str) -> bool:
    """1-16 characters from letters, digits, ``-``, ``_`` and ``.`` (they travel inside a P2 value)."""
    return 1 <= len(hhu) <= 16 and set(hhu) <= _HHU_CHARS


def work_order_key(meter_key: bytes, hhu: str, not_after: int) -> bytes:
    """The key a hand-held gets for one meter for one work order: bound to the hand-held's id and the expiry (Unix
    seconds).  The meter derives it again from its own key and the values in the P2, and checks the expiry against
    its clock, so a package holder cannot extend it."""
    if not valid_hhu_id(hhu):
        raise ConfigError(f"a hand-held id must be 1-16 letters, digits, '-', '_' or '.', got {hhu!r}")
    if not 0 <= not_after <= 0xFFFFFFFF:
        raise ConfigError("the expiry does not fit 32 bits of Unix seconds")
    info = _INFO_WO + hhu.encode("ascii").ljust(16, b"\x00") + not_after.to_bytes(4, "big")
    return hkdf_sha256(meter_key, info)


def password_key(password: str, identity: MeterIdentity) -> bytes:
    """The read password as a challenge-response key, so it never crosses the port in clear.

    ``scrypt(password (UTF-8), salt = "OP2v2-pw" ‖ FLAG(3) ‖ serial(16, NUL padded), n = 2**15, r = 8, p = 1,
    length 32)``: one sniffed exchange still allows an offline guess at the password, but each guess costs what a
    whole login costs the hand-held (:data:`PASSWORD_KDF`), and the salt makes every meter a separate effort.  A
    long password or the level-2 key closes that door; the meter's generated default password has 128 bits."""
    salt = _SALT_PW + identity.encode()
    return Scrypt(salt=salt, length=KEY_LEN, **PASSWORD_KDF).derive(password.encode("utf-8"))


def parse_key_hex(text: str, what: str = "key") -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise ConfigError(f"{what} must be hexadecimal") from exc
    if len(key) < 16:
        raise ConfigError(f"{what} must have at least 16 bytes (32 hex digits)")
    return key
