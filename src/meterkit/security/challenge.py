"""OP2-HMAC v1: the P0 challenge and the P2 answer (a manufacturer-specific algorithm from standard primitives).

Challenge ``StoC`` (16 bytes) = format(1, = 1) ‖ counter(4, big-endian, persisted, +1 per P0) ‖ 11 random bytes
from ``secrets``.  The persisted counter keeps challenges unique even if the random source repeats after a reboot.
On the port the P0 value is the challenge as 32 upper-case hex digits, the current key versions of levels 2 and 3
(2 hex digits each) and the meter's serial number, so a hand-held knows which key of its package to use.

Answer = HMAC-SHA256(K, "OP2v1" ‖ 0x01 ‖ FLAG ‖ serial16 ‖ level ‖ StoC), first 16 bytes, sent as 32 upper-case hex
digits in P2.  K is the meter's key of that level and version, or a work-order key derived from it
(:func:`meterkit.security.keys.work_order_key`), in which case the P2 value goes on with the work order's expiry
(8 hex digits, Unix seconds) and the hand-held's id, so the meter itself refuses an expired or revoked package.
The meter checks the answer against every provisioned level with ``hmac.compare_digest`` and without an early exit,
and grants the level that matches.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import SecurityError
from .keys import MeterIdentity, valid_hhu_id

__all__ = [
    "HEX_LEN",
    "Answer",
    "Operand",
    "answer_tag",
    "answer_text",
    "make_challenge",
    "operand_text",
    "parse_answer",
    "parse_operand",
    "parse_operand_full",
    "parse_tag",
    "verify_tag",
]

HEX_LEN = 32
_LABEL = b"OP2v1"
_HEX = frozenset("0123456789ABCDEF")


def make_challenge(version: int, counter: int) -> bytes:
    return bytes([version & 0xFF]) + (counter & 0xFFFFFFFF).to_bytes(4, "big") + secrets.token_bytes(11)


@dataclass(frozen=True, kw_only=True, slots=True)
class Operand:
    """A meter's P0 value: the challenge, the key version per level and the serial number."""

    challenge: bytes
    versions: dict[int, int]
    serial: str


def operand_text(challenge: bytes, versions: Mapping[int, int], serial: str) -> str:
    return challenge.hex().upper() + f"{versions[2] & 0xFF:02X}{versions[3] & 0xFF:02X}" + serial


def parse_operand_full(operand: str) -> Operand:
    """The parts of a P0 value; SecurityError if it is not an OP2-HMAC operand."""
    head, vers, serial = operand[:HEX_LEN], operand[HEX_LEN : HEX_LEN + 4], operand[HEX_LEN + 4 :]
    if len(head) != HEX_LEN or len(vers) != 4 or not set(head + vers) <= _HEX or not serial:
        raise SecurityError("the meter's P0 operand is not an OP2-HMAC challenge")
    return Operand(challenge=bytes.fromhex(head), versions={2: int(vers[:2], 16), 3: int(vers[2:], 16)}, serial=serial)


def parse_operand(operand: str) -> tuple[bytes, str]:
    """Challenge and serial from a P0 value; SecurityError if it is not an OP2-HMAC operand."""
    parsed = parse_operand_full(operand)
    return parsed.challenge, parsed.serial


def answer_tag(key: bytes, identity: MeterIdentity, level: int, challenge: bytes) -> bytes:
    message = _LABEL + b"\x01" + identity.encode() + bytes([level]) + challenge
    return hmac.new(key, message, hashlib.sha256).digest()[:16]


def parse_tag(text: str) -> bytes | None:
    """Exactly 32 upper-case hex digits, else None (checked before any cryptography; the length is not secret)."""
    if len(text) != HEX_LEN or not set(text) <= _HEX:
        return None
    return bytes.fromhex(text)


@dataclass(frozen=True, kw_only=True, slots=True)
class Answer:
    """A P2 value: the tag, and for a work-order key its expiry and the hand-held's id."""

    tag: bytes
    not_after: int | None = None
    hhu: str | None = None


def parse_answer(text: str) -> Answer | None:
    """``tag`` or ``tag ‖ not_after(8 hex) ‖ hand-held id``; None if malformed."""
    tag = parse_tag(text[:HEX_LEN])
    if tag is None:
        return None
    if len(text) == HEX_LEN:
        return Answer(tag=tag)
    expiry, hhu = text[HEX_LEN : HEX_LEN + 8], text[HEX_LEN + 8 :]
    if len(expiry) != 8 or not set(expiry) <= _HEX or not valid_hhu_id(hhu):
        return None
    return Answer(tag=tag, not_after=int(expiry, 16), hhu=hhu)


def answer_text(tag: bytes, not_after: int | None = None, hhu: str | None = None) -> str:
    text = tag.hex().upper()
    if not_after is not None and hhu is not None:
        text += f"{not_after & 0xFFFFFFFF:08X}{hhu}"
    return text


def verify_tag(keys: Mapping[int, bytes], identity: MeterIdentity, challenge: bytes, tag: bytes) -> int | None:
    """The level whose key produced ``tag`` (highest if several), comparing with every key in constant time."""
    granted: int | None = None
    for level, key in sorted(keys.items()):
        if hmac.compare_digest(answer_tag(key, identity, level, challenge), tag):
            granted = level
    return granted
