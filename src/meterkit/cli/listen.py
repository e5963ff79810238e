"""``meterkit listen PORT``: print every telegram a push meter sends (IEC 62056-21 mode D, DSMR P1)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from ..client.listener import BrokenTelegram, Telegram, listen
from ..errors import DeviceError
from ..iec62056_21.trace import FrameRecord, printable
from .client_cmds import PortArg, TraceOpt, open_port
from .render import console, datasets_json, print_datasets

__all__ = ["register", "telegram_json"]


class Output(StrEnum):
    table = "table"
    json = "json"


class Framing(StrEnum):
    e71 = "7E1"
    n81 = "8N1"


def telegram_json(t: Telegram) -> dict[str, object]:
    """The ``read`` JSON shape (identification, datasets) plus ``crc_ok`` (DSMR CRC16; null when none was sent)."""
    ident = t.identification
    return {
        "identification": {
            "manufacturer": ident.manufacturer,
            "baud_char": ident.baud_char,
            "ident": ident.ident,
            "enhanced": list(ident.enhanced),
            "mode": "D",
        },
        "datasets": datasets_json(t.datasets),
        "crc_ok": t.crc_ok,
    }


def register(app: typer.Typer) -> None:
    """Add listen."""

    @app.command("listen")
    def listen_cmd(
        port: PortArg,
        count: Annotated[int | None, typer.Option("--count", min=1, help="Stop after N telegrams.")] = None,
        fmt: Annotated[Output, typer.Option("--format", help="table, or json: one JSON object per line.")] = (
            Output.table
        ),
        baud: Annotated[
            int, typer.Option("--baud", min=1, help="Line speed: 2400 (standard), 9600 (German eHZ), 115200 (DSMR 5).")
        ] = 2400,
        framing: Annotated[
            Framing, typer.Option("--framing", help="7E1 (IEC 62056-21, DSMR 2-3) or 8N1 (DSMR 4+).")
        ] = (Framing.e71),
        idle_timeout: Annotated[
            float | None, typer.Option("--idle-timeout", min=0.1, help="Stop when nothing arrived for this long (s).")
        ] = None,
        trace: TraceOpt = False,
    ) -> int:
        """Decode pushed telegrams continuously; a broken one is reported on stderr with its bytes."""
        err = Console(stderr=True, highlight=False, soft_wrap=True)

        def hook(record: FrameRecord) -> None:
            err.print(record.format(), markup=False)

        transport = open_port(port)
        seen = 0
        try:
            for item in listen(
                transport,
                baud=baud,
                framing=framing.value,
                count=count,
                idle_timeout=idle_timeout,
                trace=hook if trace else None,
            ):
                if isinstance(item, BrokenTelegram):
                    err.print(f"meterkit listen: broken telegram: {item.reason}: {printable(item.data)}", markup=False)
                    continue
                seen += 1
                if fmt is Output.json:
                    sys.stdout.write(json.dumps(telegram_json(item)) + "\n")
                else:
                    ident = item.identification
                    check = {True: ", CRC ok", False: ", CRC MISMATCH", None: ""}[item.crc_ok]
                    title = f"{ident.manufacturer} {ident.ident} (mode D, Z={ident.baud_char}{check})"
                    print_datasets(console(), item.datasets, title=title)
                sys.stdout.flush()
        finally:
            transport.close()
        if count is not None and seen < count:
            raise DeviceError(f"the line closed after {seen} of {count} telegrams")
        return 0
