"""The virtual meter's configuration (TOML, validated with pydantic); every key is documented in
``examples/demo-meter.toml``."""

from __future__ import annotations

import tomllib
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, ProtocolError
from ..iec62056_21.meter import MeterPortConfig
from ..security.port import SecurityConfig
from .adjustment import AdjustmentConfig
from .demand import DemandConfig, check_display_range
from .metrology import VaMethod
from .tou import TouCalendar

__all__ = ["MeterConfig", "load_config"]


class _Strict(BaseModel):
    """No unknown keys, no coercion (``"no"`` is not a boolean, ``2.5`` not an integer), finite numbers only."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Identity(_Strict):
    manufacturer: str = Field("MKT", min_length=3, max_length=3)
    serial: str = Field("00000001", min_length=1, max_length=16, pattern=r"^[0-9A-Za-z]+$")
    ident: str = Field("VM3PH-100", min_length=1, max_length=14)
    device_address: str = Field("", max_length=32, pattern=r"^[0-9A-Za-z ]*$")


class Port(_Strict):
    protocol_mode: Literal["A", "B", "C", "D"] = "C"
    baud_char: str = Field("5", min_length=1, max_length=1)
    #: mode D: seconds between two pushes of the data message (a push-only meter; requests are ignored)
    push_interval_s: float | None = Field(None, gt=0, le=86400)
    #: mode C: offer mode E (``\2`` in the identification) to the binary face the host attaches; without one the
    #: port answers as a mode C meter (no ``\2``; an ``ACK 2 Z 2`` gets the readout at 300 Bd)
    mode_e: bool = False

    @model_validator(mode="after")
    def _mode_d(self) -> Port:
        if self.mode_e and self.protocol_mode != "C":
            raise ValueError("mode_e (binary mode behind the optical port) needs protocol_mode C")
        if self.protocol_mode == "D" and self.baud_char not in "0123456":
            raise ValueError("a mode D meter pushes at a mode C rate: baud_char 0-6 (3 = 2400 Bd, the standard's)")
        if self.push_interval_s is not None and self.protocol_mode != "D":
            raise ValueError("push_interval_s is for protocol_mode D")
        return self


#: the upper end of the voltage measuring range when ``max_voltage_v`` is not given (IEC 62052-31 extended range)
VOLTAGE_RANGE_FACTOR = 1.15


class Metrology(_Strict):
    """The measuring range: per phase up to ``max_current_a`` and ``max_voltage_v`` (default 1.15 x nominal).
    Inputs beyond it saturate (the meter measures at most its range, flags it in ``F.F`` and logs it)."""

    va_method: VaMethod = Field(VaMethod.ARITHMETIC, strict=False)  # named in the file as a string
    nominal_voltage_v: float = Field(230.0, gt=0, le=1000)
    frequency_hz: float = Field(50.0, gt=0, le=1000)
    max_current_a: float = Field(400.0, gt=0, le=100000)
    max_voltage_v: float | None = Field(None, gt=0, le=1200)

    @model_validator(mode="after")
    def _range(self) -> Metrology:
        if self.max_voltage_v is not None and self.max_voltage_v < self.nominal_voltage_v:
            raise ValueError(
                f"max_voltage_v {self.max_voltage_v} V is below the nominal voltage {self.nominal_voltage_v} V"
            )
        return self

    @property
    def voltage_limit_v(self) -> float:
        """The highest voltage measured (inputs above saturate)."""
        return self.max_voltage_v if self.max_voltage_v is not None else self.nominal_voltage_v * VOLTAGE_RANGE_FACTOR

    @property
    def range_kw(self) -> Decimal:
        """The measuring range of active (and, arithmetic or vectorial, apparent) power: 3 x max V x max I."""
        return (Decimal(str(self.voltage_limit_v)) * Decimal(str(self.max_current_a)) * 3 / 1000).quantize(
            Decimal("0.01")
        )

    @property
    def apparent_range_kva(self) -> Decimal:
        """The highest apparent power: effective VA (IEEE 1459) can reach twice the range (neutral current)."""
        return self.range_kw * (2 if self.va_method is VaMethod.EFFECTIVE else 1)

    def describe_range(self) -> str:
        return f"{self.range_kw} kW (3 x {self.voltage_limit_v:g} V x {self.max_current_a:g} A)"


class Demand(_Strict):
    window: str = "sliding 15/1"
    display_scale: Literal["W", "kW", "MW"] = "kW"

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        DemandConfig.parse(v)
        return v


class Clock(_Strict):
    timezone: str = "UTC"
    start: datetime = Field(datetime.fromisoformat("2026-11-01T00:00:00+00:00"), strict=False)  # ISO string or TOML

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2026-11-01T00:00:00+00:00")
        return v


class Billing(_Strict):
    reset_day: int = Field(1, ge=1, le=28)
    reset_time: time = Field(time(0, 0), strict=False)  # "HH:MM" or a TOML time
    history: int = Field(15, ge=12, le=99)
    reset_lockout_s: int = Field(60, ge=0, le=86400 * 31)


class LoadProfileCfg(_Strict):
    capture_min: Literal[1, 5, 10, 15, 30, 60] = 15
    keep_days: int = Field(400, ge=1, le=3660)


class Source(_Strict):
    kind: Literal["synthetic", "live"] = "synthetic"
    seed: int = 1
    peak_kw: float = Field(120.0, gt=0)
    base_kw: float = Field(35.0, ge=0)
    replay_pf: float = Field(0.95, gt=0, le=1)


class Readout(_Strict):
    public: tuple[str, ...] = Field(("0.0.0", "0.9.1", "0.9.2", "1.8.0", "2.8.0", "F.F"), strict=False)  # a list


class MeterConfig(_Strict):
    identity: Identity = Identity()
    port: Port = Port()
    metrology: Metrology = Metrology()
    demand: Demand = Demand()
    clock: Clock = Clock()
    tariffs: dict[str, Any] | None = None
    billing: Billing = Billing()
    load_profile: LoadProfileCfg = LoadProfileCfg()
    source: Source = Source()
    readout: Readout = Readout()
    security: dict[str, Any] = Field(default_factory=dict)
    adjustment: AdjustmentConfig = AdjustmentConfig()

    @model_validator(mode="after")
    def _cross(self) -> MeterConfig:
        check_display_range(self.metrology.apparent_range_kva, self.demand.display_scale)
        _check_port(self)
        _check_security_types(self.security)
        if self.tariffs is not None:
            TouCalendar.from_dict(self.tariffs)
        SecurityConfig.from_dict(self.security)
        return self

    @property
    def demand_config(self) -> DemandConfig:
        return DemandConfig.parse(self.demand.window)

    @property
    def calendar(self) -> TouCalendar:
        return TouCalendar.from_dict(self.tariffs) if self.tariffs is not None else TouCalendar.default()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.clock.timezone)


#: the ``[security]`` keys and the one type each must have (the security reads them itself; no coercion here either)
_SECURITY_TYPES: dict[str, type] = {
    "relay_trip_on_tamper": bool,
    "encrypt_reads": bool,
    "lockout_after": int,
    "lockout_base_s": int,
    "lockout_max_s": int,
    "brute_force_alarm_failures": int,
    "key_version": int,
    "write_window_min": int,
    "authorised_open_window_min": int,
}


def _check_security_types(security: dict[str, Any]) -> None:
    for key, kind in _SECURITY_TYPES.items():
        if key not in security:
            continue
        value = security[key]
        if type(value) is not kind:  # bool is an int subclass: compare exactly
            name = "true or false" if kind is bool else "a whole number"
            raise ValueError(f"[security] {key} must be {name}, got {value!r}")


def _check_port(config: MeterConfig) -> None:
    """The optical port's own validation (IEC 62056-21 identification, baud character of the mode), run now so that
    a meter that could not answer a sign-on is refused before it is served."""
    ident, port = config.identity, config.port
    try:
        MeterPortConfig(
            manufacturer=ident.manufacturer,
            ident=ident.ident,
            baud_char=port.baud_char,
            protocol_mode=port.protocol_mode,
            device_address=ident.device_address,
            push_interval=port.push_interval_s,
        )
    except ProtocolError as exc:
        raise ValueError(f"[identity]/[port]: {exc}") from exc


def load_config(path: Path | None = None, text: str | None = None) -> MeterConfig:
    """Read and validate a meter configuration; every problem is a ConfigError naming the key."""
    where = str(path) if path is not None else "configuration"
    try:
        raw = text if text is not None else (path.read_text(encoding="utf-8") if path is not None else "")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from exc
    except RecursionError as exc:
        raise ConfigError(f"{where}: nested too deeply to read (arrays or tables inside each other)") from exc
    try:
        return MeterConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}: {loc + ': ' if loc else ''}{msg}{more}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
