"""``meterkit serve --fleet FILE``: a whole fleet in one process (the shell over :func:`meterkit.host.fleet.run_fleet`).

Every meter on each ``--listen`` endpoint by device address (multi-drop: ``/?10000042!``; ``/?!`` and unknown
addresses get no answer), or with ``--port-per-meter`` one TCP port per meter from the ``--listen`` port on, in
serial order.  ``--state`` is the fleet's one store (SQLite WAL); ``--history SPAN`` simulates the meters the store
does not hold yet.  ``--publish/--metrics/--web`` serve the live faces of every meter (docs/faces.md, "A fleet").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..collector.config import parse_duration
from ..errors import ConfigError
from ..fleet import load_fleet
from ..fleet.store import FleetStore
from ..host.fleet import run_fleet

if TYPE_CHECKING:
    from ..faces.runner import FacesConfig

__all__ = ["serve_fleet"]


def serve_fleet(
    path: Path,
    *,
    history: str | None,
    state: Path | None,
    listen: list[str] | None,
    port_per_meter: bool,
    faces: FacesConfig | None = None,
) -> int:
    """Serve the fleet of ``path`` until SIGINT/SIGTERM."""
    span = None
    if history is not None:
        try:
            span = parse_duration(history)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="--history") from exc
    fleet = load_fleet(path)
    store = FleetStore(state if state is not None else ":memory:")
    logging.basicConfig(level=logging.WARNING, format="meterkit: %(name)s: %(message)s")

    def ready(line: str) -> None:
        print(line, flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await run_fleet(
            fleet,
            store=store,
            history=span,
            listen=listen,
            port_per_meter=port_per_meter,
            ready=ready,
            stop=stop,
            faces=faces,
        )

    try:
        asyncio.run(main())
    finally:
        store.close()
    sys.stdout.flush()
    return 0
