"""The fleet host: every meter of a fleet served in one process, on one endpoint by device address (multi-drop) or
on one TCP port per meter, with one non-volatile store for the whole fleet.

``meterkit serve --fleet FILE [--history SPAN] [--state FILE]`` is a thin shell over :func:`run_fleet`.  Start-up:

1. the fleet store (:class:`~meterkit.fleet.store.FleetStore`, one SQLite WAL file) is opened; every meter it holds
   is loaded from it (a restart: its power failure is logged at its last commit, as a single meter's restart does);
2. the meters it does not hold are simulated over ``history`` (vectorised, :func:`~meterkit.fleet.simulate_fleet`)
   and each is imported in one transaction, then loaded - both through the meter's own methods
   (:meth:`~meterkit.meter.core.Meter.load_history`);
3. every meter is asked for its identification over the bus (in memory) before the endpoints open, so
   ``listening on ...`` is printed only once every meter answers.

A fleet's meters hold their clocks at the end of their history (as ``--replay`` does): registers, maximum demand
and load profile stay as the history left them while a collector reads them; security time runs on in real time so
lockouts expire.  Every change made over the port (a billing reset, a parameter write, an event) is committed to the
fleet store by the single meter's commit rules.

With ``faces`` (``--publish/--metrics/--web``) the live faces of every meter start once the endpoints listen
(:class:`~meterkit.host.live.FleetLiveFaces`); their MQTT outbox lives in the fleet store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ..clock import Clock, SystemClock
from ..errors import ConfigError
from ..fleet import FleetConfig, MeterHistory, MeterSpec, simulate_fleet
from ..fleet.store import FleetNv, FleetStore
from ..iec62056_21.events import Transmit
from ..meter.core import BillingRecord, Event, MeterImage, ProfileRow
from ..meter.virtual import VirtualMeter
from ..storage import NvStore
from ..transport.multidrop import MultiDropBus
from ..transport.server import ServerHandle, start_server

if TYPE_CHECKING:
    from ..faces.runner import FacesConfig
    from .live import FleetLiveFaces

__all__ = ["FleetHost", "ServedMeter", "build_fleet", "run_fleet"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class ServedMeter:
    """One meter of a served fleet and its place in the fleet store."""

    serial: str
    meter: VirtualMeter
    nv: FleetNv


@dataclass(frozen=True)
class _SharedTimes:
    """A history whose profile rows share their end times with every other meter's (the fleet's meters capture at
    the same instants): one ``datetime`` per instant instead of one per meter, a third of a row's memory."""

    image: MeterImage
    times: dict[int, datetime]

    @property
    def state(self) -> dict[str, Any]:
        return self.image.state

    @property
    def billing(self) -> Sequence[BillingRecord]:
        return self.image.billing

    @property
    def events(self) -> Sequence[Event]:
        return self.image.events

    def profile_rows(self) -> list[ProfileRow]:
        times = self.times
        image = self.image
        if isinstance(image, MeterHistory):  # straight from its arrays, without a first list of rows
            return [
                ProfileRow(
                    times.get(t) or times.setdefault(t, _EPOCH + timedelta(seconds=t)), e[0], e[1], e[2], e[3], st
                )
                for t, e, st in zip(
                    image.profile_end_s.tolist(),
                    image.profile_energy.tolist(),
                    image.profile_status.tolist(),
                    strict=True,
                )
            ]
        return [
            ProfileRow(times.setdefault(_epoch_s(r.end), r.end), r.a_plus, r.a_minus, r.r_plus, r.r_minus, r.status)
            for r in image.profile_rows()
        ]


def _epoch_s(t: datetime) -> int:
    return int((t - _EPOCH).total_seconds())


