"""The register catalogue: every register of the virtual meter as one declarative specification.

A :class:`RegisterSpec` says what a register is (address, description, unit, resolution), who may read and write it
(levels, a write rule that validates the text and applies it through the meter's methods), whether billing history
``*NN`` exists for it, and how its **typed** value is obtained (:class:`Quantity` with a Decimal and a unit, a
:class:`DemandValue`, a datetime, an int, an enum, a string).  How a typed value is written on the optical port
(``0157.00*kW``) is the business of the IEC 62056-21 face (:mod:`.registers`); ``docs/registers.md`` is generated
from this catalogue (:mod:`.regdoc`).

Adding a register is one entry in :func:`_build` plus its test.  The catalogue is built once, on first use
(:func:`catalogue`), and is immutable.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Protocol

from .core import BillingRecord, Meter, Refusal
from .demand import DemandConfig
from .legal import LEGAL_VERSION, legal_checksum
from .metrology import Measurement, PhaseInput, VaMethod

__all__ = [
    "Area",
    "Catalogue",
    "DemandValue",
    "Format",
    "FunctionSpec",
    "Functions",
    "Quantity",
    "Reading",
    "RegisterSpec",
    "Settings",
    "WriteRule",
    "catalogue",
]


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number with its unit, at the register's resolution (``Quantity(Decimal("12.345"), "kWh")``)."""

    value: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class DemandValue:
    """A demand in kW (kVA for apparent demand) and, for a maximum, when it was reached (None: no maximum yet)."""

    value_kw: Decimal
    at: datetime | None


#: the typed value of a register (None: no value yet, e.g. an instantaneous value before the first measurement)
Reading = Quantity | DemandValue | datetime | int | str | DemandConfig | VaMethod | Refusal | None


class Format(enum.Enum):
    """How the IEC 62056-21 face writes a register's typed value (see :mod:`.registers`)."""

    TEXT = "text"  # the string as it is
    SETTING = "setting"  # str(value) with '/' (forbidden in values) as a space: ``sliding 15 1``
    COUNT = "count"  # at least two digits: ``03``
    HEX = "hex"  # eight hex digits: ``00000008``
    TIME = "time"  # local ``hhmmss``
    DATE = "date"  # local ``YYMMDD``
    STAMP = "stamp"  # local ``YYMMDDhhmm``, empty for None
    REFUSAL = "refusal"  # (code)(stamp)(request)(reason in values of 128 characters)
    ENERGY = "energy"  # ``000123.456`` (6 integers, 3 decimals)
    DEMAND = "demand"  # ``0157.00`` in the display scale, then the time of the maximum
    AVERAGE = "average"  # ``0157.00`` in the display scale
    INSTANT = "instant"  # the value at its resolution (``-1.234``), ``0`` before the first measurement


