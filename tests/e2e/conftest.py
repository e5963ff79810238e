"""Real servers on loopback and ptys, run in a background event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest

from meterkit.iec62056_21.application import MeterApplication
from meterkit.transport.server import ServerHandle, start_server

pytestmark = pytest.mark.e2e


class RunningServer:
    def __init__(self, endpoints: list[str]) -> None:
        self.endpoints = endpoints

    @property
    def tcp_url(self) -> str:
        ep = next(e for e in self.endpoints if e.startswith("tcp://"))
        return "socket://" + ep.removeprefix("tcp://")

    @property
    def pty_path(self) -> str:
        return next(e for e in self.endpoints if e.startswith("pty ")).split(" ", 1)[1]


@contextmanager
def _in_background(
    main: Callable[[asyncio.Event, threading.Event, dict[str, object]], Awaitable[None]],
) -> Iterator[dict[str, object]]:
    """Run ``main(stop, ready, box)`` in an event loop on a daemon thread until the block ends.  ``main`` sets
    ``ready`` once serving (or after putting an exception under ``box["error"]``, which is raised here)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, object] = {}
    stop = asyncio.Event()

    async def run() -> None:
        try:
            await main(stop, ready, box)
        except BaseException as exc:
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    try:
        yield box
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


@contextmanager
def running_server(app: MeterApplication, listen: list[str], **kw: object) -> Iterator[RunningServer]:
    async def main(stop: asyncio.Event, ready: threading.Event, box: dict[str, object]) -> None:
        handle = await start_server(app, listen, **kw)  # type: ignore[arg-type]
        box["handle"] = handle
        ready.set()
        await stop.wait()
        await handle.close()

    with _in_background(main) as box:
        handle = box["handle"]
        assert isinstance(handle, ServerHandle)
        yield RunningServer(handle.endpoints)


@contextmanager
def running_meter(meter: object, listen: list[str], **kw: object) -> Iterator[dict[str, str]]:
    """``meterkit serve``'s library core (:func:`meterkit.host.run_meter`) in a background event loop; yields the
    printed endpoints by kind: ``{"tcp": "socket://...", "pty": "/dev/pts/N", "control": "tcp://..."}``."""
    from meterkit.host import run_meter

    lines: list[str] = []
    expected = len(listen) + (1 if kw.get("control") else 0)

    async def main(stop: asyncio.Event, ready: threading.Event, box: dict[str, object]) -> None:
        def on_line(line: str) -> None:
            lines.append(line)
            if len(lines) == expected:
                ready.set()

        await run_meter(meter, listen, ready=on_line, stop=stop, **kw)  # type: ignore[arg-type]

    with _in_background(main):
        found: dict[str, str] = {}
        for line in lines:
            if line.startswith("listening on tcp://"):
                found["tcp"] = "socket://" + line.removeprefix("listening on tcp://")
            elif line.startswith("listening on pty "):
                found["pty"] = line.removeprefix("listening on pty ")
            elif line.startswith("control on "):
                found["control"] = line.removeprefix("control on ")
        yield found
