"""Factory adjustment: the meter's correction set, its raw hardware error, and the one-way seal.

A meter leaves the production line in two steps.  First it is **adjusted**: a test bench applies reference loads,
reads what the meter's channels measure (raw) and writes correction values (per phase a voltage gain, a current gain, a
phase-angle correction and a current offset, :class:`~.metrology.ChannelCorrection`) into a dedicated memory through
the **adjustment port**, a separate endpoint with no connection to the optical port.  Then it is **sealed** ("leaves
manufacturing"): from that moment the adjustment port refuses every write, forever; it may still read.

The correction set, the seal and its time form the **calibration record**.  It is kept in the NV memory together with a
MAC (HMAC-SHA256) over the record and the meter's identity (manufacturer and serial), keyed from the meter's
``[adjustment] device_key``: a state file whose record was edited (the seal removed, a correction changed) or that
belongs to another meter is refused at start, like a foreign state.  Without a configured device key the MAC is keyed
from the identity alone, which still refuses an edit made without meterkit's code and another meter's file.

A new meter starts **unadjusted**: identity corrections, and the raw error of its hardware
(``[adjustment.raw_error]``, :class:`~.metrology.ChannelError`), so that adjustment visibly matters.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ConfigError, DataError, MeterkitError
from ..security.keys import MeterIdentity, hkdf_sha256
from .metrology import ChannelCorrection, ChannelError

__all__ = [
    "CORRECTION_NAMES",
    "AccuracyClassName",
    "AdjustmentConfig",
    "CalibrationRecord",
    "CalibrationSet",
    "RawErrorConfig",
    "SealedError",
    "calibration_key",
    "current_gain_and_offset",
]

PHASES = ("L1", "L2", "L3")
#: correction name on the adjustment port -> (attribute, decimals kept, lowest, highest)
CORRECTION_NAMES: dict[str, tuple[str, int, float, float]] = {
    "vgain": ("voltage_gain", 6, 0.8, 1.2),
    "igain": ("current_gain", 6, 0.8, 1.2),
    "phase": ("phase_deg", 4, -10.0, 10.0),
    "ioffset": ("current_offset_a", 5, -1.0, 1.0),
}
AccuracyClassName = Literal["1", "2", "0.5S", "0.2S", "B", "C"]


class SealedError(MeterkitError):
    """A write to the calibration of a meter that has left manufacturing."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_Triple = tuple[float, float, float]


class RawErrorConfig(_Strict):
    """The hardware's error per phase (L1, L2, L3) before adjustment."""

    voltage_gain_pct: _Triple = (0.0, 0.0, 0.0)
    current_gain_pct: _Triple = (0.0, 0.0, 0.0)
    phase_deg: _Triple = (0.0, 0.0, 0.0)
    current_offset_a: _Triple = (0.0, 0.0, 0.0)

    @field_validator("voltage_gain_pct", "current_gain_pct")
    @classmethod
    def _gain(cls, v: _Triple) -> _Triple:
        if any(not math.isfinite(x) or abs(x) > 10 for x in v):
            raise ValueError("a raw gain error is at most 10 % either way")
        return v

    @field_validator("phase_deg")
    @classmethod
    def _phase(cls, v: _Triple) -> _Triple:
        if any(not math.isfinite(x) or abs(x) > 5 for x in v):
            raise ValueError("a raw phase error is at most 5 degrees either way")
        return v

    @field_validator("current_offset_a")
    @classmethod
    def _offset(cls, v: _Triple) -> _Triple:
        if any(not math.isfinite(x) or abs(x) > 0.5 for x in v):
            raise ValueError("a raw current offset is at most 0.5 A either way")
        return v

    def channels(self) -> tuple[ChannelError, ...]:
        return tuple(
            ChannelError(
                voltage_gain=self.voltage_gain_pct[i] / 100,
                current_gain=self.current_gain_pct[i] / 100,
                phase_deg=self.phase_deg[i],
                current_offset_a=self.current_offset_a[i],
            )
            for i in range(3)
        )


