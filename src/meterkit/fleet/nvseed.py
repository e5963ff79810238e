"""A simulated history written into a meter's non-volatile memory, so a virtual meter starts from it.

:func:`seed_store` fills an empty :class:`~meterkit.storage.NvStore` in the layout
:class:`~meterkit.meter.nvram.MeterNv` loads (snapshot, load profile, billing history, events, last-alive time) in
one transaction.  A :class:`~meterkit.meter.virtual.VirtualMeter` opened on that store with ``follow_clock=False``
then holds exactly the history's registers, profile and billing periods (its start-up logs the usual power-down and
power-up at the history's end, as any restart from NV memory does).

This is the bridge until the meter service offers a load-history call of its own (see ``docs/fleet.md``): it writes
the NV tables directly, so it must follow :mod:`meterkit.meter.nvram`'s schema.
"""

from __future__ import annotations

import json

from ..errors import DataError
from ..meter.nvram import SCHEMA
from ..storage import NvStore
from .history import MeterHistory

__all__ = ["seed_store"]


def seed_store(history: MeterHistory, store: NvStore) -> None:
    """Write ``history`` into the empty ``store`` (DataError if it already holds a meter)."""
    store.ensure_schema(*SCHEMA)
    if store.conn.execute("SELECT 1 FROM meter_snapshot").fetchone() is not None:
        raise DataError("the NV store already holds a meter; seed an empty one")
    rows = [(r.end.isoformat(), r.a_plus, r.a_minus, r.r_plus, r.r_minus, r.status) for r in history.profile_rows()]
    with store.transaction() as conn:
        conn.execute("INSERT INTO meter_snapshot(id, body) VALUES (1, ?)", (json.dumps(history.state),))
        conn.execute("INSERT INTO meter_alive(id, at) VALUES (1, ?)", (history.end.isoformat(),))
        conn.executemany(
            "INSERT INTO load_profile(end_ts, a_plus, a_minus, r_plus, r_minus, status) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO billing_history(at, body) VALUES (?, ?)",
            [
                (
                    b.at.isoformat(),
                    json.dumps(
                        {"reason": b.reason, "energy": b.energy, "maxima": b.maxima, "tariff_energy": b.tariff_energy}
                    ),
                )
                for b in history.billing
            ],
        )
        conn.executemany(
            "INSERT INTO event_log(at, code, text) VALUES (?, ?, ?)",
            [(e.at.isoformat(), e.code, e.text) for e in history.events],
        )
