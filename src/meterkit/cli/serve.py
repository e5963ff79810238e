"""``meterkit serve``: the virtual meter on TCP, a pseudo-terminal or a serial port, with an optional control channel.

A thin shell over the meter host (:func:`meterkit.host.run_meter`, the whole command as a library call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ..errors import ConfigError
from ..host import run_meter
from ..iec62056_21.trace import FrameRecord
from ..meter.virtual import VirtualMeter, load_virtual_meter
from ..transport.adjust_port import check_adjust_url
from ..transport.control import parse_control_url
from ..transport.server import ConnectionLimits, check_listen_url
from .faces_options import faces_config

if TYPE_CHECKING:
    from ..faces.runner import FacesConfig

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``serve``."""

    @app.command("serve")
    def serve_cmd(
        config: Annotated[Path | None, typer.Option("--config", help="Meter configuration (TOML).")] = None,
        state: Annotated[Path | None, typer.Option("--state", help="Non-volatile memory file (SQLite).")] = None,
        listen: Annotated[
            list[str] | None,
            typer.Option("--listen", help="tcp://HOST:PORT (default tcp://127.0.0.1:2100), pty, serial:///dev/X"),
        ] = None,
        replay: Annotated[Path | None, typer.Option("--replay", help="Load-profile file to run through first.")] = None,
        baud_emulation: Annotated[
            bool, typer.Option("--baud-emulation", help="Pace output at 10 bits per character of the current rate.")
        ] = False,
        trace: Annotated[bool, typer.Option("--trace", help="Print every frame both ways on stderr.")] = False,
        headend: Annotated[
            str | None,
            typer.Option("--headend", help="Forward alarms to mqtt://HOST[:PORT]/TOPIC (needs --state)."),
        ] = None,
        bench: Annotated[
            bool,
            typer.Option(
                "--bench", help="Test-bench mode: the terminal cover is off (logged), so level-3 writes work."
            ),
        ] = False,
        control: Annotated[
            str | None,
            typer.Option(
                "--control",
                help="Control channel tcp://127.0.0.1:PORT (cover, button, power, load); it is physical access.",
            ),
        ] = None,
        control_allow_remote: Annotated[
            bool, typer.Option("--control-allow-remote", help="Allow a non-loopback --control address.")
        ] = False,
        publish: Annotated[
            str | None,
            typer.Option("--publish", help="Publish readings to mqtt://HOST[:PORT]/PREFIX (Home Assistant discovery)."),
        ] = None,
        discovery_prefix: Annotated[
            str, typer.Option("--discovery-prefix", help="Home Assistant discovery prefix.")
        ] = "homeassistant",
        metrics: Annotated[
            str | None, typer.Option("--metrics", help="OpenMetrics endpoint HOST:PORT (/metrics).")
        ] = None,
        web: Annotated[
            str | None, typer.Option("--web", help="Web front panel HOST:PORT; it is physical access.")
        ] = None,
        web_allow_remote: Annotated[
            bool, typer.Option("--web-allow-remote", help="Allow a non-loopback --web address (needs a token).")
        ] = False,
        web_token_file: Annotated[
            Path | None, typer.Option("--web-token-file", help="File holding the web panel's token (16+ characters).")
        ] = None,
        adjust_port: Annotated[
            str | None,
            typer.Option(
                "--adjust-port",
                help="Adjustment port tcp://127.0.0.1:PORT or pty: the calibration header (factory only).",
            ),
        ] = None,
        adopt_state: Annotated[
            bool,
            typer.Option(
                "--adopt-state",
                help="Take over a state file written by another meter identity or settings (logged in P.98).",
            ),
        ] = False,
        fleet: Annotated[
            Path | None,
            typer.Option("--fleet", help="Serve every meter of a fleet file, by device address on each --listen."),
        ] = None,
        history: Annotated[
            str | None, typer.Option("--history", help="With --fleet: simulate SPAN (31d, 12h) of history first.")
        ] = None,
        port_per_meter: Annotated[
            bool,
            typer.Option("--port-per-meter", help="With --fleet: one TCP port per meter from the --listen port on."),
        ] = False,
        max_connections: Annotated[
            int | None,
            typer.Option("--max-connections", min=1, max=4096, help="Connections a TCP endpoint holds (default 64)."),
        ] = None,
        idle_timeout: Annotated[
            float | None,
            typer.Option(
                "--idle-timeout", min=1, max=3600, help="Seconds a TCP connection may wait for a sign-on (30)."
            ),
        ] = None,
    ) -> int:
        """Serve the meter's optical port until interrupted (SIGINT/SIGTERM)."""
        if fleet is not None or history is not None or port_per_meter:
            if fleet is None:
                raise typer.BadParameter("--history and --port-per-meter need --fleet")
            if (
                config
                or replay
                or control
                or headend
                or bench
                or trace
                or baud_emulation
                or adjust_port
                or adopt_state
                or max_connections is not None
                or idle_timeout is not None
            ):
                raise typer.BadParameter(
                    "with --fleet only --history, --state, --listen, --port-per-meter and the faces (--publish, "
                    "--metrics, --web) apply"
                )
            from .serve_fleet import serve_fleet

            fleet_faces = faces_config(publish, discovery_prefix, metrics, web, web_allow_remote, web_token_file)
            return serve_fleet(
                fleet, history=history, state=state, listen=listen, port_per_meter=port_per_meter, faces=fleet_faces
            )
        if control is not None:
            try:
                parse_control_url(control, allow_remote=control_allow_remote)
            except ConfigError as exc:
                raise typer.BadParameter(str(exc), param_hint="--control") from exc
        for url in listen or []:
            try:
                check_listen_url(url)
            except ConfigError as exc:
                raise typer.BadParameter(str(exc).removeprefix("--listen "), param_hint="--listen") from exc
        if adjust_port is not None:
            try:
                check_adjust_url(adjust_port)
            except ConfigError as exc:
                raise typer.BadParameter(str(exc), param_hint="--adjust-port") from exc
            if adjust_port in (listen or ["tcp://127.0.0.1:2100"]) and not adjust_port.endswith(":0"):
                raise typer.BadParameter("the adjustment port is a separate endpoint from every optical one")
        if headend is not None and state is None:
            raise typer.BadParameter("--headend keeps undelivered alarms in the state file: give --state too")
        if headend is not None:
            _check_headend(headend)
        faces = faces_config(publish, discovery_prefix, metrics, web, web_allow_remote, web_token_file)
        with _stop_on_signals() as stopped:
            return _serve(
                stopped,
                config=config,
                state=state,
                listen=listen,
                replay=replay,
                baud_emulation=baud_emulation,
                trace=trace,
                headend=headend,
                bench=bench,
                control=control,
                control_allow_remote=control_allow_remote,
                adopt_state=adopt_state,
                adjust_port=adjust_port,
                faces=faces,
                limits=_limits(max_connections, idle_timeout),
            )


