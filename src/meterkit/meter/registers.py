"""The register map the optical port exposes: OBIS-style addresses, formats, units, access levels.

``docs/registers.md`` lists the same table.  History values of the last billing periods are read with the ``*NN``
suffix (``1.8.0*01`` is the newest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from ..iec62056_21.messages import DataSet, Value
from .core import Meter
from .demand import DemandConfig, format_md

__all__ = ["REGISTERS", "Register", "read_register"]

_ENERGY_NAMES = {
    "1": "A+",
    "2": "A-",
    "3": "R+",
    "4": "R-",
    "5": "Q1",
    "6": "Q2",
    "7": "Q3",
    "8": "Q4",
    "9": "S+",
    "10": "S-",
}


def port_text(config: DemandConfig) -> str:
    """The demand setting as a data-set value (``/`` is forbidden there): ``sliding 15 1``, ``fixed 15``."""
    return str(config).replace("/", " ")


def energy_text(milli: int) -> str:
    """mWh -> ``000123.456`` kWh (6 integer digits, 3 decimals, rounded half-up)."""
    kwh = (Decimal(milli) / 1_000_000).quantize(Decimal("0.001"), ROUND_HALF_UP)
    return f"{kwh:010.3f}"


def _stamp(t: datetime, meter: Meter) -> str:
    return t.astimezone(meter.zone).strftime("%y%m%d%H%M")


def _energy(regs: dict[str, int], name: str) -> int:
    if name == "R+":
        return regs.get("Q1", 0) + regs.get("Q2", 0)
    if name == "R-":
        return regs.get("Q3", 0) + regs.get("Q4", 0)
    return regs.get(name, 0)


@dataclass(frozen=True, slots=True)
class Register:
    address: str
    description: str
    unit: str
    read_level: int
    write_level: int | None  # None: read-only


def _units(quantity: str) -> tuple[str, str]:
    if quantity in ("3", "4", "5", "6", "7", "8"):
        return "kvarh", "kvar"
    if quantity in ("9", "10"):
        return "kVAh", "kVA"
    return "kWh", "kW"


REGISTERS: list[Register] = [
    Register("0.0.0", "meter serial number", "", 1, None),
    Register("0.9.1", "time hhmmss (local)", "", 1, 3),
    Register("0.9.2", "date YYMMDD (local)", "", 1, 3),
    Register("F.F", "error register (hex)", "", 1, None),
    Register("0.1.0", "billing reset counter", "", 2, None),
    Register("0.1.2", "time of the last billing reset YYMMDDhhmm", "", 2, None),
    Register(
        "C.60.1",
        "demand configuration ('sliding 15 1' = sliding 15/1, 'fixed 15'; '/' is not allowed in values)",
        "",
        2,
        3,
    ),
    Register("C.60.2", "billing reset day (1-28)", "", 2, 3),
    Register("C.60.3", "VA billing method (arithmetic, vectorial, effective)", "", 2, None),
    Register("C.62.1", "device address for the request /?address! (empty: answers every request)", "", 2, 3),
    Register("C.62.2", "highest baud rate offered: mode C character 0-6 (5 = 9600 Bd)", "", 2, 3),
    Register("C.90.1", "result of the last self-test: OK, or ERR and the failed checks", "", 1, None),
]
for q in _ENERGY_NAMES:
    eu, du = _units(q)
    REGISTERS.append(Register(f"{q}.8.0", f"energy {_ENERGY_NAMES[q]} total", eu, 1 if q in ("1", "2") else 2, None))
    for t in range(1, 9):
        REGISTERS.append(Register(f"{q}.8.{t}", f"energy {_ENERGY_NAMES[q]} tariff {t}", eu, 2, None))
for q in ("1", "2", "9"):
    eu, du = _units(q)
    name = _ENERGY_NAMES[q]
    REGISTERS.append(Register(f"{q}.6.0", f"maximum demand {name} with its time", du, 2, None))
    for t in range(1, 9):
        REGISTERS.append(Register(f"{q}.6.{t}", f"maximum demand {name} tariff {t}", du, 2, None))
    REGISTERS.append(Register(f"{q}.4.0", f"current average demand {name} (running window / full period)", du, 2, None))
    REGISTERS.append(Register(f"{q}.5.0", f"last completed average demand {name}", du, 2, None))
REGISTERS += [
    Register("32.7.0", "voltage L1", "V", 2, None),
    Register("52.7.0", "voltage L2", "V", 2, None),
    Register("72.7.0", "voltage L3", "V", 2, None),
    Register("31.7.0", "current L1", "A", 2, None),
    Register("51.7.0", "current L2", "A", 2, None),
    Register("71.7.0", "current L3", "A", 2, None),
    Register("1.7.0", "active power import (negative: export)", "kW", 2, None),
    Register("3.7.0", "reactive power", "kvar", 2, None),
    Register("9.7.0", "apparent power by the billing method", "kVA", 2, None),
    Register("9.7.128", "apparent power, vectorial", "kVA", 2, None),
    Register("9.7.129", "apparent power, arithmetic", "kVA", 2, None),
    Register("9.7.130", "apparent power, effective (IEEE 1459)", "kVA", 2, None),
    Register("13.7.0", "power factor by the billing method", "", 2, None),
]
BY_ADDRESS = {r.address: r for r in REGISTERS}
_QUANT = {"1": "A+", "2": "A-", "9": "S+"}


def _value(meter: Meter, base: str) -> tuple[Value, ...] | None:
    parts = base.split(".")
    reg = BY_ADDRESS.get(base)
    if reg is None:
        return None
    now = meter.now
    if base == "0.0.0":
        return (Value(value=meter.config.identity.serial),)
    if base == "0.9.1":
        return (Value(value=now.astimezone(meter.zone).strftime("%H%M%S")),)
    if base == "0.9.2":
        return (Value(value=now.astimezone(meter.zone).strftime("%y%m%d")),)
    if base == "F.F":
        return (Value(value=f"{meter.error_register:08X}"),)
    if base == "0.1.0":
        return (Value(value=f"{meter.reset_count:02d}"),)
    if base == "0.1.2":
        return (Value(value="" if meter.last_reset is None else _stamp(meter.last_reset, meter)),)
    if base == "C.60.1":
        return (Value(value=port_text(meter.demand_config)),)
    if base == "C.60.2":
        return (Value(value=str(meter.reset_day)),)
    if base == "C.60.3":
        return (Value(value=str(meter.registers.method)),)
    if base == "C.62.1":
        return (Value(value=meter.device_address),)
    if base == "C.62.2":
        return (Value(value=meter.baud_char),)
    if base == "C.90.1":
        return (Value(value=meter.self_test_result),)
    q, kind, sub = parts[0], parts[1], parts[2]
    if kind == "8":
        regs = meter.registers.total if sub == "0" else meter.registers.tariffs.get(int(sub), {})
        return (Value(value=energy_text(_energy(regs, _ENERGY_NAMES[q])), unit=reg.unit),)
    if kind == "6":
        md = meter.maximum(_QUANT[q], None if sub == "0" else int(sub))
        scale = meter.config.demand.display_scale
        unit = reg.unit.replace("k", {"W": "", "kW": "k", "MW": "M"}[scale], 1)
        if md is None:
            return (Value(value=format_md(Decimal(0), scale), unit=unit), Value(value=""))
        return (Value(value=format_md(md.value_kw, scale), unit=unit), Value(value=_stamp(md.at, meter)))
    if kind in ("4", "5"):
        current, last = meter.demand_now(_QUANT[q])
        v = current if kind == "4" else (last or Decimal(0))
        return (Value(value=f"{v:07.2f}", unit=reg.unit),)
    m = meter.last_measurement
    if kind == "7":
        if m is None:
            return (Value(value="0", unit=reg.unit),)
        if base in ("32.7.0", "52.7.0", "72.7.0", "31.7.0", "51.7.0", "71.7.0"):
            idx = {"32": 0, "52": 1, "72": 2, "31": 0, "51": 1, "71": 2}[q]
            phases = meter.phase_inputs
            if idx >= len(phases):
                return (Value(value="0", unit=reg.unit),)
            val = phases[idx].voltage_v if q in ("32", "52", "72") else phases[idx].current_a
            return (Value(value=f"{val:.1f}" if reg.unit == "V" else f"{val:.2f}", unit=reg.unit),)
        method = meter.registers.method
        table: dict[str, float] = {
            "1.7.0": m.p_w / 1000,
            "3.7.0": m.q_var / 1000,
            "9.7.0": m.apparent(method) / 1000,
            "9.7.128": m.s_vectorial_va / 1000,
            "9.7.129": m.s_arithmetic_va / 1000,
            "9.7.130": m.s_effective_va / 1000,
        }
        if base == "13.7.0":
            return (Value(value=f"{m.power_factor(method):.3f}"),)
        return (Value(value=f"{table[base]:.3f}", unit=reg.unit),)
    return None  # pragma: no cover


def _history(meter: Meter, base: str, n: int) -> tuple[Value, ...] | None:
    if not 1 <= n <= len(meter.history):
        return None
    rec = meter.history[-n]
    q, kind, sub = base.split(".")
    reg = BY_ADDRESS[base]
    if kind == "8":
        regs = rec.energy if sub == "0" else rec.tariff_energy.get(sub, {})
        return (Value(value=energy_text(_energy(regs, _ENERGY_NAMES[q])), unit=reg.unit),)
    if kind == "6":
        key = _QUANT[q] if sub == "0" else f"{_QUANT[q]}/T{sub}"
        md = rec.maxima.get(key)
        scale = meter.config.demand.display_scale
        if md is None:
            return (Value(value=format_md(Decimal(0), scale), unit=reg.unit), Value(value=""))
        return (
            Value(value=format_md(Decimal(md[0]), scale), unit=reg.unit),
            Value(value=_stamp(datetime.fromisoformat(md[1]), meter)),
        )
    return None


Reader = Callable[[Meter, str], tuple[Value, ...] | None]


def read_register(meter: Meter, address: str) -> DataSet | None:
    """The data set for ``address`` (with ``*NN`` history), or None if the meter has no such register."""
    base, star, suffix = address.partition("*")
    if star:
        if not suffix.isdigit() or base not in BY_ADDRESS or base.split(".")[1] not in ("6", "8"):
            return None
        values = _history(meter, base, int(suffix))
    else:
        values = _value(meter, base)
    return None if values is None else DataSet(address=address, values=values)


def required_level(address: str) -> int | None:
    reg = BY_ADDRESS.get(address.partition("*")[0])
    return None if reg is None else max(reg.read_level, 2 if "*" in address else 1)
