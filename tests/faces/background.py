"""Run a virtual meter's faces in a background event loop for the duration of a ``with`` block."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TypeVar

from meterkit.faces import MeterSource
from meterkit.faces.metrics import ProtocolCounters
from meterkit.faces.runner import Face, FacesConfig, run_virtual_meter, start_faces, stop_faces
from meterkit.meter.virtual import VirtualMeter

T = TypeVar("T")


class Served:
    def __init__(self, loop: asyncio.AbstractEventLoop, lines: list[str]) -> None:
        self.loop = loop
        self.lines = lines

    def url(self, kind: str) -> str:
        """The URL announced for ``kind`` (``metrics``, ``web panel``, ``publishing``)."""
        return next(
            line.split(" ", 2)[-1] if kind == "publishing" else line.rsplit(" ", 1)[1]
            for line in self.lines
            if line.startswith(kind)
        )

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the meter's loop (the meter is not thread-safe) and return its result."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(10)


@contextmanager
def serving(
    vm: VirtualMeter,
    config: FacesConfig,
    counters: ProtocolCounters | None = None,
    tick_s: float = 0.2,
    listen: tuple[str, ...] = (),
) -> Iterator[Served]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    lines: list[str] = []
    ready = threading.Event()
    expected = sum(x is not None for x in (config.publish, config.metrics, config.web)) + len(listen)
    errors: list[BaseException] = []

    def announce(line: str) -> None:
        lines.append(line)
        if len(lines) == expected:
            ready.set()

    async def main() -> None:
        try:
            await run_virtual_meter(
                vm, config, stop, announce=announce, counters=counters, tick_s=tick_s, listen=listen
            )
        except BaseException as exc:
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(15)
    if errors:
        raise errors[0]
    try:
        yield Served(loop, lines)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        loop.close()


@contextmanager
def serving_sources(sources: list[MeterSource], config: FacesConfig) -> Iterator[Served]:
    """:func:`meterkit.faces.runner.start_faces` for several meters (not ticked) in a background loop."""
    loop = asyncio.new_event_loop()
    lines: list[str] = []
    started: Future[list[Face]] = Future()

    async def start() -> None:
        try:
            started.set_result(await start_faces(sources, config, announce=lines.append))
        except BaseException as exc:
            started.set_exception(exc)

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    faces = started.result(15)
    try:
        yield Served(loop, lines)
    finally:
        asyncio.run_coroutine_threadsafe(stop_faces(faces), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        loop.close()