class Settings(Protocol):
    """What a write rule needs: the meter, and setting the clock (which also moves a simulated clock)."""

    @property
    def meter(self) -> Meter: ...

    def set_clock(self, when: datetime) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteRule:
    """Who may write a register and how: ``apply`` validates the text (ValueError or ConfigError when it is not a
    valid value) and applies it through the meter's methods."""

    level: int
    apply: Callable[[Settings, str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterSpec:
    address: str
    description: str
    format: Format
    value: Callable[[Meter], Reading]
    unit: str = ""  # the unit on the port; for demand the kW/kVA case of the display scale
    places: int | None = None  # resolution in decimals of a number
    read_level: int = 2
    write: WriteRule | None = None
    history: Callable[[BillingRecord], Reading] | None = None  # the value of a closed billing period (``*NN``)

    @property
    def write_level(self) -> int | None:
        return None if self.write is None else self.write.level


@dataclass(frozen=True, slots=True, kw_only=True)
class Area:
    """Addresses that are not registers (load profile and logs, tariff calendar, keys): their levels and the rows
    that document them (command, content)."""

    prefix: str
    read_level: int | None
    write_level: int | None
    rows: tuple[tuple[str, str, bool], ...] = ()  # (command, content, whether the row's address can be written)


class Functions(Settings, Protocol):
    """What the functions need of a meter besides its registers."""

    def save(self) -> None: ...

    def self_test(self) -> str: ...

    def clear_profile(self) -> None: ...

    def connect_relay(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionSpec:
    """An ``E2`` function: the level it needs, whether, like a write, it also needs the terminal cover open, and what
    it does (``run`` returns the text of ``C.90.1`` to answer with, or None for an acknowledgement; a DeviceError
    when the meter refuses it now)."""

    name: str
    description: str
    level: int
    run: Callable[[Functions], str | None]
    cover: bool = True


@dataclass(frozen=True, slots=True)
class Catalogue:
    registers: tuple[RegisterSpec, ...]
    areas: tuple[Area, ...]
    functions: tuple[FunctionSpec, ...]
    by_address: Mapping[str, RegisterSpec]

    def spec(self, address: str) -> RegisterSpec | None:
        """The register at ``address`` (a ``*NN`` history suffix is ignored)."""
        return self.by_address.get(address.partition("*")[0])

    def area(self, address: str) -> Area | None:
        return next((a for a in self.areas if address.startswith(a.prefix)), None)

    def function(self, name: str) -> FunctionSpec | None:
        return next((f for f in self.functions if f.name == name), None)

    def read_level(self, address: str) -> int | None:
        """The level needed to read ``address`` (history ``*NN`` needs at least 2); None: no such register."""
        spec = self.spec(address)
        return None if spec is None else max(spec.read_level, 2 if "*" in address else 1)

    def reading(self, meter: Meter, address: str) -> Reading:
        """The typed value of ``address`` (``*NN``: of the NN-th last billing period).  KeyError when there is no
        such register or history period."""
        base, star, suffix = address.partition("*")
        spec = self.by_address[base]
        if not star:
            return spec.value(meter)
        if spec.history is None or not suffix.isdigit() or not 1 <= int(suffix) <= len(meter.history):
            raise KeyError(address)
        return spec.history(meter.history[-int(suffix)])


# --- how typed values are obtained ---------------------------------------------------------------------------------

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
_DEMAND_NAMES = {"1": "A+", "2": "A-", "9": "S+"}


def _mwh(regs: Mapping[str, int], name: str) -> int:
    if name == "R+":
        return regs.get("Q1", 0) + regs.get("Q2", 0)
    if name == "R-":
        return regs.get("Q3", 0) + regs.get("Q4", 0)
    return regs.get(name, 0)


def _energy(milli: int, unit: str) -> Quantity:
    return Quantity(Decimal(milli).scaleb(-6), unit)


def _units(q: str) -> tuple[str, str]:
    if q in ("3", "4", "5", "6", "7", "8"):
        return "kvarh", "kvar"
    if q in ("9", "10"):
        return "kVAh", "kVA"
    return "kWh", "kW"


def _total(name: str, unit: str) -> Callable[[Meter], Reading]:
    return lambda m: _energy(_mwh(m.registers.total, name), unit)


def _tariff(name: str, unit: str, t: int) -> Callable[[Meter], Reading]:
    return lambda m: _energy(_mwh(m.registers.tariffs.get(t, {}), name), unit)


def _total_history(name: str, unit: str) -> Callable[[BillingRecord], Reading]:
    return lambda r: _energy(_mwh(r.energy, name), unit)


def _tariff_history(name: str, unit: str, t: int) -> Callable[[BillingRecord], Reading]:
    return lambda r: _energy(_mwh(r.tariff_energy.get(str(t), {}), name), unit)


def _maximum(q: str, tariff: int | None) -> Callable[[Meter], Reading]:
    def get(m: Meter) -> Reading:
        md = m.maximum(q, tariff)
        return DemandValue(Decimal(0), None) if md is None else DemandValue(md.value_kw, md.at)

    return get


def _maximum_history(key: str) -> Callable[[BillingRecord], Reading]:
    def get(r: BillingRecord) -> Reading:
        md = r.maxima.get(key)
        return (
            DemandValue(Decimal(0), None) if md is None else DemandValue(Decimal(md[0]), datetime.fromisoformat(md[1]))
        )

    return get


def _average(q: str, unit: str, *, last: bool) -> Callable[[Meter], Reading]:
    def get(m: Meter) -> Reading:
        current, previous = m.demand_now(q)
        return Quantity((previous or Decimal(0)) if last else current, unit)

    return get


def _cumulative(q: str, unit: str) -> Callable[[Meter], Reading]:
    return lambda m: Quantity(m.cumulative_demand(q), unit)


_Instant = Callable[[Measurement, tuple[PhaseInput, ...], VaMethod], float | None]


def _instant(get: _Instant, unit: str, places: int) -> Callable[[Meter], Reading]:
    """The value of the last measurement at ``places`` decimals (rounded as the port always showed it)."""

    def value(m: Meter) -> Reading:
        measurement = m.last_measurement
        x = None if measurement is None else get(measurement, m.phase_inputs, m.registers.method)
        return None if x is None else Quantity(Decimal(f"{x:.{places}f}"), unit)

    return value


def _phase(index: int, attr: str, scale: float) -> _Instant:
    def get(m: Measurement, _p: tuple[PhaseInput, ...], _v: VaMethod) -> float | None:
        return None if index >= len(m.phases) else float(getattr(m.phases[index], attr)) * scale

    return get


def _input(index: int, attr: str) -> _Instant:
    def get(_m: Measurement, phases: tuple[PhaseInput, ...], _v: VaMethod) -> float | None:
        return None if index >= len(phases) else float(getattr(phases[index], attr))

    return get


# --- write rules ---------------------------------------------------------------------------------------------------


def _write_time(target: Settings, value: str) -> None:
    meter = target.meter
    t = datetime.strptime(value, "%H%M%S")
    local = meter.now.astimezone(meter.zone)
    target.set_clock(local.replace(hour=t.hour, minute=t.minute, second=t.second, microsecond=0))


def _write_date(target: Settings, value: str) -> None:
    meter = target.meter
    d = datetime.strptime(value, "%y%m%d")
    target.set_clock(meter.now.astimezone(meter.zone).replace(year=d.year, month=d.month, day=d.day))


def _write_demand(target: Settings, value: str) -> None:
    target.meter.set_demand_config(DemandConfig.parse(value))


def _write_reset_day(target: Settings, value: str) -> None:
    target.meter.set_reset_day(int(value))


def _write_device_address(target: Settings, value: str) -> None:
    target.meter.set_device_address(value)


def _write_baud_char(target: Settings, value: str) -> None:
    target.meter.set_baud_char(value)


# --- the table -----------------------------------------------------------------------------------------------------


def _build() -> Catalogue:
    level3 = 3
    regs: list[RegisterSpec] = [
        RegisterSpec(
            address="0.0.0",
            description="meter serial number",
            format=Format.TEXT,
            read_level=1,
            value=lambda m: m.config.identity.serial,
        ),
        RegisterSpec(
            address="0.2.0",
            description="version of the legally relevant software (WELMEC 7.2)",
            format=Format.TEXT,
            read_level=1,
            value=lambda m: LEGAL_VERSION,
        ),
        RegisterSpec(
            address="0.2.8",
            description="checksum of the legally relevant software and parameters (changes with any of them, and is "
            "logged)",
            format=Format.TEXT,
            read_level=1,
            value=legal_checksum,
        ),
        RegisterSpec(
            address="C.2.8",
            description="checksum of the calibration set (factory adjustment; the values are not readable here)",
            format=Format.TEXT,
            read_level=1,
            value=lambda m: m.calibration_checksum,
        ),
        RegisterSpec(
            address="0.9.1",
            description="time hhmmss (local)",
            format=Format.TIME,
            read_level=1,
            write=WriteRule(level=level3, apply=_write_time),
            value=lambda m: m.now,
        ),
        RegisterSpec(
            address="0.9.2",
            description="date YYMMDD (local)",
            format=Format.DATE,
            read_level=1,
            write=WriteRule(level=level3, apply=_write_date),
            value=lambda m: m.now,
        ),
        RegisterSpec(
            address="F.F",
            description="error register (hex): bit 0 NV memory, 1 clock, 2 registers, 3 input beyond the measuring "
            "range",
            format=Format.HEX,
            read_level=1,
            value=lambda m: m.error_register,
        ),
        RegisterSpec(
            address="0.1.0",
            description="billing reset counter",
            format=Format.COUNT,
            value=lambda m: m.reset_count,
        ),
        RegisterSpec(
            address="0.1.2",
            description="time of the last billing reset YYMMDDhhmm",
            format=Format.STAMP,
            value=lambda m: m.last_reset,
        ),
        RegisterSpec(
            address="C.60.1",
            description="demand configuration ('sliding 15 1' = sliding 15/1, 'fixed 15'; '/' is not allowed in "
            "values)",
            format=Format.SETTING,
            write=WriteRule(level=level3, apply=_write_demand),
            value=lambda m: m.demand_config,
        ),
        RegisterSpec(
            address="C.60.2",
            description="billing reset day (1-28)",
            format=Format.SETTING,
            write=WriteRule(level=level3, apply=_write_reset_day),
            value=lambda m: m.reset_day,
        ),
        RegisterSpec(
            address="C.60.3",
            description="VA billing method (arithmetic, vectorial, effective)",
            format=Format.SETTING,
            value=lambda m: m.registers.method,
        ),
        RegisterSpec(
            address="C.61.0",
            description="number of maximum-demand resets (billing resets and DEMAND.RESET)",
            format=Format.COUNT,
            value=lambda m: m.md_reset_count,
        ),
        RegisterSpec(
            address="C.62.1",
            description="device address for the request /?address! (empty: answers every request)",
            format=Format.TEXT,
            write=WriteRule(level=level3, apply=_write_device_address),
            value=lambda m: m.device_address,
        ),
        RegisterSpec(
            address="C.62.2",
            description="highest baud rate offered: mode C character 0-6 (5 = 9600 Bd)",
            format=Format.TEXT,
            write=WriteRule(level=level3, apply=_write_baud_char),
            value=lambda m: m.baud_char,
        ),
        RegisterSpec(
            address="C.90.1",
            description="result of the last self-test: OK, or ERR and the failed checks",
            format=Format.TEXT,
            read_level=1,
            value=lambda m: m.self_test_result,
        ),
        RegisterSpec(
            address="C.91.0",
            description="last refusal: (error code)(YYMMDDhhmm)(request)(reason, continued in further values of 128 "
            "characters)",
            format=Format.REFUSAL,
            value=lambda m: m.last_refusal,
        ),
    ]
    for q, name in _ENERGY_NAMES.items():
        eu, _du = _units(q)
        regs.append(
            RegisterSpec(
                address=f"{q}.8.0",
                description=f"energy {name} total",
                format=Format.ENERGY,
                unit=eu,
                places=3,
                read_level=1 if q in ("1", "2") else 2,
                value=_total(name, eu),
                history=_total_history(name, eu),
            )
        )
        regs.extend(
            RegisterSpec(
                address=f"{q}.8.{t}",
                description=f"energy {name} tariff {t}",
                format=Format.ENERGY,
                unit=eu,
                places=3,
                value=_tariff(name, eu, t),
                history=_tariff_history(name, eu, t),
            )
            for t in range(1, 9)
        )
    for address, key, what in (
        ("9.8.128", "SV", "vectorial"),
        ("9.8.129", "SA", "arithmetic"),
        ("9.8.130", "SE", "effective (IEEE 1459)"),
    ):
        regs.append(
            RegisterSpec(
                address=address,
                description=f"apparent energy import + export, {what}",
                format=Format.ENERGY,
                unit="kVAh",
                places=3,
                value=_total(key, "kVAh"),
                history=_total_history(key, "kVAh"),
            )
        )
    for i, c in enumerate((20, 40, 60), start=1):
        for d, name in ((1, "A+"), (2, "A-")):
            regs.append(
                RegisterSpec(
                    address=f"{c + d}.8.0",
                    description=f"energy {name} L{i} (live measurement only)",
                    format=Format.ENERGY,
                    unit="kWh",
                    places=3,
                    value=(lambda p, n: lambda m: _energy(m.registers.phases.get(p, {}).get(n, 0), "kWh"))(i, name),
                )
            )
    for q, name in _DEMAND_NAMES.items():
        _eu, du = _units(q)
        regs.append(
            RegisterSpec(
                address=f"{q}.6.0",
                description=f"maximum demand {name} with its time",
                format=Format.DEMAND,
                unit=du,
                value=_maximum(name, None),
                history=_maximum_history(name),
            )
        )
        regs.extend(
            RegisterSpec(
                address=f"{q}.6.{t}",
                description=f"maximum demand {name} tariff {t}",
                format=Format.DEMAND,
                unit=du,
                value=_maximum(name, t),
                history=_maximum_history(f"{name}/T{t}"),
            )
            for t in range(1, 9)
        )
        regs.append(
            RegisterSpec(
                address=f"{q}.4.0",
                description=f"current average demand {name} (running window / full period)",
                format=Format.AVERAGE,
                unit=du,
                value=_average(name, du, last=False),
            )
        )
        regs.append(
            RegisterSpec(
                address=f"{q}.5.0",
                description=f"last completed average demand {name}",
                format=Format.AVERAGE,
                unit=du,
                value=_average(name, du, last=True),
            )
        )
        regs.append(
            RegisterSpec(
                address=f"{q}.2.0",
                description=f"cumulative maximum demand {name}: the sum of the maxima of every MD reset",
                format=Format.AVERAGE,
                unit=du,
                value=_cumulative(name, du),
            )
        )

    def instant(address: str, description: str, unit: str, places: int, get: _Instant) -> RegisterSpec:
        return RegisterSpec(
            address=address,
            description=description,
            format=Format.INSTANT,
            unit=unit,
            places=places,
            value=_instant(get, unit, places),
        )

    regs += [
        instant("32.7.0", "voltage L1", "V", 1, _input(0, "voltage_v")),
        instant("52.7.0", "voltage L2", "V", 1, _input(1, "voltage_v")),
        instant("72.7.0", "voltage L3", "V", 1, _input(2, "voltage_v")),
        instant("31.7.0", "current L1", "A", 2, _input(0, "current_a")),
        instant("51.7.0", "current L2", "A", 2, _input(1, "current_a")),
        instant("71.7.0", "current L3", "A", 2, _input(2, "current_a")),
        instant("14.7.0", "frequency", "Hz", 2, lambda m, _p, _v: m.frequency_hz),
        instant("1.7.0", "active power import (negative: export)", "kW", 3, lambda m, _p, _v: m.p_w / 1000),
        instant("3.7.0", "reactive power", "kvar", 3, lambda m, _p, _v: m.q_var / 1000),
        instant("9.7.0", "apparent power by the billing method", "kVA", 3, lambda m, _p, v: m.apparent(v) / 1000),
        instant("9.7.128", "apparent power, vectorial", "kVA", 3, lambda m, _p, _v: m.s_vectorial_va / 1000),
        instant("9.7.129", "apparent power, arithmetic", "kVA", 3, lambda m, _p, _v: m.s_arithmetic_va / 1000),
        instant(
            "9.7.130", "apparent power, effective (IEEE 1459)", "kVA", 3, lambda m, _p, _v: m.s_effective_va / 1000
        ),
        instant("13.7.0", "power factor by the billing method", "", 3, lambda m, _p, v: m.power_factor(v)),
    ]
    for i, c in enumerate((20, 40, 60), start=1):
        regs += [
            instant(f"{c + 1}.7.0", f"active power L{i} (negative: export)", "kW", 3, _phase(i - 1, "p_w", 0.001)),
            instant(f"{c + 3}.7.0", f"reactive power L{i} (negative: Q3/Q4)", "kvar", 3, _phase(i - 1, "q_var", 0.001)),
            instant(f"{c + 9}.7.0", f"apparent power L{i}", "kVA", 3, _phase(i - 1, "s_va", 0.001)),
            instant(f"{c + 13}.7.0", f"power factor L{i} (negative: export)", "", 3, _phase(i - 1, "pf", 1.0)),
        ]
    return Catalogue(
        registers=tuple(regs),
        areas=_areas(),
        functions=_functions(),
        by_address={r.address: r for r in regs},
    )


def _areas() -> tuple[Area, ...]:
    profile = (
        "load profile: header `P.01(rows)(capture min)(4)(1.8.0)(kWh)(2.8.0)(kWh)(3.8.0)(kvarh)(4.8.0)(kvarh)`, then "
        "one line per capture period in capture order `(end)(status)(A+)(A-)(R+)(R-)`; status (hex) bit 0 (`01`) = "
        "incomplete interval (power failure or clock set inside it, or skipped by a clock set forwards), bit 1 "
        "(`02`) = the clock was set during the interval. After a clock set backwards the same end time comes again: "
        "the stored interval is kept unchanged and the new one follows it with bit 1 set (a completed interval is "
        "never overwritten)"
    )
    partial = (
        "the same answer as R5 in partial blocks of 16 lines (the first block also holds the header): each block ends "
        "with EOT, the hand-held asks for the next with ACK (NAK repeats it), the last ends with ETX. Also for `P.98` "
        "and `P.99`; an encrypted answer is encrypted whole and then split"
    )
    events = (
        "event log, the newest 500 events (older ones are dropped and counted): `P.98(count)(dropped)`, then "
        "`(time)(code)(text)`; a text longer than 128 characters continues in further "
        "values `(text)(text…)`; codes 01 power down, 02 power up, 03 clock set, 04 billing reset, 05 parameter "
        "change, 06 error (refused writes and functions with the full reason, input beyond the measuring range), 07 "
        "register reset, 08 load profile reset, 09 demand configuration change, 10 self-test, 11 NV memory (a write "
        "refused by a full disk, and committed late)"
    )
    return (
        Area(
            prefix="P.01",
            read_level=2,
            write_level=None,
            rows=(("R5 P.01(YYMMDDhhmm;YYMMDDhhmm)", profile, False), ("R3 or R6 P.01(from;to)", partial, False)),
        ),
        Area(prefix="P.98", read_level=2, write_level=None, rows=(("R5 P.98(from;to)", events, False),)),
        Area(prefix="P.99", read_level=2, write_level=None),
        Area(
            prefix="TOU.",
            read_level=2,
            write_level=3,
            rows=(
                (
                    "R1 TOU.D.<name>`, `W1 TOU.D.<name>(00:00=2;07:00=1;22:00=2)",
                    "a day profile: switch times and tariffs",
                    True,
                ),
                ("R1 TOU.W.<name>`, `W1 TOU.W.<name>(mon=workday;…;sun=offpeak)", "a week profile", True),
                (
                    "R1 TOU.SEASONS`, `W1 TOU.SEASONS(01-01=standard;04-01=summer)",
                    "seasons: start MM-DD and week profile",
                    True,
                ),
                (
                    "R1 TOU.SPECIAL`, `W1 TOU.SPECIAL(12-25=offpeak;2026-12-31=offpeak)",
                    "special days (yearly MM-DD or once YYYY-MM-DD)",
                    True,
                ),
                (
                    "R1 TOU.NAMES",
                    "names of the day and week profiles (addresses are at most 16 characters, so names at most 10)",
                    False,
                ),
            ),
        ),
        Area(prefix="KEY.L", read_level=None, write_level=3),
    )


def _billing_reset(target: Functions) -> None:
    target.meter.billing_reset("command")


def _demand_reset(target: Functions) -> None:
    target.meter.reset_demand()
    target.save()


def _profile_reset(target: Functions) -> None:
    target.clear_profile()
    target.meter.log(8, "load profile reset")


def _connect_relay(target: Functions) -> None:
    target.connect_relay()


def _self_test(target: Functions) -> str:
    return target.self_test()


def _functions() -> tuple[FunctionSpec, ...]:
    return (
        FunctionSpec(
            name="BILLING.RESET",
            description="billing reset by command (refused with `ER05` inside the lockout time)",
            level=3,
            run=_billing_reset,
        ),
        FunctionSpec(name="PROFILE.RESET", description="clear the load profile", level=3, run=_profile_reset),
        FunctionSpec(
            name="DEMAND.RESET",
            description="clear the running maximum-demand registers without a billing reset (energy registers are "
            "never reset)",
            level=3,
            run=_demand_reset,
        ),
        FunctionSpec(
            name="SELFTEST",
            description="run the self-test; answers `C.90.1(OK)` or `C.90.1(ERR nn)` and sets `F.F` (bit 0 NV "
            "memory, bit 1 clock, bit 2 registers; bit 3, input beyond the measuring range, is set and cleared by the "
            "measurement itself)",
            level=2,
            run=_self_test,
            cover=False,
        ),
        FunctionSpec(
            name="RELAY.CONNECT",
            description="reconnect the relay after a tamper trip (level 3 and the cover open, like every function: "
            "a reconnection is made on site)",
            level=3,
            run=_connect_relay,
        ),
    )


@cache
def catalogue() -> Catalogue:
    """The register catalogue (built on first use, immutable)."""
    return _build()
