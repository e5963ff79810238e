"""``meterkit serve``: the virtual meter on TCP, a pseudo-terminal or a serial port."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..iec62056_21.trace import FrameRecord
from ..meter.virtual import VirtualMeter, load_virtual_meter
from ..transport.server import serve

__all__ = ["register"]

TICK_S = 1.0


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
    ) -> int:
        """Serve the meter's optical port until interrupted (SIGINT/SIGTERM)."""
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

        def ready(endpoints: list[str]) -> None:
            for ep in endpoints:
                print(f"listening on {ep}", flush=True)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)

            async def ticker() -> None:  # a live meter keeps measuring between sessions
                while True:
                    meter.tick()
                    await asyncio.sleep(TICK_S)

            tick_task = asyncio.create_task(ticker())
            try:
                await serve(
                    meter,
                    listen or ["tcp://127.0.0.1:2100"],
                    baud_emulation=baud_emulation,
                    trace=hook if trace else None,
                    ready=ready,
                    stop=stop,
                )
            finally:
                tick_task.cancel()
                meter.save()
                if forwarder is not None:
                    forwarder.stop()

        asyncio.run(main())
        sys.stdout.flush()
        return 0
