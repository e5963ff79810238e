"""A fleet of virtual meters in one TOML file (validated with pydantic); the keys are documented in
``examples/fleet-1000.toml`` and ``docs/fleet.md``.

A fleet is a list of serial numbers (``first_serial`` + ``count``, or ``serials``), one meter template (the tables of
a meter configuration, ``examples/demo-meter.toml``) and the per-meter variation: load shape, peak, base share, power
factor, demand window and tariff calendar, each drawn from a weighted list or a range with a generator seeded by the
fleet seed, so the same file gives the same fleet.  Meters named in the optional load-profile file (``profiles``,
DESIGN.md format with a ``meter`` column) take their load from it instead of a synthetic shape.

:meth:`FleetConfig.meters` expands the file into one :class:`MeterSpec` per meter; :meth:`MeterSpec.meter_config`
is that meter's :class:`~meterkit.meter.config.MeterConfig`.
"""

from __future__ import annotations

import copy
import hashlib
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, MeterkitError
from ..meter.config import MeterConfig
from ..meter.demand import DemandConfig
from ..meter.tou import TouCalendar

__all__ = ["SHAPES", "FleetConfig", "MeterSpec", "load_fleet"]

#: the synthetic load shapes (see :mod:`meterkit.fleet.load`)
SHAPES = ("commercial", "industrial", "residential", "flat", "solar")
Shape = Literal["commercial", "industrial", "residential", "flat", "solar"]

#: the most meters one fleet may hold (the collector's and the server's tables are sized for it)
MAX_METERS = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightedWindow(_Strict):
    window: str
    weight: float = Field(1.0, gt=0)

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        try:
            DemandConfig.parse(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return v


class WeightedShape(_Strict):
    shape: Shape
    weight: float = Field(1.0, gt=0)


class WeightedTariff(_Strict):
    calendar: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0)


class Variation(_Strict):
    """How the meters differ from the template: weighted lists and uniform ranges ``[low, high]``."""

    shapes: tuple[WeightedShape, ...] = (WeightedShape(shape="commercial"),)
    peak_kw: tuple[float, float] = (120.0, 120.0)
    #: the night/weekend base load as a share of the peak
    base_share: tuple[float, float] = (0.3, 0.3)
    power_factor: tuple[float, float] = (0.95, 0.95)
    #: relative noise of each minute's power (standard deviation)
    noise: float = Field(0.03, ge=0, le=0.5)
    windows: tuple[WeightedWindow, ...] = ()
    tariffs: tuple[WeightedTariff, ...] = ()

    @model_validator(mode="after")
    def _ranges(self) -> Variation:
        for name, (lo, hi), low_limit, high_limit in (
            ("peak_kw", self.peak_kw, 0.0, 1e6),
            ("base_share", self.base_share, 0.0, 1.0),
            ("power_factor", self.power_factor, 0.0, 1.0),
        ):
            if not lo <= hi:
                raise ValueError(f"{name}: [low, high] with low <= high, got [{lo}, {hi}]")
            if lo < low_limit or hi > high_limit or (name != "base_share" and lo <= low_limit):
                raise ValueError(f"{name}: values must lie in ({low_limit:g}, {high_limit:g}], got [{lo}, {hi}]")
        if not self.shapes:
            raise ValueError("shapes: give at least one shape")
        return self