def _serve_one(
    spec: MeterSpec,
    store: FleetStore,
    clock: Clock,
    image: MeterImage | None,
    *,
    alive: datetime | None,
    times: dict[int, datetime],
) -> ServedMeter:
    config = spec.meter_config()
    vm = VirtualMeter(config, clock=clock, store=NvStore(":memory:"), follow_clock=False)
    if image is not None:
        vm.meter.load_history(_SharedTimes(image, times))
    nv = FleetNv(store, spec.serial, vm.meter)
    if image is None:
        nv.save_snapshot()
    nv.attach()
    if alive is not None:  # the time since the last commit was a power failure, as for a single meter's restart
        vm.meter.power_down(alive)
        vm.meter.power_up(alive)
    vm.replay_intervals(())  # hold the meter's clock where its history ends
    return ServedMeter(spec.serial, vm, nv)


def build_fleet(
    fleet: FleetConfig,
    store: FleetStore,
    history: timedelta | None = None,
    *,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> list[ServedMeter]:
    """Every meter of ``fleet``, loaded from ``store`` or (the ones it lacks) simulated over ``history``, imported
    and loaded; in the fleet's serial order."""
    clk = clock or SystemClock()
    specs = list(fleet.meters())
    held = store.serials()
    served: dict[str, ServedMeter] = {}
    times: dict[int, datetime] = {}
    stored = [s for s in specs if s.serial in held]
    for i, spec in enumerate(stored, 1):
        keep = spec.meter_config().load_profile
        image = store.read(spec.serial, keep_rows=keep.keep_days * 1440 // keep.capture_min)
        served[spec.serial] = _serve_one(spec, store, clk, image, alive=image.alive, times=times)
        if progress is not None:
            progress("loaded", i, len(stored))
    missing = [s for s in specs if s.serial not in held]
    if missing and history is not None:
        by_serial = {s.serial: s for s in missing}
        for i, simulated in enumerate(simulate_fleet(fleet, history, specs=missing), 1):
            keep = simulated.config.load_profile
            store.import_history(
                simulated.serial, simulated, simulated.end, keep_rows=keep.keep_days * 1440 // keep.capture_min
            )
            served[simulated.serial] = _serve_one(
                by_serial[simulated.serial], store, clk, simulated, alive=None, times=times
            )
            if progress is not None:
                progress("simulated", i, len(missing))
    elif missing:
        for i, spec in enumerate(missing, 1):
            served[spec.serial] = _serve_one(spec, store, clk, None, alive=None, times=times)
            if progress is not None:
                progress("started", i, len(missing))
    return [served[s.serial] for s in specs]


def check_answers(bus: MultiDropBus, addresses: Iterable[str]) -> list[str]:
    """Sign on to every address over the bus (in memory); the addresses that gave no identification."""
    silent = []
    for address in addresses:
        line = bus.open_line()
        line.receive_data(f"/?{address}!\r\n".encode("ascii"), 0.0)
        line.process(0.0)
        sent = b"".join(d.data for d in line.outputs() if isinstance(d, Transmit))
        line.close("probe")
        if not sent.startswith(b"/"):
            silent.append(address)
    return silent


def port_range(listen: str, count: int) -> list[str]:
    """``tcp://HOST:PORT`` as the first of ``count`` consecutive ports."""
    parsed = urlparse(listen)
    if parsed.scheme != "tcp" or not parsed.port:
        raise ConfigError(f"--listen {listen}: one port per meter needs tcp://HOST:PORT (the first port of the range)")
    if parsed.port + count - 1 > 65535:
        raise ConfigError(f"--listen {listen}: {count} meters need ports up to {parsed.port + count - 1}, beyond 65535")
    host = parsed.hostname or "127.0.0.1"
    return [f"tcp://{host}:{parsed.port + i}" for i in range(count)]


@dataclass
class FleetHost:
    """Serves built fleet meters: multi-drop on every ``listen`` endpoint, or one TCP port per meter."""

    meters: list[ServedMeter]
    store: FleetStore
    listen: list[str] = field(default_factory=lambda: ["tcp://127.0.0.1:2100"])
    port_per_meter: bool = False
    #: derive every meter's password key (scrypt, about 0.1 s each) in a worker thread once listening, so that no
    #: meter's first password sign-on holds up the event loop (and every other meter's answer) for it
    warm_keys: bool = True
    #: the live faces of every meter (MQTT, metrics, web panel), None: none
    faces: FacesConfig | None = None
    _handles: list[ServerHandle] = field(default_factory=list, init=False)
    _live: FleetLiveFaces | None = field(default=None, init=False)
    _warming: asyncio.Task[int] | None = field(default=None, init=False)

    def bus(self) -> MultiDropBus:
        return MultiDropBus({m.meter.meter.device_address: m.meter for m in self.meters})

    async def start(self) -> list[str]:
        """Check that every meter answers, then open the endpoints; the ``listening on ...`` lines."""
        bus = self.bus()
        silent = check_answers(bus, [m.meter.meter.device_address for m in self.meters])
        if silent:
            raise ConfigError(f"{len(silent)} meter(s) of the fleet do not answer, e.g. {silent[0]}")
        if self.faces is not None:
            from .live import FleetLiveFaces  # paho-mqtt and the faces only when asked for

            self._live = FleetLiveFaces([m.meter for m in self.meters], self.faces, self.store.store)
        try:
            if not self.port_per_meter:
                handle = await start_server(bus, self.listen)
                self._handles.append(handle)
                lines = [f"listening on {ep}" for ep in handle.endpoints]
            else:
                if len(self.listen) != 1:
                    raise ConfigError(
                        "one port per meter: give one --listen tcp://HOST:PORT, the first port of the range"
                    )
                urls = port_range(self.listen[0], len(self.meters))
                live = self._live
                for served, url in zip(self.meters, urls, strict=True):
                    trace = None if live is None else live.tap(served.meter)
                    self._handles.append(await start_server(served.meter, [url], trace=trace))
                lines = [f"listening on {urls[0]}-{urlparse(urls[-1]).port} (one port per meter, in serial order)"]
            if self._live is not None:
                lines += await self._live.start()
            self._start_warming()
        except BaseException:
            await self.stop()
            raise
        return lines

    def _start_warming(self) -> None:
        if self.warm_keys and self._warming is None:
            self._warming = asyncio.create_task(warm_password_keys(self.meters), name="fleet password keys")

    async def stop(self) -> None:
        if self._live is not None:
            await self._live.stop()
            self._live = None
        if self._warming is not None:
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming
            self._warming = None
        for handle in self._handles:
            await handle.close()
        self._handles.clear()
        with self.store.transaction():
            for served in self.meters:
                served.nv.save_snapshot()

    async def run(self, *, ready: Callable[[str], None] | None = None, stop: asyncio.Event | None = None) -> None:
        lines = await self.start()
        try:
            if ready is not None:
                for line in lines:
                    ready(line)
            await (stop or asyncio.Event()).wait()
        finally:
            await self.stop()


async def warm_password_keys(meters: Sequence[ServedMeter]) -> int:
    """Derive the password key of every meter that lacks it, one at a time in a worker thread (scrypt releases the
    GIL, so the event loop keeps answering); the number derived.  Cancelling stops after the meter in hand."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-keys")
    try:
        for served in meters:
            await loop.run_in_executor(pool, served.meter.security.prepare_password_key)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    log.info("password keys of %d meters derived", len(meters))
    return len(meters)


async def run_fleet(
    fleet: FleetConfig,
    *,
    store: FleetStore,
    history: timedelta | None = None,
    listen: list[str] | None = None,
    port_per_meter: bool = False,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    progress: Progress | None = None,
    faces: FacesConfig | None = None,
) -> None:
    """Build the fleet (from the store, or simulated over ``history``) and serve it until ``stop`` is set, with the
    live ``faces`` of every meter when given."""
    meters = build_fleet(fleet, store, history, progress=progress)
    log.info("%d meters ready", len(meters))
    await asyncio.sleep(0.05)  # a stop asked for while the fleet was built (SIGINT) ends here, before listening
    if stop is not None and stop.is_set():
        await FleetHost(meters, store).stop()
        return
    host = FleetHost(meters, store, listen or ["tcp://127.0.0.1:2100"], port_per_meter, faces=faces)
    await host.run(ready=ready, stop=stop)
