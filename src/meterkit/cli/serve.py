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
from ..transport.control import parse_control_url

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
    ) -> int:
        """Serve the meter's optical port until interrupted (SIGINT/SIGTERM)."""
        if fleet is not None or history is not None or port_per_meter:
            if fleet is None:
                raise typer.BadParameter("--history and --port-per-meter need --fleet")
            if config or replay or control or headend or bench or trace or baud_emulation:
                raise typer.BadParameter("with --fleet only --history, --state, --listen and --port-per-meter apply")
            from .serve_fleet import serve_fleet

            return serve_fleet(fleet, history=history, state=state, listen=listen, port_per_meter=port_per_meter)
        if control is not None:
            try:
                parse_control_url(control, allow_remote=control_allow_remote)
            except ConfigError as exc:
                raise typer.BadParameter(str(exc), param_hint="--control") from exc
        if headend is not None and state is None:
            raise typer.BadParameter("--headend keeps undelivered alarms in the state file: give --state too")
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
                state=state,
                baud_emulation=baud_emulation,
                trace=hook if trace else None,
                ready=ready,
                stop=stop,
            )

        asyncio.run(main())
        sys.stdout.flush()
        return 0
