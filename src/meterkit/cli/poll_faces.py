"""``meterkit poll --mqtt/--metrics/--mqtt-remove``: the collector with its live faces on one event loop.

Each meter (its device address is its serial on the topics; a point-to-point meter is named by the serial it
reports, remembered in the output folder) gets a :class:`~meterkit.faces.polled_source.PolledSource`
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
from ..errors import DataError
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


def _sources(plan: PollPlan, known: dict[str, str]) -> dict[str, PolledSource]:
    """One source per target, keyed by the target's key; a point-to-point meter named by its ``known`` serial (from
    an earlier poll) or, until the collector reads it, by none."""
    zone = ZoneInfo(plan.tz)
    return {t.key: PolledSource(t.address or known.get(t.endpoint, ""), zone=zone) for t in plan.targets}


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
    outbox = _outbox(plan.out)
    store = ProfileStore(plan.out)
    known = store.known_serials()
    sources = _sources(plan, known)
    health = PollHealth()
    faces = await start_faces(
        list(sources.values()), config, store=outbox, health=health, announce=lambda line: print(line, flush=True)
    )
    collector = Collector(plan.targets, store, settings, observer=CollectorFeed(sources, health), serials=known)
    try:
        n = 0
        while True:
            started = time.monotonic()
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
    the broker has not acknowledged within 30 s (they stay in the outbox).  A point-to-point meter is known by the
    serial an earlier poll into the output folder read (DataError when none did)."""
    assert config.publish is not None
    known = ProfileStore(plan.out).known_serials()
    unknown = [t.endpoint for t in plan.targets if not t.address and t.endpoint not in known]
    if unknown:
        raise DataError(
            f"the serial of the meter on {unknown[0]} is not known in {plan.out}: poll it once first (without "
            "--mqtt-remove)"
        )
    outbox = _outbox(plan.out)
    try:
        return asyncio.run(
            remove_discovery(
                list(_sources(plan, known).values()),
                config.publish,
                discovery_prefix=config.discovery_prefix,
                node=config.node,
                store=outbox,
                addresses=addresses,
            )
        )
    finally:
        outbox.close()
