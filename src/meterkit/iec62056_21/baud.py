"""Baud-rate characters and protocol modes (§6.3.14 item 13, §6.4.5)."""

from __future__ import annotations

from typing import Final, Literal

from ..errors import LocalProtocolError

__all__ = [
    "INITIAL_BAUD",
    "MODE_B_BAUD",
    "MODE_C_BAUD",
    "MODE_D_BAUD",
    "ProtocolMode",
    "baud_char_for",
    "baud_for",
    "mode_from_baud_char",
]

ProtocolMode = Literal["A", "B", "C", "D", "E"]

INITIAL_BAUD: Final = 300
MODE_D_BAUD: Final = 2400
#: Mode B: A=600 ... F=19200 (there is no 300 entry); G, H, I reserved.
MODE_B_BAUD: Final = {"A": 600, "B": 1200, "C": 2400, "D": 4800, "E": 9600, "F": 19200}
#: Modes C and E: 0=300 ... 6=19200; 7, 8, 9 reserved.
MODE_C_BAUD: Final = {"0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200}
#: Seen in the wild: P1 ports at 115200 report Z='9' (accepted on reading, never offered).
_LENIENT_C_BAUD: Final = {"9": 115200}
_RESERVED_B = frozenset("GHI")
_RESERVED_C = frozenset("789")


def mode_from_baud_char(z: str) -> Literal["A", "B", "C"]:
    """The protocol mode an identification announces through its Z character.

    ``A``-``I`` mean mode B (``G``-``I`` reserved), digits mean mode C (or E with ``\\2``), anything else
    printable means mode A.  Mode E is recognised from the enhanced identification, not from Z.
    """
    if len(z) != 1:
        raise LocalProtocolError(f"baud rate character must be one character, got {z!r}")
    if z in MODE_B_BAUD or z in _RESERVED_B:
        return "B"
    if z.isdigit():
        return "C"
    return "A"


def baud_for(z: str, *, lenient: bool = True) -> int:
    """The baud rate Z stands for.  Mode A characters mean 300.

    Reserved characters (``G``-``I``, ``7``-``9``) raise in strict mode; in lenient mode ``9`` is taken as
    115200 (DSMR P1 ports) and the others as 300, keeping the raw character in the message.
    """
    mode = mode_from_baud_char(z)
    if mode == "A":
        return INITIAL_BAUD
    table = MODE_B_BAUD if mode == "B" else MODE_C_BAUD
    if z in table:
        return table[z]
    if not lenient:
        raise LocalProtocolError(f"baud rate character {z!r} is reserved in mode {mode}")
    return _LENIENT_C_BAUD.get(z, INITIAL_BAUD)


def baud_char_for(baud: int, mode: Literal["B", "C"]) -> str:
    """The Z character that offers ``baud`` in mode B or C."""
    table = MODE_B_BAUD if mode == "B" else MODE_C_BAUD
    for char, rate in table.items():
        if rate == baud:
            return char
    raise LocalProtocolError(
        f"{baud} Bd has no baud rate character in mode {mode}; choose one of {sorted(table.values())}"
    )
