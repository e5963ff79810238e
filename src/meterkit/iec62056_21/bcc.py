"""Block check character (§6.2): ISO 1155 LRC over the 7-bit character values."""

from __future__ import annotations

__all__ = ["bcc", "crc16"]


def bcc(data: bytes) -> int:
    """XOR of every byte of ``data``, masked to 7 bits.

    ``data`` runs from the character after the first SOH/STX up to and including the ETX/EOT
    that ends the message.
    """
    value = 0
    for byte in data:
        value ^= byte
    return value & 0x7F


def crc16(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0x8005 reflected as 0xA001, initial value 0): the check of a DSMR P1 telegram,
    computed over everything from ``/`` up to and including ``!`` and sent as four hex digits after the ``!``."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc
