"""Virtual meters for the face tests: the demo meter with a live source on a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime

from meterkit.clock import SimulatedClock
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.storage import NvStore

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def live_meter(serial: str = "12345678", store: NvStore | None = None) -> tuple[VirtualMeter, SimulatedClock]:
    # the demo meter as adjusted (no raw channel error): the faces show what the load is
    text = (
        demo_config_path().read_text().split("[adjustment.raw_error]")[0].replace('kind = "synthetic"', 'kind = "live"')
    )
    text = text.replace('serial = "12345678"', f'serial = "{serial}"')
    clock = SimulatedClock(START)
    return VirtualMeter(load_config(text=text), clock=clock, store=store), clock