class Fleet(_Strict):
    first_serial: int | None = Field(None, ge=0, le=99_999_999)
    count: int | None = Field(None, ge=1, le=MAX_METERS)
    serials: tuple[str, ...] | None = None
    #: the fleet seed: every meter's variation and noise follow from it and the meter's serial
    seed: int = 1
    #: optional load-profile file (DESIGN.md format with a ``meter`` column, CSV or Parquet; relative to the fleet
    #: file): the meters it names take their load from it
    profiles: str | None = None

    @field_validator("serials")
    @classmethod
    def _serials(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("serials: give at least one serial number")
        if len(v) > MAX_METERS:
            raise ValueError(f"serials: at most {MAX_METERS} meters")
        for s in v:
            if not (1 <= len(s) <= 16 and s.isascii() and s.isalnum()):
                raise ValueError(f"serials: {s!r} is not 1-16 letters or digits")
        seen: set[str] = set()
        for s in v:
            key = s.lstrip("0") or "0"
            if key in seen:
                raise ValueError(f"serials: {s!r} appears twice (device addresses ignore leading zeros)")
            seen.add(key)
        return v

    @model_validator(mode="after")
    def _which(self) -> Fleet:
        counted = self.first_serial is not None or self.count is not None
        if counted and self.serials is not None:
            raise ValueError("give either first_serial and count, or serials, not both")
        if self.serials is None:
            if self.first_serial is None or self.count is None:
                raise ValueError("give first_serial and count (or a list of serials)")
            if self.first_serial + self.count - 1 > 99_999_999:
                raise ValueError("first_serial + count goes beyond the 8-digit serial 99999999")
        return self


class FleetConfig(_Strict):
    fleet: Fleet
    #: the shared meter configuration (the tables of ``examples/demo-meter.toml``); identity.serial and
    #: device_address, demand.window (with ``variation.windows``), source and tariffs are set per meter
    template: dict[str, Any] = Field(default_factory=dict)
    variation: Variation = Variation()
    #: named tariff calendars (``[calendars.NAME]``, the form of a meter's ``[tariffs]``) for ``variation.tariffs``
    calendars: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: where relative paths (``profiles``) are resolved
    base_dir: Path = Path()

    @model_validator(mode="after")
    def _cross(self) -> FleetConfig:
        for name, cal in self.calendars.items():
            try:
                TouCalendar.from_dict(cal)
            except ConfigError as exc:
                raise ValueError(f"calendars.{name}: {exc}") from exc
        for t in self.variation.tariffs:
            if t.calendar not in self.calendars:
                known = ", ".join(sorted(self.calendars)) or "none defined"
                raise ValueError(f"variation.tariffs: unknown calendar {t.calendar!r} ({known})")
        template = self.template
        ident = template.get("identity", {})
        if isinstance(ident, dict) and ("serial" in ident or "device_address" in ident):
            raise ValueError("template.identity: serial and device_address are set per meter from the fleet's serials")
        try:
            MeterConfig.model_validate(self._meter_dict(self.serial_list[0], None, None, 1, 0.95))
        except ValidationError as exc:
            raise ValueError(f"template: {_first_error(exc)}") from exc
        except ConfigError as exc:
            raise ValueError(f"template: {exc}") from exc
        return self

    # --- expansion --------------------------------------------------------------------------------------

    @cached_property
    def serial_list(self) -> tuple[str, ...]:
        f = self.fleet
        if f.serials is not None:
            return f.serials
        assert f.first_serial is not None and f.count is not None
        return tuple(f"{f.first_serial + i:08d}" for i in range(f.count))

    def _meter_dict(
        self, serial: str, window: str | None, calendar: str | None, seed: int, pf: float
    ) -> dict[str, Any]:
        d = copy.deepcopy(self.template)
        d.setdefault("identity", {}).update(serial=serial, device_address=serial)
        if window is not None:
            d.setdefault("demand", {})["window"] = window
        if calendar is not None:
            d["tariffs"] = copy.deepcopy(self.calendars[calendar])
        source = d.setdefault("source", {})
        source.update(seed=seed, replay_pf=pf)
        return d

    def meters(self) -> list[MeterSpec]:
        """One spec per meter, in serial order; the same file always gives the same specs."""
        serials = self.serial_list
        n = len(serials)
        v = self.variation
        rng = np.random.default_rng(self.fleet.seed)

        def pick(weights: list[float]) -> np.ndarray[Any, np.dtype[np.int64]]:
            p = np.asarray(weights, dtype=float)
            return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)

        def spread(lo_hi: tuple[float, float]) -> np.ndarray[Any, np.dtype[np.float64]]:
            lo, hi = lo_hi
            return rng.uniform(lo, hi, size=n) if hi > lo else np.full(n, lo)

        shapes = pick([s.weight for s in v.shapes])
        windows = pick([w.weight for w in v.windows]) if v.windows else None
        tariffs = pick([t.weight for t in v.tariffs]) if v.tariffs else None
        peak = np.round(spread(v.peak_kw), 2)
        base = np.round(spread(v.base_share), 3)
        pf = np.round(spread(v.power_factor), 3)
        profiled = self.profile_meters
        out = []
        for i, serial in enumerate(serials):
            out.append(
                MeterSpec(
                    fleet=self,
                    index=i,
                    serial=serial,
                    shape="file" if serial in profiled else v.shapes[int(shapes[i])].shape,
                    peak_kw=float(peak[i]),
                    base_kw=round(float(peak[i] * base[i]), 3),
                    power_factor=float(pf[i]),
                    noise=v.noise,
                    window=None if windows is None else v.windows[int(windows[i])].window,
                    calendar=None if tariffs is None else v.tariffs[int(tariffs[i])].calendar,
                    seed=meter_seed(self.fleet.seed, serial),
                )
            )
        return out

    @property
    def profiles_path(self) -> Path | None:
        p = self.fleet.profiles
        if p is None:
            return None
        path = Path(p)
        return path if path.is_absolute() else self.base_dir / path

    @cached_property
    def profile_meters(self) -> frozenset[str]:
        """The serials the load-profile file names (empty without one)."""
        path = self.profiles_path
        if path is None:
            return frozenset()
        from .load import profile_file_meters

        named = profile_file_meters(path)
        known = set(self.serial_list)
        strangers = sorted(set(named) - known)
        if strangers:
            raise ConfigError(f"{path}: meter {strangers[0]} is not in the fleet ({len(strangers)} unknown meters)")
        return frozenset(named)


