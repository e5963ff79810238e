"""OP2-HMAC v1: the P0 challenge and the P2 answer (a manufacturer-specific algorithm from standard primitives).

Challenge ``StoC`` (16 bytes) = key version(1) ‖ counter(4, big-endian, persisted, +1 per P0) ‖ 11 random bytes from
``secrets``.  The persisted counter keeps challenges unique even if the random source repeats after a reboot.
On the port the P0 value is the challenge as 32 upper-case hex digits followed by the meter's serial number, so a
hand-held knows which key of its package to use.

Answer = HMAC-SHA256(K(meter, level, version), "OP2v1" ‖ 0x01 ‖ FLAG ‖ serial16 ‖ level ‖ StoC), first 16 bytes, sent
as 32 upper-case hex digits in P2.  The meter checks the answer against every provisioned level with
``hmac.compare_digest`` and without an early exit, and grants the level that matches.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from ..errors import SecurityError
from .keys import MeterIdentity

__all__ = ["HEX_LEN", "answer_tag", "make_challenge", "operand_text", "parse_operand", "parse_tag", "verify_tag"]

HEX_LEN = 32
_LABEL = b"OP2v1"
_HEX = frozenset("0123456789ABCDEF")


def make_challenge(version: int, counter: int) -> bytes:
    return bytes([version & 0xFF]) + (counter & 0xFFFFFFFF).to_bytes(4, "big") + secrets.token_bytes(11)


def operand_text(challenge: bytes, serial: str) -> str:
    return challenge.hex().upper() + serial


def parse_operand(operand: str) -> tuple[bytes, str]:
    """Challenge and serial from a P0 value; SecurityError if it is not an OP2-HMAC operand."""
    head, serial = operand[:HEX_LEN], operand[HEX_LEN:]
    if len(head) != HEX_LEN or not set(head) <= _HEX or not serial:
        raise SecurityError("the meter's P0 operand is not an OP2-HMAC challenge")
    return bytes.fromhex(head), serial


def answer_tag(key: bytes, identity: MeterIdentity, level: int, challenge: bytes) -> bytes:
    message = _LABEL + b"\x01" + identity.encode() + bytes([level]) + challenge
    return hmac.new(key, message, hashlib.sha256).digest()[:16]


def parse_tag(text: str) -> bytes | None:
    """Exactly 32 upper-case hex digits, else None (checked before any cryptography; the length is not secret)."""
    if len(text) != HEX_LEN or not set(text) <= _HEX:
        return None
    return bytes.fromhex(text)


def verify_tag(keys: Mapping[int, bytes], identity: MeterIdentity, challenge: bytes, tag: bytes) -> int | None:
    """The level whose key produced ``tag`` (highest if several), comparing with every key in constant time."""
    granted: int | None = None
    for level, key in sorted(keys.items()):
        if hmac.compare_digest(answer_tag(key, identity, level, challenge), tag):
            granted = level
    return granted
