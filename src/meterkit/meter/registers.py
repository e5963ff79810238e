"""The register map the optical port exposes: OBIS-style addresses, formats, units, access levels.

``docs/registers.md`` lists the same table.  History values of the last billing periods are read with the ``*NN``
suffix (``1.8.0*01`` is the newest).  Demand registers (``x.4.0``, ``x.5.0``, ``x.6.y`` and their history) are shown
in the configured display scale (W/kW/MW, VA/kVA/MVA) with 4 integers and 2 decimals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from ..errors import ConfigError
from ..iec62056_21.messages import MAX_VALUE_LEN_PROGRAMMING, DataSet, Value
from .core import Meter
from .demand import DemandConfig, display_unit, format_md
from .metrology import Measurement, PhaseInput

__all__ = ["BY_ADDRESS", "REGISTERS", "Register", "port_safe", "read_register", "required_level", "split_value"]

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
#: apparent energy (import + export) by each VA method; ``9.8.0`` is S+ by the billing method
_METHOD_ENERGY = {"9.8.128": "SV", "9.8.129": "SA", "9.8.130": "SE"}
#: active energy per phase: address -> (phase 1-3, A+ or A-)
_PHASE_ENERGY = {
    f"{c + d}.8.0": (i + 1, name) for i, c in enumerate((20, 40, 60)) for d, name in ((1, "A+"), (2, "A-"))
}
_QUANT = {"1": "A+", "2": "A-", "9": "S+"}

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
    Register(
        "F.F",
        "error register (hex): bit 0 NV memory, 1 clock, 2 registers, 3 input beyond the measuring range",
        "",
        1,
        None,
    ),
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
    Register(
        "C.91.0",
        "last refusal: (error code)(YYMMDDhhmm)(request)(reason, continued in further values of 128 characters)",
        "",
        2,
        None,
    ),
]
for q in _ENERGY_NAMES:
    eu, du = _units(q)
    REGISTERS.append(Register(f"{q}.8.0", f"energy {_ENERGY_NAMES[q]} total", eu, 1 if q in ("1", "2") else 2, None))
    for t in range(1, 9):
        REGISTERS.append(Register(f"{q}.8.{t}", f"energy {_ENERGY_NAMES[q]} tariff {t}", eu, 2, None))
REGISTERS += [
    Register("9.8.128", "apparent energy import + export, vectorial", "kVAh", 2, None),
    Register("9.8.129", "apparent energy import + export, arithmetic", "kVAh", 2, None),
    Register("9.8.130", "apparent energy import + export, effective (IEEE 1459)", "kVAh", 2, None),
]
for _address, (_phase, _name) in _PHASE_ENERGY.items():
    REGISTERS.append(Register(_address, f"energy {_name} L{_phase} (live measurement only)", "kWh", 2, None))
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
    Register("14.7.0", "frequency", "Hz", 2, None),
    Register("1.7.0", "active power import (negative: export)", "kW", 2, None),
    Register("3.7.0", "reactive power", "kvar", 2, None),
    Register("9.7.0", "apparent power by the billing method", "kVA", 2, None),
    Register("9.7.128", "apparent power, vectorial", "kVA", 2, None),
    Register("9.7.129", "apparent power, arithmetic", "kVA", 2, None),
    Register("9.7.130", "apparent power, effective (IEEE 1459)", "kVA", 2, None),
    Register("13.7.0", "power factor by the billing method", "", 2, None),
]
for _i, _c in enumerate((20, 40, 60), start=1):
    REGISTERS += [
        Register(f"{_c + 1}.7.0", f"active power L{_i} (negative: export)", "kW", 2, None),
        Register(f"{_c + 3}.7.0", f"reactive power L{_i} (negative: Q3/Q4)", "kvar", 2, None),
        Register(f"{_c + 9}.7.0", f"apparent power L{_i}", "kVA", 2, None),
        Register(f"{_c + 13}.7.0", f"power factor L{_i} (negative: export)", "", 2, None),
    ]
BY_ADDRESS = {r.address: r for r in REGISTERS}

_Instant = Callable[[Measurement, tuple[PhaseInput, ...]], float | None]


def _phase_attr(index: int, attr: str, scale: float) -> _Instant:
    def get(m: Measurement, _phases: tuple[PhaseInput, ...]) -> float | None:
        return None if index >= len(m.phases) else float(getattr(m.phases[index], attr)) * scale

    return get


def _input_attr(index: int, attr: str) -> _Instant:
    def get(_m: Measurement, phases: tuple[PhaseInput, ...]) -> float | None:
        return None if index >= len(phases) else float(getattr(phases[index], attr))

    return get


_INSTANT: dict[str, tuple[_Instant, str]] = {
    "1.7.0": (lambda m, _p: m.p_w / 1000, "{:.3f}"),
    "3.7.0": (lambda m, _p: m.q_var / 1000, "{:.3f}"),
    "9.7.128": (lambda m, _p: m.s_vectorial_va / 1000, "{:.3f}"),
    "9.7.129": (lambda m, _p: m.s_arithmetic_va / 1000, "{:.3f}"),
    "9.7.130": (lambda m, _p: m.s_effective_va / 1000, "{:.3f}"),
    "14.7.0": (lambda m, _p: m.frequency_hz, "{:.2f}"),
}
for _i, _c in enumerate((20, 40, 60)):
    _INSTANT[f"{_c + 1}.7.0"] = (_phase_attr(_i, "p_w", 0.001), "{:.3f}")
    _INSTANT[f"{_c + 3}.7.0"] = (_phase_attr(_i, "q_var", 0.001), "{:.3f}")
    _INSTANT[f"{_c + 9}.7.0"] = (_phase_attr(_i, "s_va", 0.001), "{:.3f}")
    _INSTANT[f"{_c + 13}.7.0"] = (_phase_attr(_i, "pf", 1.0), "{:.3f}")
    _INSTANT[f"{_c + 12}.7.0"] = (_input_attr(_i, "voltage_v"), "{:.1f}")
    _INSTANT[f"{_c + 11}.7.0"] = (_input_attr(_i, "current_a"), "{:.2f}")


def _md_text(value_kw: Decimal, scale: str) -> str:
    """The 6-digit demand text; the measuring range keeps values inside the display range (checked when the
    configuration is loaded), so the clamp below is a last defence that keeps the register readable."""
    try:
        return format_md(value_kw, scale)
    except ConfigError:
        return "9999.99" if value_kw > 0 else "0000.00"


def _demand(meter: Meter, reg: Register, value_kw: Decimal | None, at: datetime | None) -> tuple[Value, ...]:
    scale = meter.config.demand.display_scale
    unit = display_unit(reg.unit, scale)
    text = _md_text(value_kw if value_kw is not None else Decimal(0), scale)
    return (Value(value=text, unit=unit), Value(value="" if at is None else _stamp(at, meter)))


def _refusal(meter: Meter) -> tuple[Value, ...]:
    r = meter.last_refusal
    if r is None:
        return (Value(value=""),)
    head = (Value(value=r.code), Value(value=_stamp(r.at, meter)), Value(value=port_safe(r.request)[:128]))
    return head + tuple(Value(value=part) for part in split_value(port_safe(r.reason)))


def _value(meter: Meter, base: str) -> tuple[Value, ...] | None:
    reg = BY_ADDRESS.get(base)
    if reg is None:
        return None
    now = meter.now
    simple: dict[str, Callable[[], str]] = {
        "0.0.0": lambda: meter.config.identity.serial,
        "0.9.1": lambda: now.astimezone(meter.zone).strftime("%H%M%S"),
        "0.9.2": lambda: now.astimezone(meter.zone).strftime("%y%m%d"),
        "F.F": lambda: f"{meter.error_register:08X}",
        "0.1.0": lambda: f"{meter.reset_count:02d}",
        "0.1.2": lambda: "" if meter.last_reset is None else _stamp(meter.last_reset, meter),
        "C.60.1": lambda: port_text(meter.demand_config),
        "C.60.2": lambda: str(meter.reset_day),
        "C.60.3": lambda: str(meter.registers.method),
        "C.62.1": lambda: meter.device_address,
        "C.62.2": lambda: meter.baud_char,
        "C.90.1": lambda: meter.self_test_result,
    }
    if base in simple:
        return (Value(value=simple[base]()),)
    if base == "C.91.0":
        return _refusal(meter)
    if base in _METHOD_ENERGY:
        return (Value(value=energy_text(meter.registers.total.get(_METHOD_ENERGY[base], 0)), unit=reg.unit),)
    if base in _PHASE_ENERGY:
        phase, name = _PHASE_ENERGY[base]
        return (Value(value=energy_text(meter.registers.phases.get(phase, {}).get(name, 0)), unit=reg.unit),)
    q, kind, sub = base.split(".")
    if kind == "8":
        regs = meter.registers.total if sub == "0" else meter.registers.tariffs.get(int(sub), {})
        return (Value(value=energy_text(_energy(regs, _ENERGY_NAMES[q])), unit=reg.unit),)
    if kind == "6":
        md = meter.maximum(_QUANT[q], None if sub == "0" else int(sub))
        return _demand(meter, reg, None, None) if md is None else _demand(meter, reg, md.value_kw, md.at)
    if kind in ("4", "5"):
        current, last = meter.demand_now(_QUANT[q])
        scale = meter.config.demand.display_scale
        v = current if kind == "4" else (last or Decimal(0))
        return (Value(value=_md_text(v, scale), unit=display_unit(reg.unit, scale)),)
    m = meter.last_measurement
    if m is None:
        return (Value(value="0", unit=reg.unit),)
    method = meter.registers.method
    if base == "9.7.0":
        return (Value(value=f"{m.apparent(method) / 1000:.3f}", unit=reg.unit),)
    if base == "13.7.0":
        return (Value(value=f"{m.power_factor(method):.3f}"),)
    getter, fmt = _INSTANT[base]
    x = getter(m, meter.phase_inputs)
    return (Value(value="0" if x is None else fmt.format(x), unit=reg.unit),)


def _history(meter: Meter, base: str, n: int) -> tuple[Value, ...] | None:
    if not 1 <= n <= len(meter.history):
        return None
    rec = meter.history[-n]
    reg = BY_ADDRESS[base]
    if base in _METHOD_ENERGY:
        return (Value(value=energy_text(rec.energy.get(_METHOD_ENERGY[base], 0)), unit=reg.unit),)
    q, kind, sub = base.split(".")
    if kind == "8":
        regs = rec.energy if sub == "0" else rec.tariff_energy.get(sub, {})
        return (Value(value=energy_text(_energy(regs, _ENERGY_NAMES[q])), unit=reg.unit),)
    key = _QUANT[q] if sub == "0" else f"{_QUANT[q]}/T{sub}"
    md = rec.maxima.get(key)
    if md is None:
        return _demand(meter, reg, None, None)
    return _demand(meter, reg, Decimal(md[0]), datetime.fromisoformat(md[1]))


def _has_history(base: str) -> bool:
    if base in _METHOD_ENERGY:
        return True
    parts = base.split(".")
    return base in BY_ADDRESS and parts[1] in ("6", "8") and parts[0] in _ENERGY_NAMES


def read_register(meter: Meter, address: str) -> DataSet | None:
    """The data set for ``address`` (with ``*NN`` history), or None if the meter has no such register."""
    base, star, suffix = address.partition("*")
    if star:
        if not suffix.isdigit() or not _has_history(base):
            return None
        values = _history(meter, base, int(suffix))
    else:
        values = _value(meter, base)
    return None if values is None else DataSet(address=address, values=values)


def required_level(address: str) -> int | None:
    reg = BY_ADDRESS.get(address.partition("*")[0])
    return None if reg is None else max(reg.read_level, 2 if "*" in address else 1)
