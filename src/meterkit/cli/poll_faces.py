"""``meterkit poll --mqtt/--metrics/--mqtt-remove``: the collector with its live faces on one event loop.

Each meter (its device address is its serial on the topics) gets a :class:`~meterkit.faces.polled_source.PolledSource`
that the collector updates after every poll; after each cycle the readings are announced (Home Assistant discovery)
and published at once, and the faces keep serving between cycles.  The MQTT outbox lives in the output folder
(``mqtt-outbox.sqlite``), so what the broker has not acknowledged is sent by the next run.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from ..collector.config import PollPlan
from ..collector.poll import Collector, PollSettings, Summary
from ..collector.store import ProfileStore
from ..faces.metrics import PollHealth
from ..faces.polled_source import CollectorFeed, PolledSource
from ..faces.runner import FacesConfig, publish_now, remove_discovery, start_faces, stop_faces
from ..storage import NvStore

__all__ = ["OUTBOX", "collector_faces", "remove_collector_discovery", "run_plan_with_faces"]

#: the collector's MQTT outbox, in its output folder
OUTBOX = "mqtt-outbox.sqlite"


def collector_faces(mqtt: str | None, metrics: str | None, discovery_prefix: str) -> FacesConfig:
    """The faces of a collector: every register read is published (not only the meter host's default list)."""
    return FacesConfig(
        publish=mqtt,
        metrics=metrics,
        discovery_prefix=discovery_prefix,
        registers=None,
        node=f"collector-{socket.gethostname()}",
    )


def _sources(plan: PollPlan) -> dict[str, PolledSource]:
    zone = ZoneInfo(plan.tz)
    return {t.address: PolledSource(t.address, zone=zone) for t in plan.targets}


def _outbox(out: Path) -> NvStore:
    out.mkdir(parents=True, exist_ok=True)
    return NvStore(out / OUTBOX)


def run_plan_with_faces(
    plan: PollPlan, settings: PollSettings, faces: FacesConfig, err: Console, *, cycles: int | None = None
) -> Summary:
    return asyncio.run(_run(plan, settings, faces, err, cycles))


async def _run(
    plan: PollPlan, settings: PollSettings, config: FacesConfig, err: Console, cycles: int | None
) -> Summary:
    sources = _sources(plan)
    health = PollHealth()
    outbox = _outbox(plan.out)
    store = ProfileStore(plan.out)
    faces = await start_faces(
        list(sources.values()), config, store=outbox, health=health, announce=lambda line: print(line, flush=True)
    )
    try:
        n = 0
        while True:
            started = time.monotonic()
            collector = Collector(plan.targets, store, settings, observer=CollectorFeed(sources, health))
            summary = await collector.run_once()
            waiting = await publish_now(faces)
            for line in summary.lines():
                err.print(line, markup=False)
            if waiting:
                err.print(f"mqtt: {waiting} message(s) not yet acknowledged; they stay in the outbox", markup=False)
            n += 1
            if plan.once or plan.interval is None or (cycles is not None and n >= cycles):
                return summary
            wait = plan.interval.total_seconds() - (time.monotonic() - started)
            if wait > 0:
                await asyncio.sleep(wait)
    finally:
        await stop_faces(faces)
        outbox.close()


def remove_collector_discovery(plan: PollPlan, config: FacesConfig, addresses: tuple[str, ...]) -> int:
    """Empty retained discovery configs for the registers ``addresses`` of every planned meter; returns how many
    the broker has not acknowledged within 30 s (they stay in the outbox)."""
    assert config.publish is not None
    outbox = _outbox(plan.out)
    try:
        return asyncio.run(
            remove_discovery(
                list(_sources(plan).values()),
                config.publish,
                discovery_prefix=config.discovery_prefix,
                node=config.node,
                store=outbox,
                addresses=addresses,
            )
        )
    finally:
        outbox.close()