def _limits(max_connections: int | None, idle_timeout: float | None) -> ConnectionLimits | None:
    """``--max-connections`` / ``--idle-timeout`` over the defaults of :class:`ConnectionLimits` (None: neither)."""
    if max_connections is None and idle_timeout is None:
        return None
    default = ConnectionLimits()
    return ConnectionLimits(max_connections or default.max_connections, idle_timeout or default.idle_timeout)


def _serve(
    stopped: list[int],
    *,
    config: Path | None,
    state: Path | None,
    listen: list[str] | None,
    replay: Path | None,
    baud_emulation: bool,
    trace: bool,
    headend: str | None,
    bench: bool,
    control: str | None,
    control_allow_remote: bool,
    adopt_state: bool,
    adjust_port: str | None,
    faces: FacesConfig | None,
    limits: ConnectionLimits | None,
) -> int:
    try:
        meter: VirtualMeter = load_virtual_meter(config, state, replay=replay, adopt_state=adopt_state)
        if bench:
            meter.security.bench_mode()
        logging.basicConfig(level=logging.WARNING, format="meterkit: %(name)s: %(message)s")
        err = Console(stderr=True, highlight=False, soft_wrap=True)

        def hook(record: FrameRecord) -> None:
            err.print(record.format(), markup=False)

        def ready(line: str) -> None:
            print(line, flush=True)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()

            def on_signal(sig: int) -> None:
                stopped.append(sig)
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, on_signal, sig)
            await run_meter(
                meter,
                listen or ["tcp://127.0.0.1:2100"],
                control=control,
                control_allow_remote=control_allow_remote,
                headend=headend,
                adjust_port=adjust_port,
                state=state,
                baud_emulation=baud_emulation,
                trace=hook if trace else None,
                ready=ready,
                stop=stop,
                faces=faces,
                limits=limits,
            )

        asyncio.run(main())
    except _Stopped as exc:
        # before serving (the replay, opening the state): every commit is whole, the running one is rolled back
        print(
            f"meterkit serve: stopped by {signal.Signals(exc.signum).name} before serving; the state file keeps "
            "everything committed so far",
            file=sys.stderr,
            flush=True,
        )
        return 128 + exc.signum
    sys.stdout.flush()
    if stopped:
        print(f"meterkit serve: stopped by {signal.Signals(stopped[0]).name}; state committed", file=sys.stderr)
    return 0


class _Stopped(BaseException):
    """SIGINT or SIGTERM before the event loop took the signals over."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise _Stopped(signum)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[list[int]]:
    """From the very start, SIGINT and SIGTERM end ``serve`` (the replay too), not only once it serves; yields the
    list the serving loop appends the signal to that stopped it."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield []
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_headend(url: str) -> None:
    from ..headend.mqtt import parse_headend_url  # paho-mqtt only when a head-end is given

    try:
        parse_headend_url(url)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--headend") from exc
