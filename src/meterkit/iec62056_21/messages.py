"""IEC 62056-21 messages as frozen, keyword-only dataclasses.

Each message knows how to turn itself into bytes (``to_bytes()``); decoding lives in
:mod:`meterkit.iec62056_21.decoder`.  Constructors validate only what keeps the framing intact
(no delimiter characters inside fields).  The standard's *length* limits are enforced when
encoding with ``strict=True`` (the default for anything meterkit sends) and are not enforced on
decoded messages, because real meters break them (a 17-character identification, for example).

Byte layout references are to IEC 62056-21:2002 §6.3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from ..errors import LocalProtocolError
from .bcc import bcc

__all__ = [
    "ACK",
    "CR",
    "CRLF",
    "EOT",
    "ETX",
    "LF",
    "NAK",
    "SOH",
    "STX",
    "Ack",
    "AckOptionSelect",
    "CommandMessage",
    "DataAnswer",
    "DataMessage",
    "DataSet",
    "ErrorAnswer",
    "IdentificationMessage",
    "Message",
    "ModeDMessage",
    "Nak",
    "RequestMessage",
    "Value",
    "encode_datasets",
]

SOH: Final = b"\x01"
STX: Final = b"\x02"
ETX: Final = b"\x03"
EOT: Final = b"\x04"
ACK: Final = b"\x06"
NAK: Final = b"\x15"
CR: Final = b"\r"
LF: Final = b"\n"
CRLF: Final = b"\r\n"

#: Limits of §6.6 (characters).
MAX_ADDRESS_LEN: Final = 16
MAX_VALUE_LEN: Final = 32
MAX_VALUE_LEN_PROGRAMMING: Final = 128
MAX_UNIT_LEN: Final = 16
MAX_DEVICE_ADDRESS_LEN: Final = 32
MAX_IDENT_LEN: Final = 16
MAX_ERROR_LEN: Final = 32
#: A data line "should" not exceed 78 characters including boundary and control characters (§6.5).
MAX_LINE_LEN: Final = 78

_FORBIDDEN_ADDRESS = frozenset("()/!")
_FORBIDDEN_VALUE = frozenset("()*/!")
_FORBIDDEN_UNIT = frozenset("()/!")
_FORBIDDEN_IDENT = frozenset("/!")


def _bad_chars(forbidden: frozenset[str]) -> re.Pattern[str]:
    """One pattern matching the first character a field may not hold: a non-printable one or one of ``forbidden``."""
    listed = "".join(re.escape(ch) for ch in sorted(forbidden))
    return re.compile("[^\\x20-\\x7e]" + (f"|[{listed}]" if listed else ""))


#: precompiled per field kind: one regex search per value instead of a Python loop over its characters
_BAD_CHARS: Final = {
    forbidden: _bad_chars(forbidden)
    for forbidden in (_FORBIDDEN_ADDRESS, _FORBIDDEN_VALUE, _FORBIDDEN_UNIT, _FORBIDDEN_IDENT)
}


_BAD_VALUE: Final = _BAD_CHARS[_FORBIDDEN_VALUE].search
_BAD_UNIT: Final = _BAD_CHARS[_FORBIDDEN_UNIT].search


def _check_chars(kind: str, text: str, forbidden: frozenset[str]) -> None:
    pattern = _BAD_CHARS.get(forbidden) or _bad_chars(forbidden)
    found = pattern.search(text)
    if found is None:
        return
    ch = found.group()
    code = ord(ch)
    if code < 0x20 or code > 0x7E:
        raise LocalProtocolError(f"{kind} {text!r} contains non-printable character {ch!r}")
    raise LocalProtocolError(f"{kind} {text!r} contains forbidden character {ch!r}")


def _check_chars_loop(kind: str, text: str, forbidden: frozenset[str]) -> None:
    """The per-character check (the reference the regex check is tested against, and the benchmark's baseline)."""
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code > 0x7E:
            raise LocalProtocolError(f"{kind} {text!r} contains non-printable character {ch!r}")
        if ch in forbidden:
            raise LocalProtocolError(f"{kind} {text!r} contains forbidden character {ch!r}")


def _check_len(kind: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise LocalProtocolError(f"{kind} {text!r} is {len(text)} characters long; the limit is {limit}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Value:
    """One ``(value*unit)`` group of a data set."""

    value: str = ""
    unit: str = ""

    def __post_init__(self) -> None:
        if _BAD_VALUE(self.value) or _BAD_UNIT(self.unit):  # the common case (nothing to refuse) in two searches
            _check_chars("value", self.value, _FORBIDDEN_VALUE)
            _check_chars("unit", self.unit, _FORBIDDEN_UNIT)

    def to_text(self) -> str:
        return f"({self.value}*{self.unit})" if self.unit else f"({self.value})"


@dataclass(frozen=True, kw_only=True, slots=True)
class DataSet:
    """``address(value*unit)(value*unit)...``; the address may be empty.

    Most data sets have exactly one value group; real meters add more (a maximum demand and its
    time stamp: ``1.6.1(0.50262*kW)(2211120730)``).
    """

    address: str = ""
    values: tuple[Value, ...] = (Value(),)

    def __post_init__(self) -> None:
        _check_chars("address", self.address, _FORBIDDEN_ADDRESS)
        if not self.values:
            raise LocalProtocolError(f"data set {self.address!r} has no value group")

    @classmethod
    def single(cls, address: str, value: str = "", unit: str = "") -> DataSet:
        """The common case: one address with one value and an optional unit."""
        return cls(address=address, values=(Value(value=value, unit=unit),))

    @property
    def value(self) -> str:
        """The first value group's value."""
        return self.values[0].value

    @property
    def unit(self) -> str:
        """The first value group's unit."""
        return self.values[0].unit

    def to_text(self, *, strict: bool = True, max_value_len: int = MAX_VALUE_LEN) -> str:
        if strict:
            _check_len("address", self.address, MAX_ADDRESS_LEN)
            if self.address != self.address.strip(" "):
                # readers strip them (they separate data sets on a line), so they could not be read back
                raise LocalProtocolError(f"address {self.address!r} has leading or trailing spaces")
            for v in self.values:
                _check_len("value", v.value, max_value_len)
                _check_len("unit", v.unit, MAX_UNIT_LEN)
        return self.address + "".join(v.to_text() for v in self.values)


def encode_datasets(
    datasets: tuple[DataSet, ...] | list[DataSet],
    *,
    strict: bool = True,
    max_value_len: int = MAX_VALUE_LEN,
    max_line_len: int = MAX_LINE_LEN,
) -> bytes:
    """Lay out data sets as a data block: lines of data sets separated by CR LF, each line at most
    ``max_line_len`` characters including its CR LF (a single over-long data set gets its own line).
    The block ends with CR LF (an empty block is empty)."""
    lines: list[str] = []
    current = ""
    for ds in datasets:
        text = ds.to_text(strict=strict, max_value_len=max_value_len)
        if current and len(current) + len(text) + 2 > max_line_len:
            lines.append(current)
            current = ""
        current += text
    if current:
        lines.append(current)
    return b"".join(line.encode("ascii") + CRLF for line in lines)


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestMessage:
    """Sign-on request ``/ ? [address] ! CR LF`` (§6.3.1).

    ``start`` is ``"?"`` per the standard; some heat meters want ``"#"`` (opt-in quirk).
    """

    address: str = ""
    start: str = "?"

    def __post_init__(self) -> None:
        for ch in self.address:
            if not (ch.isascii() and (ch.isalnum() or ch == " ")):
                raise LocalProtocolError(f"device address {self.address!r}: only 0-9, A-Z, a-z and space are allowed")
        if self.start not in ("?", "#"):
            raise LocalProtocolError(f"request start character must be '?' or '#', not {self.start!r}")

    def to_bytes(self, *, strict: bool = True) -> bytes:
        if strict:
            _check_len("device address", self.address, MAX_DEVICE_ADDRESS_LEN)
        return b"/" + self.start.encode("ascii") + self.address.encode("ascii") + b"!" + CRLF


@dataclass(frozen=True, kw_only=True, slots=True)
class IdentificationMessage:
    """Identification ``/ XXX Z [\\W]... ident CR LF`` (§6.3.2).

    ``enhanced`` holds the W characters of the ``\\W`` pairs in order (``"2"`` means mode E).
    """

    manufacturer: str
    baud_char: str
    ident: str
    enhanced: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.manufacturer) != 3 or not all(c.isascii() and c.isprintable() for c in self.manufacturer):
            raise LocalProtocolError(f"manufacturer id must be 3 printable characters, got {self.manufacturer!r}")
        if len(self.baud_char) != 1 or self.baud_char in "/!" or not self.baud_char.isprintable():
            raise LocalProtocolError(f"invalid baud rate character {self.baud_char!r}")
        _check_chars("identification", self.ident, _FORBIDDEN_IDENT)
        for w in self.enhanced:
            if len(w) != 1 or w in "/\\!" or not w.isprintable():
                raise LocalProtocolError(f"invalid enhanced identification character {w!r}")

    @property
    def fast_reaction(self) -> bool:
        """A lower-case third manufacturer letter announces t_r = 20 ms (§6.3.14 item 12)."""
        return self.manufacturer[2].islower()

    @property
    def mode_e(self) -> bool:
        """``\\2`` announces binary mode (HDLC), i.e. protocol mode E."""
        return "2" in self.enhanced

    def to_bytes(self, *, strict: bool = True) -> bytes:
        body = "".join("\\" + w for w in self.enhanced) + self.ident
        if strict:
            _check_len("identification", body, MAX_IDENT_LEN)
            if "\\" in self.ident:
                raise LocalProtocolError(f"identification {self.ident!r}: '\\' is only allowed in \\W pairs")
        return b"/" + (self.manufacturer + self.baud_char + body).encode("ascii") + CRLF


@dataclass(frozen=True, kw_only=True, slots=True)
class AckOptionSelect:
    """Acknowledgement / option select ``ACK V Z Y CR LF`` (§6.3.3), modes C and E only.

    ``protocol`` V: ``0`` normal, ``1`` secondary, ``2`` HDLC.  ``mode`` Y: ``0`` data readout,
    ``1`` programming, ``2`` binary (HDLC), ``6``-``9`` manufacturer-specific.
    """

    protocol: str = "0"
    baud_char: str = "0"
    mode: str = "0"

    def __post_init__(self) -> None:
        for name, ch in (("protocol", self.protocol), ("baud", self.baud_char), ("mode", self.mode)):
            if len(ch) != 1 or not ch.isascii() or not ch.isprintable():
                raise LocalProtocolError(f"option select {name} character must be one printable character")

    def to_bytes(self) -> bytes:
        return ACK + (self.protocol + self.baud_char + self.mode).encode("ascii") + CRLF


@dataclass(frozen=True, kw_only=True, slots=True)
class DataMessage:
    """Readout data message ``STX block ! CR LF ETX BCC`` (§6.3.4).

    ``bcc_ok`` is ``None`` on messages built here and on received ones without BCC, otherwise it
    tells whether the received BCC matched (the decoder reports a mismatch as an error, and in
    lenient mode still hands over the message with ``bcc_ok=False``).
    """

    datasets: tuple[DataSet, ...] = ()
    bcc_ok: bool | None = field(default=None, compare=False)

    def to_bytes(self, *, strict: bool = True) -> bytes:
        body = encode_datasets(self.datasets, strict=strict) + b"!" + CRLF + ETX
        return STX + body + bytes([bcc(body)])


@dataclass(frozen=True, kw_only=True, slots=True)
class ModeDMessage:
    """Mode D push: identification, blank line, data lines, ``! CR LF``; no STX, ETX or BCC.

    ``check`` is what follows the ``!`` (DSMR P1: a CRC16 as four hex digits); ``crc_ok`` tells whether a received
    DSMR CRC matched (``None`` when there was none).
    """

    identification: IdentificationMessage
    datasets: tuple[DataSet, ...] = ()
    check: str = ""
    crc_ok: bool | None = field(default=None, compare=False)
    #: The received bytes from ``/`` up to the end of the ``!`` line (empty on messages built here).
    raw: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_chars("telegram check", self.check, _FORBIDDEN_VALUE)

    def to_bytes(self, *, strict: bool = True) -> bytes:
        return (
            self.identification.to_bytes(strict=strict)
            + CRLF
            + encode_datasets(self.datasets, strict=strict)
            + b"!"
            + self.check.encode("ascii")
            + CRLF
        )


_COMMAND_TYPES: Final = {
    "P": frozenset("012"),
    "W": frozenset("12345"),
    "R": frozenset("123456"),
    "E": frozenset("2"),
    "B": frozenset("01"),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandMessage:
    """Programming-mode command ``SOH C D STX data-set ETX|EOT BCC`` (§6.3.7-6.3.12).

    ``command`` C is one of P, W, R, E, B; ``command_type`` D a digit.  Break (``B0``/``B1``) has no
    data set.  ``partial`` marks a partial block (ends with EOT).  The meter's operand message
    ``P0`` uses this class too.  Reserved command types are representable (a meter must be able to
    answer them with an error), but :meth:`is_defined` tells whether the standard defines them.
    """

    command: str
    command_type: str
    data_set: DataSet | None = None
    partial: bool = False
    bcc_ok: bool | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if len(self.command) != 1 or not ("A" <= self.command <= "Z"):
            raise LocalProtocolError(f"command identifier must be one upper-case letter, got {self.command!r}")
        if len(self.command_type) != 1 or not self.command_type.isdigit():
            raise LocalProtocolError(f"command type must be one digit, got {self.command_type!r}")
        if self.command == "B" and self.data_set is not None:
            raise LocalProtocolError("a break command carries no data set")

    @property
    def code(self) -> str:
        """``"R1"``, ``"P2"``..."""
        return self.command + self.command_type

    def is_defined(self) -> bool:
        return self.command_type in _COMMAND_TYPES.get(self.command, frozenset())

    def to_bytes(self, *, strict: bool = True, max_value_len: int = MAX_VALUE_LEN_PROGRAMMING) -> bytes:
        if self.data_set is None:
            body = self.code.encode("ascii") + ETX
        else:
            text = self.data_set.to_text(strict=strict, max_value_len=max_value_len)
            body = self.code.encode("ascii") + STX + text.encode("ascii") + (EOT if self.partial else ETX)
        return SOH + body + bytes([bcc(body)])


@dataclass(frozen=True, kw_only=True, slots=True)
class DataAnswer:
    """The meter's answer to a read: ``STX data-sets ETX|EOT BCC`` (§6.3.8)."""

    datasets: tuple[DataSet, ...] = ()
    partial: bool = False
    bcc_ok: bool | None = field(default=None, compare=False)

    def to_bytes(self, *, strict: bool = True, max_value_len: int = MAX_VALUE_LEN_PROGRAMMING) -> bytes:
        texts = [ds.to_text(strict=strict, max_value_len=max_value_len) for ds in self.datasets]
        # one data set as is (``STX 1.8.0(…) ETX``); several: one per line, so rows without an address (profile
        # lines) stay separate data sets
        text = texts[0] if len(texts) == 1 else "".join(t + "\r\n" for t in texts)
        body = text.encode("ascii") + (EOT if self.partial else ETX)
        return STX + body + bytes([bcc(body)])


@dataclass(frozen=True, kw_only=True, slots=True)
class ErrorAnswer:
    """The meter's error message ``STX (text) ETX BCC`` (§6.3.10); text starts with ``ER`` by convention.

    On the wire an error message looks like a data answer with one address-less value; the decoder tells them apart
    by the text's prefix (``Decoder(error_prefixes=("ER", "#"))``: the standard suggests ``ER``, LIS-200 devices
    send ``#nnnn``), so an error text must start with one of those prefixes to be read back as an error.
    """

    text: str
    bcc_ok: bool | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_chars("error text", self.text, _FORBIDDEN_VALUE)

    def to_bytes(self, *, strict: bool = True) -> bytes:
        if strict:
            _check_len("error text", self.text, MAX_ERROR_LEN)
        body = b"(" + self.text.encode("ascii") + b")" + ETX
        return STX + body + bytes([bcc(body)])


@dataclass(frozen=True, kw_only=True, slots=True)
class Ack:
    """Single ACK byte (positive acknowledgement)."""

    def to_bytes(self) -> bytes:
        return ACK


@dataclass(frozen=True, kw_only=True, slots=True)
class Nak:
    """Single NAK byte (repeat request / protocol error)."""

    def to_bytes(self) -> bytes:
        return NAK


Message = (
    RequestMessage
    | IdentificationMessage
    | AckOptionSelect
    | DataMessage
    | ModeDMessage
    | CommandMessage
    | DataAnswer
    | ErrorAnswer
    | Ack
    | Nak
)
