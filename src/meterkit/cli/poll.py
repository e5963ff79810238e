"""``meterkit poll``: the collector on the command line (library: :mod:`meterkit.collector`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import TaskID

from ..collector.config import PollPlan, load_poll_config, parse_duration
from ..collector.link import parse_endpoint
from ..collector.poll import Collector, PollSettings, Summary
from ..collector.store import ProfileStore
from ..collector.targets import Credentials, Target, parse_addresses, read_password_file
from ..errors import ConfigError
from .errors import usage_error
from .render import progress_bar

if TYPE_CHECKING:
    from ..faces.runner import FacesConfig

__all__ = ["register"]


def _usage(message: str) -> NoReturn:
    usage_error(message)


def _plan(
    source: str,
    addresses: str | None,
    password_file: Path | None,
    key_file: Path | None,
    out: Path | None,
    once: bool,
    interval: str | None,
    timeout: float,
    retries: int,
    registers: list[str],
    tz: str,
    per_endpoint: int,
) -> PollPlan:
    if source.endswith(".toml") and "://" not in source:
        if addresses or password_file or key_file or out or once or interval:
            _usage("with a configuration file, give the other settings in the file")
        return load_poll_config(Path(source))
    try:
        parse_endpoint(source)
    except ConfigError as exc:
        _usage(str(exc))
    if out is None:
        _usage("give --out (or a CONFIG.toml)")
    if once == (interval is not None):
        _usage("give either --once or --interval D")
    if password_file is not None and key_file is not None:
        _usage("give either --password-file or --key-file, not both")
    try:
        every = None if interval is None else parse_duration(interval)
        listed = [""] if addresses is None else parse_addresses(addresses)  # "": the one point-to-point meter
    except ConfigError as exc:
        _usage(str(exc))
    if password_file is not None:
        creds = read_password_file(password_file)
    elif key_file is not None:
        creds = Credentials.key_file(key_file)
    else:
        creds = Credentials()
    return PollPlan(
        targets=[Target(source, a, creds) for a in listed],
        out=out,
        once=once,
        interval=every,
        timeout_s=timeout,
        retries=retries,
        backoff_s=0.5,
        registers=tuple(registers),
        tz=tz,
        per_endpoint={source: per_endpoint},
    )


def run_plan(plan: PollPlan, err: Console, *, cycles: int | None = None, faces: FacesConfig | None = None) -> Summary:
    """Poll once, or every ``plan.interval`` (``cycles`` times, or until interrupted); returns the last summary.
    ``faces``: publish what is read (MQTT, metrics) on the same event loop."""
    per = max(plan.per_endpoint.values(), default=1)
    settings = PollSettings(
        timeout_s=plan.timeout_s,
        retries=plan.retries,
        backoff_s=plan.backoff_s,
        registers=plan.registers,
        tz=plan.tz,
        per_endpoint=per,
    )
    if faces is not None:
        from .poll_faces import run_plan_with_faces  # paho-mqtt and the faces only when asked for

        return run_plan_with_faces(plan, settings, faces, err, cycles=cycles)
    store = ProfileStore(plan.out)
    n = 0
    while True:
        started = time.monotonic()
        with progress_bar(err) as bar:
            task = bar.add_task("polling meters", total=len(plan.targets))

            def advance(done: int, _total: int, task: TaskID = task) -> None:
                bar.update(task, completed=done)

            collector = Collector(plan.targets, store, settings, progress=advance)
            summary = asyncio.run(collector.run_once())
        for line in summary.lines():
            err.print(line, markup=False)
        n += 1
        if plan.once or plan.interval is None or (cycles is not None and n >= cycles):
            return summary
        wait = plan.interval.total_seconds() - (time.monotonic() - started)
        if wait > 0:
            time.sleep(wait)


def register(app: typer.Typer) -> None:
    """Add ``poll``."""

    @app.command("poll")
    def poll_cmd(
        source: Annotated[
            str, typer.Argument(metavar="PORT|CONFIG.toml", help="socket://HOST:PORT of the meters, or a config file.")
        ],
        addresses: Annotated[
            str | None,
            typer.Option(
                "--addresses",
                help="Device addresses: FIRST-LAST, ADDR, or a comma list (none: one point-to-point meter, by serial).",
            ),
        ] = None,
        password_file: Annotated[
            Path | None, typer.Option("--password-file", help="Passwords: PASSWORD, or ADDRESSES PASSWORD per line.")
        ] = None,
        key_file: Annotated[
            Path | None,
            typer.Option("--key-file", help="Key package (passphrase in METERKIT_KEY_PASSPHRASE)."),
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Output folder (partitioned Parquet).")] = None,
        once: Annotated[bool, typer.Option("--once", help="Poll every meter once and exit.")] = False,
        interval: Annotated[
            str | None, typer.Option("--interval", help="Poll every D (30s, 15m, 1h) until interrupted.")
        ] = None,
        timeout: Annotated[float, typer.Option("--timeout", help="Seconds per meter and attempt.")] = 60.0,
        retries: Annotated[int, typer.Option("--retries", help="Further attempts after a failure.")] = 2,
        registers: Annotated[
            list[str] | None, typer.Option("--register", help="Register to read too (repeatable), e.g. 1.8.0.")
        ] = None,
        tz: Annotated[str, typer.Option("--tz", help="The meters' time zone (profile stamps are local).")] = "UTC",
        per_endpoint: Annotated[
            int, typer.Option("--per-endpoint", help="Meters read at a time on the endpoint (a bus: 1).")
        ] = 1,
        mqtt: Annotated[
            str | None,
            typer.Option("--mqtt", help="Publish every register read to mqtt://HOST[:PORT]/PREFIX (HA discovery)."),
        ] = None,
        metrics: Annotated[
            str | None, typer.Option("--metrics", help="OpenMetrics endpoint HOST:PORT while polling.")
        ] = None,
        mqtt_remove: Annotated[
            bool,
            typer.Option("--mqtt-remove", help="Remove the meters' Home Assistant entities (with --mqtt) and exit."),
        ] = False,
        discovery_prefix: Annotated[
            str, typer.Option("--discovery-prefix", help="Home Assistant discovery prefix.")
        ] = "homeassistant",
    ) -> int:
        """Read many meters' load profiles (and registers) into partitioned Parquet; "meterkit demand DIR --dask"
        reads the result."""
        if timeout <= 0 or retries < 0 or per_endpoint < 1:
            _usage("--timeout must be positive, --retries at least 0, --per-endpoint at least 1")
        plan = _plan(
            source,
            addresses,
            password_file,
            key_file,
            out,
            once,
            interval,
            timeout,
            retries,
            registers or [],
            tz,
            per_endpoint,
        )
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        faces = None
        if mqtt is not None or metrics is not None or mqtt_remove:
            if mqtt_remove and mqtt is None:
                _usage("--mqtt-remove needs --mqtt (the broker to remove the entities from)")
            from .poll_faces import collector_faces

            faces = collector_faces(mqtt, metrics, discovery_prefix)
            try:
                faces.check()
            except ConfigError as exc:
                _usage(str(exc))
        if mqtt_remove and faces is not None:
            if not plan.registers:
                _usage("--mqtt-remove removes the entities of the --register addresses: give them")
            from .poll_faces import remove_collector_discovery

            waiting = remove_collector_discovery(plan, faces, plan.registers)
            if waiting:
                err.print(f"mqtt: {waiting} removal(s) not acknowledged by the broker; they stay in the outbox")
                return 1
            err.print(f"removed the entities of {len(plan.targets)} meter(s)", markup=False)
            return 0
        summary = run_plan(plan, err, faces=faces)
        return 1 if summary.failed else 0
