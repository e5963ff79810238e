"""The calibration record of one meter in its NV memory, and the measuring path through it.

Table ``calibration`` (one row: the record's canonical JSON and its MAC, :mod:`.adjustment`).  Every write and the
seal are committed at once, in one transaction, before the adjustment port answers.  At start:

* a new state file gets an unadjusted, unsealed record;
* a state file from before adjustment existed (meter registers but no ``calibration`` table) gets one too, logged;
* a state file with meter registers and a ``calibration`` table but no record (deleted), or whose record does not
  match its MAC (edited, or another meter's), is refused (:class:`~meterkit.errors.DataError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..errors import DataError
from ..security.keys import MeterIdentity
from ..storage import NvStore
from .adjustment import PHASES, AdjustmentConfig, CalibrationRecord, CalibrationSet, SealedError, calibration_key
from .core import Meter
from .metrology import ChannelError, PhaseInput, correct, sense

__all__ = ["Calibration", "release_adopted_record"]

_TABLE = "CREATE TABLE IF NOT EXISTS calibration (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL, mac TEXT)"
_WRITE = (
    "INSERT INTO calibration(id, body, mac) VALUES (1, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET body = excluded.body, mac = excluded.mac"
)


def release_adopted_record(
    store: NvStore, previous: MeterIdentity, identity: MeterIdentity, config: AdjustmentConfig
) -> str | None:
    """A state adopted from another meter (``serve --adopt-state``) does not bring that meter's calibration: the
    corrections belong to its hardware.  An unsealed record is replaced by an unadjusted one of this meter (returns
    what to log); a sealed one, or one that is not the previous meter's either, is refused (DataError): a sealed
    calibration stays with its meter, so adopting cannot unseal."""
    if store.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'calibration'").fetchone() is None:
        return None
    row = store.conn.execute("SELECT body, mac FROM calibration WHERE id = 1").fetchone()
    if row is None:
        return None
    record = CalibrationRecord.parse(str(row[0]), str(row[1] or ""), calibration_key(previous, config.device_key))
    if record.sealed:
        raise DataError(
            f"the state holds the sealed calibration of meter {previous.serial}: a sealed calibration stays with its "
            "meter and cannot be adopted; refused"
        )
    fresh = CalibrationRecord()
    with store.transaction() as conn:
        conn.execute(_WRITE, (fresh.body(), fresh.mac(calibration_key(identity, config.device_key))))
    return f"calibration of meter {previous.serial} not adopted (unsealed): this meter starts unadjusted"


class Calibration:
    """The adjustment of one meter: raw channel errors (hardware), the correction set and the seal."""

    def __init__(
        self, store: NvStore, meter: Meter, identity: MeterIdentity, config: AdjustmentConfig, *, restored: bool
    ) -> None:
        self.store = store
        self.meter = meter
        self.config = config
        self.errors = config.raw_error.channels()
        self._ideal = all(e == ChannelError() for e in self.errors)  # ideal hardware: nothing to sense
        self._key = calibration_key(identity, config.device_key)
        existed = store.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'calibration'").fetchone() is not None
        store.ensure_schema(_TABLE)
        row = store.conn.execute("SELECT body, mac FROM calibration WHERE id = 1").fetchone()
        if row is not None:
            self.record = CalibrationRecord.parse(str(row[0]), str(row[1] or ""), self._key)
        elif restored and existed:
            raise DataError(
                "the state file holds meter registers but its calibration record was removed (edited, or another "
                "meter's state): refused"
            )
        else:
            self.record = CalibrationRecord()
            self._commit()
            if restored:
                meter.log(5, "calibration record created: the state file is from before adjustment (unadjusted)")
        meter.set_calibration_checksum(self.record.corrections.checksum())

    # --- reading -----------------------------------------------------------------------------------------------

    @property
    def corrections(self) -> CalibrationSet:
        return self.record.corrections

    @property
    def sealed(self) -> bool:
        return self.record.sealed

    def measure_path(self, phases: Sequence[PhaseInput]) -> tuple[tuple[PhaseInput, ...], tuple[PhaseInput, ...]]:
        """The true inputs as the channels see them (raw) and as the meter measures them (corrected)."""
        raw = tuple(phases) if self._ideal else sense(phases, self.errors)
        corrections = self.record.corrections
        return raw, raw if corrections.is_identity else correct(raw, corrections.channels)

    # --- writing (the adjustment port only) -----------------------------------------------------------------------

    def write(self, phase: int, name: str, value: float) -> str:
        """Write one correction; SealedError (logged) once sealed, ConfigError for a bad name or value.  Returns the
        event text."""
        self._refuse_if_sealed(f"set {PHASES[phase] if 0 <= phase < 3 else phase} {name}")
        new = self.record.corrections.with_value(phase, name, value)
        old = self.record.corrections
        # the values stay in the calibration memory: the log (readable over the optical port) names only the checksums
        text = f"calibration {PHASES[phase]} {name} changed (calibration checksum {old.checksum()} -> {new.checksum()})"
        self._change(new, text)
        return text

    def clear(self) -> str:
        """Back to the identity corrections (before sealing only)."""
        self._refuse_if_sealed("clear")
        old = self.record.corrections
        text = f"calibration cleared (calibration checksum {old.checksum()} -> {CalibrationSet().checksum()})"
        self._change(CalibrationSet(), text)
        return text

    def seal(self) -> str:
        """Leave manufacturing: from now on every write is refused.  One way."""
        self._refuse_if_sealed("seal")
        at = self.meter.now
        self.record = replace(self.record, sealed_at=at)
        text = f"left manufacturing: calibration sealed (calibration checksum {self.record.corrections.checksum()})"
        with self.store.transaction():
            self._commit()
            self.meter.log(5, text, at=at)
        return text

    def _refuse_if_sealed(self, what: str) -> None:
        sealed_at = self.record.sealed_at
        if sealed_at is None:
            return
        reason = f"adjustment port: {what} refused, the meter left manufacturing (sealed {sealed_at.isoformat()})"
        self.meter.log(6, reason)
        raise SealedError(reason)

    def _change(self, new: CalibrationSet, text: str) -> None:
        self.record = replace(self.record, corrections=new, writes=self.record.writes + 1)
        with self.store.transaction():
            self._commit()
            self.meter.log(5, text)
        self.meter.set_calibration_checksum(new.checksum())

    def _commit(self) -> None:
        with self.store.transaction() as conn:
            conn.execute(_WRITE, (self.record.body(), self.record.mac(self._key)))