def meter_seed(fleet_seed: int, serial: str) -> int:
    """The seed of one meter's noise: from the fleet seed and the serial (stable across runs and machines)."""
    digest = hashlib.sha256(f"{fleet_seed}:{serial}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """One meter of a fleet: its serial and its drawn variation."""

    fleet: FleetConfig
    index: int
    serial: str
    shape: str  # one of SHAPES, or "file" (load from the fleet's load-profile file)
    peak_kw: float
    base_kw: float
    power_factor: float
    noise: float
    window: str | None  # None: the template's
    calendar: str | None  # None: the template's tariffs
    seed: int

    def meter_config(self) -> MeterConfig:
        """This meter's full configuration."""
        d = self.fleet._meter_dict(self.serial, self.window, self.calendar, self.seed % 2**31, self.power_factor)
        d["source"].update(peak_kw=self.peak_kw, base_kw=self.base_kw)
        try:
            return MeterConfig.model_validate(d)
        except ValidationError as exc:  # pragma: no cover - the template was validated with the fleet
            raise ConfigError(f"meter {self.serial}: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(x) for x in first["loc"])
    msg = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {msg}{more}" if loc else f"{msg}{more}"


def load_fleet(path: Path | None = None, text: str | None = None) -> FleetConfig:
    """Read and validate a fleet file; every problem is one ConfigError line naming the file and the key."""
    where = str(path) if path is not None else "fleet configuration"
    try:
        raw = text if text is not None else (path.read_text(encoding="utf-8") if path is not None else "")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from exc
    if "base_dir" in data:
        raise ConfigError(f"{where}: base_dir: not a fleet key")
    data["base_dir"] = path.parent if path is not None else Path()
    try:
        return FleetConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_first_error(exc)}") from exc
    except MeterkitError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def fleet_start(config: FleetConfig) -> datetime:
    """Where a fleet's history starts by default: the template's ``[clock] start``."""
    return MeterConfig.model_validate(config._meter_dict(config.serial_list[0], None, None, 1, 0.95)).clock.start
