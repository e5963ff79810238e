"""Real servers on loopback and ptys, run in a background event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
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
def running_server(app: MeterApplication, listen: list[str], **kw: object) -> Iterator[RunningServer]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, object] = {}

    async def main() -> None:
        try:
            handle = await start_server(app, listen, **kw)  # type: ignore[arg-type]
        except BaseException as exc:
            box["error"] = exc
            started.set()
            return
        box["handle"] = handle
        box["stop"] = stop = asyncio.Event()
        started.set()
        await stop.wait()
        await handle.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    handle = box["handle"]
    assert isinstance(handle, ServerHandle)
    try:
        yield RunningServer(handle.endpoints)
    finally:
        stop = box["stop"]
        assert isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


@contextmanager
def running_meter(meter: object, listen: list[str], **kw: object) -> Iterator[dict[str, str]]:
    """``meterkit serve``'s library core (:func:`meterkit.cli.serve.run_meter`) in a background event loop; yields the
    printed endpoints by kind: ``{"tcp": "socket://...", "pty": "/dev/pts/N", "control": "tcp://..."}``."""
    from meterkit.cli.serve import run_meter

    loop = asyncio.new_event_loop()
    lines: list[str] = []
    box: dict[str, object] = {}
    expected = len(listen) + (1 if kw.get("control") else 0)
    ready = threading.Event()

    def on_line(line: str) -> None:
        lines.append(line)
        if len(lines) == expected:
            ready.set()

    async def main() -> None:
        box["stop"] = stop = asyncio.Event()
        try:
            await run_meter(meter, listen, ready=on_line, stop=stop, **kw)  # type: ignore[arg-type]
        except BaseException as exc:
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    found: dict[str, str] = {}
    for line in lines:
        if line.startswith("listening on tcp://"):
            found["tcp"] = "socket://" + line.removeprefix("listening on tcp://")
        elif line.startswith("listening on pty "):
            found["pty"] = line.removeprefix("listening on pty ")
        elif line.startswith("control on "):
            found["control"] = line.removeprefix("control on ")
    try:
        yield found
    finally:
        stop = box["stop"]
        assert isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
