"""``meterkit serve``: the virtual meter on TCP, a pseudo-terminal or a serial port, with an optional control channel.

A thin shell over the meter host (:func:`meterkit.host.run_meter`, the whole command as a library call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import ConfigError
from ..host import run_meter
from ..iec62056_21.trace import FrameRecord
from ..meter.virtual import VirtualMeter, load_virtual_meter
from ..transport.adjust_port import check_adjust_url
from ..transport.control import parse_control_url
from ..transport.server import check_listen_url
from .faces_options import faces_config

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
    ) -> int:
        """Serve the meter's optical port until interrupted (SIGINT/SIGTERM)."""
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
        faces = faces_config(publish, discovery_prefix, metrics, web, web_allow_remote, web_token_file)
        meter: VirtualMeter = load_virtual_meter(config, state, replay=replay)
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
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
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
            )

        asyncio.run(main())
        sys.stdout.flush()
        return 0
