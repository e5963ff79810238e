"""The IEC 62056-21 face of the register catalogue: typed register values written as data sets.

What the registers are is data (:mod:`.catalogue`); this module only says how each :class:`~.catalogue.Format` looks
on the optical port.  History values of the last billing periods are read with the ``*NN`` suffix (``1.8.0*01`` is
the newest).  Demand registers (``x.2.0``, ``x.4.0``, ``x.5.0``, ``x.6.y`` and their history) are shown in the
configured display scale (W/kW/MW, VA/kVA/MVA) with 4 integers and 2 decimals.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from ..errors import ConfigError
from ..iec62056_21.messages import MAX_VALUE_LEN_PROGRAMMING, DataSet, Value
from .catalogue import DemandValue, Format, Quantity, Reading, RegisterSpec, catalogue
from .core import Meter, Refusal
from .demand import DemandConfig, display_unit, format_md

__all__ = ["energy_text", "format_reading", "port_safe", "port_text", "read_register", "split_value"]

_PORT_MAP = str.maketrans({"/": " ", "(": "", ")": "", "*": "x", "!": ".", "·": ";", "\t": " ", "\n": " "})


def port_safe(text: str) -> str:
    """``text`` as a data-set value: printable ASCII without ``( ) * / !`` (``sliding 30/3`` -> ``sliding 30 3``)."""
    mapped = text.translate(_PORT_MAP)
    return "".join(c if " " <= c <= "~" else "?" for c in mapped)


def split_value(text: str, size: int = MAX_VALUE_LEN_PROGRAMMING) -> tuple[str, ...]:
    """A long text as consecutive value groups of at most ``size`` characters (at least one, possibly empty)."""
    return tuple(text[i : i + size] for i in range(0, len(text), size)) or ("",)


def port_text(config: DemandConfig) -> str:
    """The demand setting as a data-set value (``/`` is forbidden there): ``sliding 15 1``, ``fixed 15``."""
    return str(config).replace("/", " ")


def _kwh_text(kwh: Decimal) -> str:
    return f"{kwh.quantize(Decimal('0.001'), ROUND_HALF_UP):010.3f}"


def energy_text(milli: int) -> str:
    """mWh -> ``000123.456`` kWh (6 integer digits, 3 decimals, rounded half-up)."""
    return _kwh_text(Decimal(milli) / 1_000_000)


def _md_text(value_kw: Decimal, scale: str) -> str:
    """The 6-digit demand text; the measuring range keeps values inside the display range (checked when the
    configuration is loaded), so the clamp below is a last defence that keeps the register readable."""
    try:
        return format_md(value_kw, scale)
    except ConfigError:
        return "9999.99" if value_kw > 0 else "0000.00"


def _stamp(t: datetime, zone: ZoneInfo) -> str:
    return t.astimezone(zone).strftime("%y%m%d%H%M")


def _refusal(r: Refusal | None, zone: ZoneInfo) -> tuple[Value, ...]:
    if r is None:
        return (Value(value=""),)
    head = (Value(value=r.code), Value(value=_stamp(r.at, zone)), Value(value=port_safe(r.request)[:128]))
    return head + tuple(Value(value=part) for part in split_value(port_safe(r.reason)))


def format_reading(spec: RegisterSpec, reading: Reading, *, zone: ZoneInfo, scale: str) -> tuple[Value, ...]:
    """The value groups of a register's typed value on the port (``scale``: the demand display scale)."""
    fmt = spec.format
    if fmt is Format.REFUSAL:
        return _refusal(reading if isinstance(reading, Refusal) else None, zone)
    if fmt is Format.DEMAND:
        assert isinstance(reading, DemandValue)
        at = "" if reading.at is None else _stamp(reading.at, zone)
        unit = display_unit(spec.unit, scale)
        return (Value(value=_md_text(reading.value_kw, scale), unit=unit), Value(value=at))
    if fmt is Format.AVERAGE:
        assert isinstance(reading, Quantity)
        return (Value(value=_md_text(reading.value, scale), unit=display_unit(spec.unit, scale)),)
    if fmt is Format.ENERGY:
        assert isinstance(reading, Quantity)
        return (Value(value=_kwh_text(reading.value), unit=spec.unit),)
    if fmt is Format.INSTANT:
        text = "0" if not isinstance(reading, Quantity) else f"{reading.value:.{spec.places}f}"
        return (Value(value=text, unit=spec.unit),)
    return (Value(value=_text(fmt, reading, zone)),)


def _text(fmt: Format, reading: Reading, zone: ZoneInfo) -> str:
    if fmt is Format.COUNT:
        assert isinstance(reading, int)
        return f"{reading:02d}"
    if fmt is Format.HEX:
        assert isinstance(reading, int)
        return f"{reading:08X}"
    if isinstance(reading, datetime):
        pattern = {Format.TIME: "%H%M%S", Format.DATE: "%y%m%d"}.get(fmt, "%y%m%d%H%M")
        return reading.astimezone(zone).strftime(pattern)
    if reading is None:
        return ""
    return str(reading).replace("/", " ") if fmt is Format.SETTING else str(reading)


def read_register(meter: Meter, address: str) -> DataSet | None:
    """The data set for ``address`` (with ``*NN`` history), or None if the meter has no such register."""
    cat = catalogue()
    spec = cat.spec(address)
    if spec is None:
        return None
    try:
        reading = cat.reading(meter, address)
    except KeyError:
        return None
    values = format_reading(spec, reading, zone=meter.zone, scale=meter.config.demand.display_scale)
    return DataSet(address=address, values=values)
