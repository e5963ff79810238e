"""``meterkit serve``: the virtual meter on TCP, a pseudo-terminal or a serial port, with an optional control channel.

:func:`run_meter` is the whole command as a library call (tests run it in a thread with their own ``stop`` event).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import ConfigError
from ..iec62056_21.trace import FrameRecord, TraceHook
from ..meter.control import ControlChannel
from ..meter.virtual import VirtualMeter, load_virtual_meter
from ..transport.control import ControlServer, parse_control_url, start_control_server
from ..transport.server import start_server

__all__ = ["register", "run_meter"]

TICK_S = 1.0


async def run_meter(
    meter: VirtualMeter,
    listen: list[str],
    *,
    control: str | None = None,
    control_allow_remote: bool = False,
    baud_emulation: bool = False,
    trace: TraceHook | None = None,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    tick_s: float = TICK_S,
) -> None:
    """Serve ``meter`` until ``stop`` is set: the optical port on every ``listen`` endpoint, the control channel on
    ``control``; ``ready`` gets each ``listening on ...`` / ``control on ...`` line once that endpoint accepts."""
    channel = ControlChannel(meter)

    async def ticker() -> None:  # a live meter keeps measuring between sessions (not while its supply is off)
        while True:
            if channel.powered:
                meter.tick()
            await asyncio.sleep(tick_s)

    tick_task = asyncio.create_task(ticker())
    handle = None
    control_server: ControlServer | None = None
    try:
        handle = await start_server(
            meter,
            listen or ["tcp://127.0.0.1:2100"],
            baud_emulation=baud_emulation,
            trace=trace,
            powered=lambda: channel.powered,
        )
        if control is not None:
            control_server = await start_control_server(channel.handle, control, allow_remote=control_allow_remote)
        if ready is not None:
            for ep in handle.endpoints:
                ready(f"listening on {ep}")
            if control_server is not None:
                ready(f"control on {control_server.url}")
        await (stop or asyncio.Event()).wait()
    finally:
        tick_task.cancel()
        if control_server is not None:
            await control_server.close()
        if handle is not None:
            await handle.close()
        meter.save()


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
    ) -> int:
        """Serve the meter's optical port until interrupted (SIGINT/SIGTERM)."""
        if control is not None:
            try:
                parse_control_url(control, allow_remote=control_allow_remote)
            except ConfigError as exc:
                raise typer.BadParameter(str(exc), param_hint="--control") from exc
        meter: VirtualMeter = load_virtual_meter(config, state, replay=replay)
        if bench:
            meter.security.bench_mode()
        forwarder = None
        if headend is not None:
            if state is None:
                raise typer.BadParameter("--headend keeps undelivered alarms in the state file: give --state too")
            from ..headend.mqtt import MqttForwarder

            forwarder = MqttForwarder(state, headend, meter.config.identity.serial)
            forwarder.start()
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
            try:
                await run_meter(
                    meter,
                    listen or ["tcp://127.0.0.1:2100"],
                    control=control,
                    control_allow_remote=control_allow_remote,
                    baud_emulation=baud_emulation,
                    trace=hook if trace else None,
                    ready=ready,
                    stop=stop,
                )
            finally:
                if forwarder is not None:
                    forwarder.stop()

        asyncio.run(main())
        sys.stdout.flush()
        return 0
