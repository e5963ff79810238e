"""A simulated history written into a meter's non-volatile memory, so a virtual meter starts from it.

:func:`seed_store` fills an empty :class:`~meterkit.storage.NvStore` through the meter's own bulk import
(:meth:`MeterNv.import_history <meterkit.meter.nvram.MeterNv.import_history>`: snapshot, load profile, billing history,
events, last-alive time, one transaction).  A :class:`~meterkit.meter.virtual.VirtualMeter` opened on that store with
``follow_clock=False`` then holds exactly the history's registers, profile and billing periods (its start-up logs the
usual power-down and power-up at the history's end, as any restart from NV memory does).  A served fleet keeps all
its meters in one store instead (:mod:`.store`).
"""

from __future__ import annotations

from ..meter.core import Meter
from ..meter.nvram import MeterNv
from ..storage import NvStore
from .history import MeterHistory

__all__ = ["seed_store"]


def seed_store(history: MeterHistory, store: NvStore) -> None:
    """Write ``history`` into the empty ``store`` (DataError if it already holds a meter)."""
    MeterNv(store, Meter(history.config, now=history.end)).import_history(history, history.end)
