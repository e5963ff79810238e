"""OpenMetrics for meters: register values, optical-port protocol counters and poll health (``--metrics``).

Names follow the Prometheus conventions: base units (joules, watts, volts, amperes, hertz, seconds), ``_total`` on
counters, the unit in the name.  A register becomes a sample of the family of its physical quantity with the labels
``meter`` (serial), ``obis`` (address) and ``unit`` (the meter's own unit, e.g. ``kWh``), its value converted to the
base unit: 1 kWh = 3.6e6 J, 1 kW = 1000 W.  Reactive and apparent quantities keep their own families
(``var``/``volt_amperes``, and ``var_seconds``/``volt_ampere_seconds`` for their energies), since they are not watts
or joules.  The full list is in docs/faces.md.

The host and the collector own one :class:`ProtocolCounters` and one :class:`PollHealth` and call their methods as
things happen (thread-safe); :func:`render_openmetrics` reads them at scrape time.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from .http import HttpServer, Request, Response
from .source import MeterSource, Reading

__all__ = [
    "CONTENT_TYPE",
    "MetricsFace",
    "PollHealth",
    "ProtocolCounters",
    "render_openmetrics",
    "render_openmetrics_async",
]

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_PREFIX = {"": Decimal(1), "k": Decimal(1000), "M": Decimal(1_000_000)}
# base unit of the meter (without k/M) -> (family, type, OpenMetrics unit, factor to the base unit, help)
_FAMILIES: dict[str, tuple[str, str, str, Decimal, str]] = {
    "Wh": ("meterkit_energy_joules", "counter", "joules", Decimal(3600), "Active energy register"),
    "varh": (
        "meterkit_reactive_energy_var_seconds",
        "counter",
        "var_seconds",
        Decimal(3600),
        "Reactive energy register",
    ),
    "VAh": (
        "meterkit_apparent_energy_volt_ampere_seconds",
        "counter",
        "volt_ampere_seconds",
        Decimal(3600),
        "Apparent energy register",
    ),
    "W": ("meterkit_power_watts", "gauge", "watts", Decimal(1), "Active power or demand register"),
    "var": ("meterkit_reactive_power_vars", "gauge", "vars", Decimal(1), "Reactive power register"),
    "VA": ("meterkit_apparent_power_volt_amperes", "gauge", "volt_amperes", Decimal(1), "Apparent power or demand"),
    "V": ("meterkit_voltage_volts", "gauge", "volts", Decimal(1), "Voltage register"),
    "A": ("meterkit_current_amperes", "gauge", "amperes", Decimal(1), "Current register"),
    "Hz": ("meterkit_frequency_hertz", "gauge", "hertz", Decimal(1), "Frequency register"),
}
_RATIO = ("meterkit_power_factor_ratio", "gauge", "ratio", Decimal(1), "Power factor register")


def _family_of(reading: Reading) -> tuple[str, str, str, Decimal, str] | None:
    if not isinstance(reading.value, Decimal):
        return None
    unit = reading.unit
    if unit == "" and reading.address.split(".")[1:2] == ["7"]:
        return _RATIO
    for prefix, scale in _PREFIX.items():
        base = unit.removeprefix(prefix) if prefix else unit
        if (not prefix or unit.startswith(prefix)) and base in _FAMILIES:
            name, kind, om_unit, factor, help_ = _FAMILIES[base]
            return name, kind, om_unit, factor * scale, help_
    return None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: Decimal | float | int) -> str:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text if text not in ("-0",) else "0"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _ts(at: datetime) -> Decimal:
    return Decimal(str(at.timestamp()))


@dataclass(frozen=True, slots=True)
class _PortCounts:
    sessions: int = 0
    naks: int = 0
    bcc_errors: int = 0
    lockouts: int = 0
    last_activity: datetime | None = None


class ProtocolCounters:
    """Optical-port counters per meter, incremented by whoever runs the protocol (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, _PortCounts] = defaultdict(_PortCounts)
        self._errors: dict[tuple[str, str], int] = defaultdict(int)

    def _bump(self, meter: str, **by: int) -> None:
        counts = self._counts[meter]
        self._counts[meter] = replace(counts, **{name: getattr(counts, name) + n for name, n in by.items()})

    def session(self, meter: str) -> None:
        with self._lock:
            self._bump(meter, sessions=1)

    def nak(self, meter: str) -> None:
        with self._lock:
            self._bump(meter, naks=1)

    def bcc_error(self, meter: str) -> None:
        with self._lock:
            self._bump(meter, bcc_errors=1)

    def error_answer(self, meter: str, code: str) -> None:
        """An error data set answered (``ER01``...)."""
        with self._lock:
            self._errors[(meter, code)] += 1

    def lockout(self, meter: str) -> None:
        with self._lock:
            self._bump(meter, lockouts=1)

    def activity(self, meter: str, at: datetime) -> None:
        """Bytes crossed the optical port (the web panel's port LED)."""
        with self._lock:
            self._counts[meter] = replace(self._counts[meter], last_activity=at)

    def last_activity(self, meter: str) -> datetime | None:
        with self._lock:
            counts = self._counts.get(meter)
            return None if counts is None else counts.last_activity

    def snapshot(self) -> tuple[dict[str, _PortCounts], dict[tuple[str, str], int]]:
        with self._lock:
            return (
                dict(self._counts),
                dict(self._errors),
            )


