"""Block check character (§6.2): ISO 1155 LRC over the 7-bit character values."""

from __future__ import annotations

__all__ = ["bcc"]


def bcc(data: bytes) -> int:
    """XOR of every byte of ``data``, masked to 7 bits.

    ``data`` runs from the character after the first SOH/STX up to and including the ETX/EOT
    that ends the message.
    """
    value = 0
    for byte in data:
        value ^= byte
    return value & 0x7F
