"""Encryption of read answers ("manufacturer-specific data encryption") with a key of the session's exchange.

Session key (AES-256-GCM), derived when the session authenticates with P2, from the key that answered the challenge
(the meter key, a work-order key or the password key): ``HKDF-SHA256(IKM = K, salt = StoC, info = "OP2v1-sess" ‖
FLAG ‖ serial16 ‖ level)``.  A meter that encrypts refuses P1: a password in clear would give the key away.

StoC is the P0 challenge of the same session, so every session has a fresh key.  Each answer is sealed whole with
nonce = ``0x02`` (meter to hand-held) ‖ answer counter (11 bytes, big-endian, 1 for the first answer of the session)
and associated data ``"OP2v1-enc" ‖ FLAG ‖ serial16 ‖ level ‖ counter(4)``.

This module works on bytes only: :class:`AnswerCipher` seals a plaintext into (counter, ciphertext ‖ tag) and opens
it again.  The opener accepts only counters above the last one it opened, so answers cannot be replayed or reordered
within a session, and a tampered answer fails the tag check.  How a sealed answer travels on the optical port (the
``ENC(counter)`` data set and its hex lines) is the protocol's business: :mod:`meterkit.iec62056_21.sealed`.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import SecurityError
from .keys import MeterIdentity, hkdf_sha256

__all__ = ["AnswerCipher", "session_key"]

_DIRECTION_METER = b"\x02"
_AAD_LABEL = b"OP2v1-enc"
_MAX_COUNTER = 0xFFFFFFFF  # the highest answer counter of a session (4 bytes in the associated data)


def session_key(meter_key: bytes, challenge: bytes, identity: MeterIdentity, level: int) -> bytes:
    """The answer key of a challenge-response session at ``level``."""
    return hkdf_sha256(meter_key, b"OP2v1-sess" + identity.encode() + bytes([level]), salt=challenge)


class AnswerCipher:
    """Seals (meter) or opens (hand-held) the answers of one session, as bytes, numbered by an answer counter."""

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

    def seal(self, plain: bytes) -> tuple[int, bytes]:
        """The next answer counter and the ciphertext with its tag (the meter's side)."""
        if self._sent >= _MAX_COUNTER:
            raise SecurityError("answer counter exhausted; sign on again for a new session key")
        self._sent += 1
        counter = self._sent
        return counter, self._aead.encrypt(self._nonce(counter), plain, self._aad(counter))

    def open(self, counter: int, sealed: bytes) -> bytes:
        """The plaintext of answer ``counter`` (the hand-held's side); SecurityError if it was altered, replayed or
        reordered.  Only an answer that opens moves the counter on."""
        if not self._opened < counter <= _MAX_COUNTER:
            raise SecurityError(f"encrypted answer {counter} after {self._opened}: replayed or out of order")
        try:
            plain = self._aead.decrypt(self._nonce(counter), sealed, self._aad(counter))
        except InvalidTag as exc:
            raise SecurityError("the encrypted answer failed its integrity check (altered or wrong key)") from exc
        self._opened = counter
        return plain