@dataclass(frozen=True, slots=True)
class _PollCounts:
    successes: int = 0
    failures: int = 0
    last_success: datetime | None = None
    last_duration_s: float | None = None
    up: bool = False


class PollHealth:
    """The collector's polls per meter (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._polls: dict[str, _PollCounts] = defaultdict(_PollCounts)

    def succeeded(self, meter: str, at: datetime, duration_s: float) -> None:
        with self._lock:
            p = self._polls[meter]
            self._polls[meter] = replace(
                p, successes=p.successes + 1, last_success=at, last_duration_s=duration_s, up=True
            )

    def failed(self, meter: str, duration_s: float | None = None) -> None:
        with self._lock:
            p = self._polls[meter]
            self._polls[meter] = replace(
                p,
                failures=p.failures + 1,
                up=False,
                last_duration_s=p.last_duration_s if duration_s is None else duration_s,
            )

    def snapshot(self) -> dict[str, _PollCounts]:
        with self._lock:
            return dict(self._polls)


class _Family:
    def __init__(self, name: str, kind: str, help_: str, unit: str = "") -> None:
        self.name, self.kind, self.help, self.unit = name, kind, help_, unit
        self.samples: list[str] = []

    def add(self, value: Decimal | float | int, suffix: str = "", **labels: str) -> None:
        self.samples.append(f"{self.name}{suffix}{_labels(**labels)} {_number(value)}")

    def text(self) -> str:
        head = f"# TYPE {self.name} {self.kind}\n"
        if self.unit:
            head += f"# UNIT {self.name} {self.unit}\n"
        head += f"# HELP {self.name} {self.help}\n"
        return head + "".join(s + "\n" for s in self.samples)


class _Renderer:
    """The OpenMetrics text built meter by meter (a fleet's scrape yields to the event loop between meters)."""

    def __init__(self, registers: Sequence[str] | None = None) -> None:
        self.families: dict[str, _Family] = {}
        self.registers = None if registers is None else frozenset(registers)

    def family(self, name: str, kind: str, help_: str, unit: str = "") -> _Family:
        if name not in self.families:
            self.families[name] = _Family(name, kind, help_, unit)
        return self.families[name]

    def meter(self, source: MeterSource) -> None:
        if not source.serial:  # a point-to-point meter not read yet
            return
        family = self.family
        ident = source.identification()
        serial = ident.serial
        family("meterkit_meter", "info", "The meter's identification").add(
            1, "_info", meter=serial, manufacturer=ident.manufacturer, model=ident.model
        )
        for reading in source.readings(self.registers):
            if reading.address == "F.F" and isinstance(reading.value, str):
                family("meterkit_error_register", "gauge", "Error register F.F (bits)").add(
                    int(reading.value, 16), meter=serial
                )
                continue
            spec = _family_of(reading)
            if spec is None:
                continue
            name, kind, om_unit, factor, help_ = spec
            assert isinstance(reading.value, Decimal)
            family(name, kind, help_, om_unit).add(
                reading.value * factor,
                "_total" if kind == "counter" else "",
                meter=serial,
                obis=reading.address,
                unit=reading.unit,
            )
            if reading.max_at is not None:
                family(
                    "meterkit_max_demand_timestamp_seconds",
                    "gauge",
                    "End of the window of the maximum demand",
                    "seconds",
                ).add(_ts(reading.max_at), meter=serial, obis=reading.address)
        status = source.status()
        family("meterkit_meter_powered", "gauge", "1 while the meter has supply").add(int(status.powered), meter=serial)
        family("meterkit_relay_closed", "gauge", "1 while the supply relay is closed").add(
            int(status.relay_closed), meter=serial
        )
        family("meterkit_cover_open", "gauge", "1 while the terminal cover is open").add(
            int(status.cover_open), meter=serial
        )

    def counters_and_health(self, counters: ProtocolCounters | None, health: PollHealth | None) -> None:
        family = self.family
        if counters is not None:
            counts, errors = counters.snapshot()
            for meter, c in sorted(counts.items()):
                family("meterkit_sessions", "counter", "Optical-port sessions").add(c.sessions, "_total", meter=meter)
                family("meterkit_naks", "counter", "NAKs sent or received").add(c.naks, "_total", meter=meter)
                family("meterkit_bcc_errors", "counter", "Messages with a wrong block check character").add(
                    c.bcc_errors, "_total", meter=meter
                )
                family("meterkit_lockouts", "counter", "Port lockouts after failed authentication").add(
                    c.lockouts, "_total", meter=meter
                )
                if c.last_activity is not None:
                    family(
                        "meterkit_port_last_activity_timestamp_seconds", "gauge", "Last optical-port traffic", "seconds"
                    ).add(_ts(c.last_activity), meter=meter)
            for (meter, code), n in sorted(errors.items()):
                family("meterkit_error_answers", "counter", "Error answers by code (ER01...)").add(
                    n, "_total", meter=meter, code=code
                )
        if health is not None:
            for meter, p in sorted(health.snapshot().items()):
                family("meterkit_poll_successes", "counter", "Successful polls").add(p.successes, "_total", meter=meter)
                family("meterkit_poll_failures", "counter", "Failed polls").add(p.failures, "_total", meter=meter)
                family("meterkit_up", "gauge", "1 when the last poll of the meter succeeded").add(
                    int(p.up), meter=meter
                )
                if p.last_success is not None:
                    family(
                        "meterkit_poll_last_success_timestamp_seconds",
                        "gauge",
                        "Time of the last successful poll",
                        "seconds",
                    ).add(_ts(p.last_success), meter=meter)
                if p.last_duration_s is not None:
                    family("meterkit_poll_duration_seconds", "gauge", "Duration of the last poll", "seconds").add(
                        p.last_duration_s, meter=meter
                    )

    def text(self) -> str:
        return "".join(f.text() for f in self.families.values()) + "# EOF\n"


def render_openmetrics(
    sources: Iterable[MeterSource],
    counters: ProtocolCounters | None = None,
    health: PollHealth | None = None,
    *,
    registers: Sequence[str] | None = None,
) -> str:
    """The OpenMetrics text of ``sources`` (their ``registers`` only, when given), ``counters`` and ``health``."""
    renderer = _Renderer(registers)
    for source in sources:
        renderer.meter(source)
    renderer.counters_and_health(counters, health)
    return renderer.text()


async def render_openmetrics_async(
    sources: Iterable[MeterSource],
    counters: ProtocolCounters | None = None,
    health: PollHealth | None = None,
    *,
    registers: Sequence[str] | None = None,
    chunk: int = 50,
) -> str:
    """:func:`render_openmetrics` that lets the event loop run between every ``chunk`` meters."""
    renderer = _Renderer(registers)
    for n, source in enumerate(sources, 1):
        renderer.meter(source)
        if n % chunk == 0:
            await asyncio.sleep(0)
    renderer.counters_and_health(counters, health)
    return renderer.text()


class MetricsFace:
    """``GET /metrics`` (and ``/``) in OpenMetrics text."""

    name = "metrics"

    def __init__(
        self,
        sources: Sequence[MeterSource],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        counters: ProtocolCounters | None = None,
        health: PollHealth | None = None,
        registers: Sequence[str] | None = None,
    ) -> None:
        self.sources = list(sources)
        self.counters = counters
        self.health = health
        #: the registers exposed (None: every one a meter has)
        self.registers = None if registers is None else tuple(registers)
        self.server = HttpServer(host, port, self._handle, name="metrics")

    @property
    def url(self) -> str:
        return self.server.url + "/metrics"

    async def _handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(status=405, body=b"405 only GET\n", headers={"Allow": "GET, HEAD"})
        if request.path not in ("/", "/metrics"):
            return Response(status=404, body=b"404 try /metrics\n")
        text = await render_openmetrics_async(self.sources, self.counters, self.health, registers=self.registers)
        body = text.encode()
        return Response(body=b"" if request.method == "HEAD" else body, content_type=CONTENT_TYPE)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
