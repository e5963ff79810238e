"""``meterkit serve``: the virtual meter on TCP, a pseudo-terminal or a serial port."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import ConfigError
from ..iec62056_21.trace import FrameRecord
from ..meter.static_table import StaticTableMeter, load_static_meter
from ..transport.server import serve

__all__ = ["register"]


def demo_config_path() -> Path:
    """The packaged copy of ``examples/demo-meter.toml``."""
    return Path(str(resources.files("meterkit") / "data" / "demo-meter.toml"))


def build_meter(config: Path | None) -> StaticTableMeter:
    return load_static_meter(config if config is not None else demo_config_path())


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
        replay: Annotated[Path | None, typer.Option("--replay", help="Load-profile file to run through.")] = None,
        baud_emulation: Annotated[
            bool, typer.Option("--baud-emulation", help="Pace output at 10 bits per character of the current rate.")
        ] = False,
        trace: Annotated[bool, typer.Option("--trace", help="Print every frame both ways on stderr.")] = False,
    ) -> int:
        """Serve the meter's optical port until interrupted."""
        if state is not None or replay is not None:
            raise ConfigError(
                "--state and --replay need the metering virtual meter, which this build does not have yet"
            )
        app_ = build_meter(config)
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
            await serve(
                app_,
                listen or ["tcp://127.0.0.1:2100"],
                baud_emulation=baud_emulation,
                trace=hook if trace else None,
                ready=ready,
                stop=stop,
            )

        asyncio.run(main())
        sys.stdout.flush()
        return 0
