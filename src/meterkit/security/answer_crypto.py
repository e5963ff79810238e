"""Encryption of read answers ("manufacturer-specific data encryption") with a key of the session's exchange.

Session key (AES-256-GCM), derived when the session authenticates with P2, from the key that answered the challenge
(the meter key, a work-order key or the password key): ``HKDF-SHA256(IKM = K, salt = StoC, info = "OP2v1-sess" ‖
FLAG ‖ serial16 ‖ level)``.  A meter that encrypts refuses P1: a password in clear would give the key away.

StoC is the P0 challenge of the same session, so every session has a fresh key.  Each data answer is encrypted whole:
the data sets as a data block (lines separated by CR LF), sealed with nonce = ``0x02`` (meter to hand-held) ‖ answer
counter (11 bytes, big-endian, 1 for the first answer of the session) and associated data ``"OP2v1-enc" ‖ FLAG ‖
serial16 ‖ level ‖ counter(4)``.  On the port the answer becomes::

    ENC(00000001)
    (hex of ciphertext and tag, 128 digits a line)
    ...

The hand-held accepts only counters above the last one it opened, so answers cannot be replayed or reordered within a
session, and a tampered answer fails the tag check.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import MeterkitError, SecurityError
from ..iec62056_21.dataset import parse_datasets
from ..iec62056_21.messages import MAX_VALUE_LEN_PROGRAMMING, DataSet
from .keys import MeterIdentity, hkdf_sha256

__all__ = [
    "ENC_ADDRESS",
    "AnswerCipher",
    "is_encrypted",
    "session_key",
    "unwrap_answer",
]

ENC_ADDRESS = "ENC"
_DIRECTION_METER = b"\x02"
_AAD_LABEL = b"OP2v1-enc"
_CHUNK = MAX_VALUE_LEN_PROGRAMMING
_MAX_COUNTER = 0xFFFFFFFF


def session_key(meter_key: bytes, challenge: bytes, identity: MeterIdentity, level: int) -> bytes:
    """The answer key of a challenge-response session at ``level``."""
    return hkdf_sha256(meter_key, b"OP2v1-sess" + identity.encode() + bytes([level]), salt=challenge)


def is_encrypted(datasets: tuple[DataSet, ...]) -> bool:
    return bool(datasets) and datasets[0].address == ENC_ADDRESS


class AnswerCipher:
    """Seals (meter) or opens (hand-held) the data answers of one session."""

    def __init__(self, key: bytes, identity: MeterIdentity, level: int) -> None:
        self._aead = AESGCM(key)
        self._prefix = _AAD_LABEL + identity.encode() + bytes([level])
        self._sent = 0
        self._opened = 0

    def _aad(self, counter: int) -> bytes:
        return self._prefix + counter.to_bytes(4, "big")

    @staticmethod
    def _nonce(counter: int) -> bytes:
        return _DIRECTION_METER + counter.to_bytes(11, "big")

    def seal(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        """The encrypted form of one answer (the meter's side)."""
        if self._sent >= _MAX_COUNTER:
            raise SecurityError("answer counter exhausted; sign on again for a new session key")
        self._sent += 1
        counter = self._sent
        plain = "".join(ds.to_text(strict=False) + "\r\n" for ds in datasets).encode("ascii")
        sealed = self._aead.encrypt(self._nonce(counter), plain, self._aad(counter)).hex().upper()
        lines = [DataSet.single("", sealed[i : i + _CHUNK]) for i in range(0, len(sealed), _CHUNK)]
        return (DataSet.single(ENC_ADDRESS, f"{counter:08X}"), *lines)

    def open(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        """The plain data sets of an encrypted answer (the hand-held's side); SecurityError if it was altered,
        replayed or reordered."""
        if not is_encrypted(datasets):
            raise SecurityError("the meter sent a plain answer in an encrypted session")
        try:
            counter = int(datasets[0].value, 16)
            sealed = bytes.fromhex("".join(ds.value for ds in datasets[1:] if ds.address == ""))
        except ValueError as exc:
            raise SecurityError("the encrypted answer is not hexadecimal") from exc
        if not self._opened < counter <= _MAX_COUNTER:
            raise SecurityError(f"encrypted answer {counter} after {self._opened}: replayed or out of order")
        try:
            plain = self._aead.decrypt(self._nonce(counter), sealed, self._aad(counter))
        except InvalidTag as exc:
            raise SecurityError("the encrypted answer failed its integrity check (altered or wrong key)") from exc
        self._opened = counter
        try:
            parsed, _ = parse_datasets(plain.decode("ascii"))
        except (MeterkitError, UnicodeDecodeError) as exc:
            raise SecurityError(f"the decrypted answer is not a data block ({exc})") from exc
        return parsed


def unwrap_answer(
    cipher: AnswerCipher | None, datasets: tuple[DataSet, ...], *, require: bool = False
) -> tuple[DataSet, ...]:
    """Decrypt an encrypted answer.  A plain answer passes unchanged (a meter that does not encrypt) unless
    ``require`` is set: then it is refused, so an attacker on the line cannot strip the encryption."""
    if not is_encrypted(datasets):
        if require:
            raise SecurityError("the meter answered in plain text although encryption is required")
        return datasets
    if cipher is None:
        raise SecurityError("the meter sent an encrypted answer but this session has no answer key")
    return cipher.open(datasets)