class AdjustmentConfig(_Strict):
    """``[adjustment]``: the reference current of the test points, the accuracy class tested against, the device key
    that binds the calibration record (hex, 16-64 bytes) and the raw error of a new meter's hardware."""

    reference_current_a: float | None = Field(None, gt=0, le=100000)
    accuracy_class: AccuracyClassName = "1"
    device_key: str | None = None
    raw_error: RawErrorConfig = RawErrorConfig()

    @field_validator("device_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            raw = bytes.fromhex(v)
        except ValueError:
            raise ValueError("device_key must be hex") from None
        if not 16 <= len(raw) <= 64:
            raise ValueError("device_key must be 16-64 bytes (32-128 hex digits)")
        return v


def _quantize(name: str, value: float) -> float:
    _attr, places, lo, hi = CORRECTION_NAMES[name]
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    return round(value, places)


@dataclass(frozen=True, slots=True)
class CalibrationSet:
    """The corrections of the three phase channels (index 0 = L1)."""

    channels: tuple[ChannelCorrection, ChannelCorrection, ChannelCorrection] = (
        ChannelCorrection(),
        ChannelCorrection(),
        ChannelCorrection(),
    )

    def value(self, phase: int, name: str) -> float:
        attr = CORRECTION_NAMES[name][0]
        return float(getattr(self.channels[phase], attr))

    def with_value(self, phase: int, name: str, value: float) -> CalibrationSet:
        """The set with one correction changed (ConfigError for an unknown name or a value out of range)."""
        if name not in CORRECTION_NAMES:
            raise ConfigError(f"unknown correction {name!r} (vgain, igain, phase, ioffset)")
        if not 0 <= phase < 3:
            raise ConfigError(f"phase index must be 0-2, got {phase}")
        attr = CORRECTION_NAMES[name][0]
        channel = replace(self.channels[phase], **{attr: _quantize(name, value)})
        chans = list(self.channels)
        chans[phase] = channel
        return CalibrationSet(channels=(chans[0], chans[1], chans[2]))

    def text(self, phase: int) -> str:
        """``vgain=1.000000 igain=0.982318 phase=-0.3000 ioffset=0.02000``."""
        return " ".join(
            f"{name}={self.value(phase, name):.{places}f}" for name, (_a, places, _l, _h) in CORRECTION_NAMES.items()
        )

    def canonical(self) -> str:
        return ";".join(f"{PHASES[i]} {self.text(i)}" for i in range(3))

    def checksum(self) -> str:
        """The calibration-set checksum shown on the optical port (16 hex digits of SHA-256 of the canonical text)."""
        return hashlib.sha256(self.canonical().encode("ascii")).hexdigest()[:16].upper()

    @property
    def is_identity(self) -> bool:
        return self == CalibrationSet()

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {PHASES[i]: {name: self.value(i, name) for name in CORRECTION_NAMES} for i in range(3)}

    @classmethod
    def from_dict(cls, data: object) -> CalibrationSet:
        if not isinstance(data, dict) or set(data) != set(PHASES):
            raise DataError("calibration record: the corrections need L1, L2 and L3")
        out = cls()
        for i, phase in enumerate(PHASES):
            values = data[phase]
            if not isinstance(values, dict) or set(values) != set(CORRECTION_NAMES):
                raise DataError(f"calibration record: {phase} needs {', '.join(CORRECTION_NAMES)}")
            for name, value in values.items():
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise DataError(f"calibration record: {phase} {name} is not a number")
                try:
                    out = out.with_value(i, name, float(value))
                except ConfigError as exc:
                    raise DataError(f"calibration record: {phase}: {exc}") from exc
        return out


def calibration_key(identity: MeterIdentity, device_key: str | None) -> bytes:
    """The MAC key of the calibration record: HKDF of the device key (or nothing) bound to the meter's identity."""
    material = bytes.fromhex(device_key) if device_key is not None else b"meterkit: no device key"
    return hkdf_sha256(material, b"meterkit calibration record v1" + identity.encode())


@dataclass(frozen=True, slots=True)
class CalibrationRecord:
    """What the NV memory keeps of the adjustment: the corrections, the seal time (None: in manufacturing), and how
    many writes the set has had."""

    corrections: CalibrationSet = CalibrationSet()
    sealed_at: datetime | None = None
    writes: int = 0

    @property
    def sealed(self) -> bool:
        return self.sealed_at is not None

    def body(self) -> str:
        """The canonical JSON the MAC covers."""
        return json.dumps(
            {
                "version": 1,
                "corrections": self.corrections.to_dict(),
                "sealed_at": None if self.sealed_at is None else self.sealed_at.isoformat(),
                "writes": self.writes,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    def mac(self, key: bytes) -> str:
        return hmac.new(key, self.body().encode("ascii"), hashlib.sha256).hexdigest()

    @classmethod
    def parse(cls, body: str, mac: str, key: bytes) -> CalibrationRecord:
        """The record of the NV memory; DataError when its MAC does not match (edited, or another meter's)."""
        expected = hmac.new(key, body.encode("ascii", "replace"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac):
            raise DataError(
                "the calibration record of the state file does not match this meter (edited, or another meter's "
                "state): refused"
            )
        try:
            data = json.loads(body)
            sealed = data["sealed_at"]
            record = cls(
                corrections=CalibrationSet.from_dict(data["corrections"]),
                sealed_at=None if sealed is None else datetime.fromisoformat(str(sealed)),
                writes=int(data["writes"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"calibration record is malformed: {exc!r}") from exc
        return record


def current_gain_and_offset(reference: tuple[float, float], raw: tuple[float, float]) -> tuple[float, float]:
    """Two-point adjustment of a current channel: the reference currents (high, low) and what the channel measured
    raw at each -> (current gain, current offset) such that ``gain·(raw - offset)`` is the reference at both."""
    (i_high, i_low), (r_high, r_low) = reference, raw
    if i_high == i_low or r_high == r_low:
        raise ConfigError("the two adjustment currents must differ (and the channel must see the difference)")
    slope = (r_high - r_low) / (i_high - i_low)
    offset = r_high - slope * i_high
    return 1 / slope, offset
