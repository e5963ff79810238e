"""Baud-rate characters and protocol modes (§6.3.14 item 13, §6.4.5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from ..errors import LocalProtocolError

__all__ = [
    "INITIAL_BAUD",
    "MODE_B_BAUD",
    "MODE_C_BAUD",
    "MODE_D_BAUD",
    "OptionOutcome",
    "ProtocolMode",
    "baud_char_for",
    "baud_for",
    "best_standard_char",
    "mode_from_baud_char",
    "option_outcome",
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


def best_standard_char(proposed: str) -> str:
    """The fastest standard mode C/E character (``0``-``6``) not above the rate ``proposed`` stands for.

    ``5`` gives ``5``; a non-standard proposal gives the best standard rate below it (``9``, 115200 Bd on P1 ports,
    gives ``6``; the unknown ``7`` and ``8`` give ``0``, i.e. stay at 300 Bd).
    """
    if proposed in MODE_C_BAUD:
        return proposed
    limit = baud_for(proposed) if mode_from_baud_char(proposed) == "C" else INITIAL_BAUD
    return max((c for c, rate in MODE_C_BAUD.items() if rate <= limit), key=MODE_C_BAUD.__getitem__)


@dataclass(frozen=True, kw_only=True, slots=True)
class OptionOutcome:
    """What a meter does with an option select ``ACK V Z Y`` (§6.4.5.2/3), as both ends must predict it.

    ``action`` is ``"readout"``, ``"programming"`` or ``"binary"`` (mode E); ``baud`` the rate the meter answers
    at (and stays at); ``reason`` says why the option was not honoured (empty when it was).
    """

    action: Literal["readout", "programming", "binary"]
    baud: int
    reason: str = ""


def option_outcome(*, protocol: str, baud_char: str, mode: str, proposed: str, binary: bool) -> OptionOutcome:
    """The one rule both connections use for ``ACK V Z Y`` after an identification proposing ``proposed``.

    * Z must be a standard mode C/E character (``0``-``6``) whose rate is not above the proposal (the hand-held may
      choose a lower rate; ``0`` keeps 300 Bd); V must be ``0``, ``1`` or ``2``.
    * Y=``0``: readout at Z; Y=``1``: programming at Z; V=``2`` Y=``2``: binary mode (HDLC) at Z if the meter has
      it (``binary``, announced by ``\\2``).
    * Anything else (an unknown or inconsistent option, Y=``2`` without binary mode, manufacturer Y=``6``-``9``
      the meter does not implement): data readout at 300 Bd, no programming and no switch.
    """
    limit = baud_for(proposed) if len(proposed) == 1 and mode_from_baud_char(proposed) == "C" else INITIAL_BAUD
    if baud_char not in MODE_C_BAUD:
        return OptionOutcome(action="readout", baud=INITIAL_BAUD, reason=f"Z={baud_char!r} is not a mode C/E rate")
    baud = MODE_C_BAUD[baud_char]
    if baud > limit:
        return OptionOutcome(
            action="readout", baud=INITIAL_BAUD, reason=f"Z={baud_char!r} ({baud} Bd) is above the proposal {limit} Bd"
        )
    if protocol not in "012" or len(protocol) != 1:
        return OptionOutcome(action="readout", baud=INITIAL_BAUD, reason=f"protocol V={protocol!r} is reserved")
    if mode == "0":
        return OptionOutcome(action="readout", baud=baud)
    if mode == "1":
        return OptionOutcome(action="programming", baud=baud)
    if mode == "2" and protocol == "2" and binary:
        return OptionOutcome(action="binary", baud=baud)
    if mode == "2":
        why = "V is not 2" if binary else "the meter has no binary mode (no \\2 in its identification)"
        return OptionOutcome(action="readout", baud=INITIAL_BAUD, reason=f"binary mode refused: {why}")
    return OptionOutcome(action="readout", baud=INITIAL_BAUD, reason=f"mode Y={mode!r} is not supported")
