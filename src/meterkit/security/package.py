"""Key packages: the work-order keys of the meters of one work order for one hand-held unit, encrypted and expiring.

A package is a JSON file ``{"format": "meterkit-keys/2", "kdf": {...scrypt...}, "hhu": id, "nonce": hex,
"ciphertext": hex}``.  The plaintext (AES-256-GCM under a key from the passphrase by scrypt, the header authenticated
as associated data) holds the issuer, the hand-held id, ``not_after`` and ``meters: {FLAG:serial: {level: {version:
key hex}}}``.

The keys in a package are not the meters' keys but work-order keys derived from them
(:func:`~meterkit.security.keys.work_order_key`), bound to the hand-held id and the expiry.  The hand-held sends both
with its P2, and the meter derives the key again and checks the expiry against its own clock and the id against its
revocation list: whoever holds a package and its passphrase cannot extend it, and cannot turn it into a meter key.
The master key never leaves the key server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import ConfigError, DataError, SecurityError
from .keys import MeterIdentity, derive_meter_key, valid_hhu_id, work_order_key

__all__ = ["MIN_PASSPHRASE_LEN", "KeyPackage", "open_package", "write_package"]

FORMAT = "meterkit-keys/2"
#: The shortest passphrase ``meterkit keys package`` accepts for a new package (characters).
MIN_PASSPHRASE_LEN = 12
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class KeyPackage:
    issuer: str
    hhu: str
    not_after: datetime
    meters: dict[str, dict[int, dict[int, bytes]]]  # "FLAG:serial" -> level -> version -> key

    def key(self, identity: MeterIdentity, level: int, version: int) -> bytes:
        entry = self.meters.get(f"{identity.flag}:{identity.serial}")
        if entry is None:
            raise SecurityError(f"meter {identity.flag} {identity.serial} is not in this key package")
        try:
            return entry[level][version]
        except KeyError as exc:
            raise SecurityError(
                f"the key package has no level-{level} key version {version} for {identity.serial}"
            ) from exc


def _kek(passphrase: str, salt: bytes) -> bytes:
    if not passphrase:
        raise SecurityError("a key package needs a passphrase: set METERKIT_KEY_PASSPHRASE")
    return Scrypt(salt=salt, length=32, **_SCRYPT).derive(passphrase.encode())


def write_package(
    path: Path,
    master: bytes,
    identities: list[MeterIdentity],
    *,
    levels: tuple[int, ...],
    version: int | Mapping[int, int],
    valid_for: timedelta,
    now: datetime,
    issuer: str,
    hhu: str,
    passphrase: str,
    overwrite: bool = True,
) -> KeyPackage:
    """Write a package for ``identities`` to ``path`` (created with mode 0600; with ``overwrite=False`` an existing
    file is refused with :class:`ConfigError`)."""
    versions = dict(version) if isinstance(version, Mapping) else dict.fromkeys(levels, version)
    if not valid_hhu_id(hhu):
        raise ConfigError(f"a hand-held id must be 1-16 letters, digits, '-', '_' or '.', got {hhu!r}")
    not_after = (now + valid_for).replace(microsecond=0)
    expiry = int(not_after.timestamp())
    meters = {
        f"{m.flag}:{m.serial}": {
            level: {versions[level]: work_order_key(derive_meter_key(master, m, level, versions[level]), hhu, expiry)}
            for level in levels
        }
        for m in identities
    }
    package = KeyPackage(issuer=issuer, hhu=hhu, not_after=not_after, meters=meters)
    plain = json.dumps(
        {
            "issuer": issuer,
            "hhu": hhu,
            "not_after": package.not_after.isoformat(),
            "meters": {
                k: {str(lv): {str(v): key.hex() for v, key in vs.items()} for lv, vs in e.items()}
                for k, e in meters.items()
            },
        }
    ).encode()
    salt, nonce = os.urandom(16), os.urandom(12)
    header = {"format": FORMAT, "kdf": {"name": "scrypt", "salt": salt.hex(), **_SCRYPT}, "hhu": hhu}
    aad = json.dumps(header, sort_keys=True).encode()
    ciphertext = AESGCM(_kek(passphrase, salt)).encrypt(nonce, plain, aad)
    doc = {**header, "nonce": nonce.hex(), "ciphertext": ciphertext.hex()}
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"{path} exists; refusing to overwrite a key package (--force replaces it)") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot write the key package ({exc.strerror})") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, 0o600)  # an existing file replaced with overwrite keeps no wider mode
        fh.write(json.dumps(doc, indent=1))
    return package


def open_package(path: Path, passphrase: str, *, now: datetime) -> KeyPackage:
    """Decrypt and check a package; SecurityError for a wrong passphrase, tampering or expiry."""
    try:
        doc = json.loads(path.read_text())
        header = {"format": doc["format"], "kdf": doc["kdf"], "hhu": doc["hhu"]}
        nonce, ciphertext, salt = (
            bytes.fromhex(doc["nonce"]),
            bytes.fromhex(doc["ciphertext"]),
            bytes.fromhex(doc["kdf"]["salt"]),
        )
    except OSError as exc:
        raise DataError(f"{path}: cannot read the key package ({exc.strerror})") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a meterkit key package") from exc
    if header["format"] != FORMAT:
        raise DataError(f"{path}: key package format {header['format']!r} is not {FORMAT!r}; ask for a new package")
    aad = json.dumps(header, sort_keys=True).encode()
    try:
        plain = AESGCM(_kek(passphrase, salt)).decrypt(nonce, ciphertext, aad)
    except InvalidTag as exc:
        raise SecurityError(f"{path}: wrong passphrase (METERKIT_KEY_PASSPHRASE) or the package was altered") from exc
    data = json.loads(plain)
    not_after = datetime.fromisoformat(data["not_after"])
    if now > not_after:
        raise SecurityError(f"{path}: the key package expired at {not_after.isoformat()}")
    meters = {
        k: {int(lv): {int(v): bytes.fromhex(key) for v, key in vs.items()} for lv, vs in e.items()}
        for k, e in data["meters"].items()
    }
    return KeyPackage(issuer=data["issuer"], hhu=data["hhu"], not_after=not_after, meters=meters)
