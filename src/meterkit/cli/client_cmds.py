"""``meterkit read | get | set | exec | profile``: the hand-held unit on the command line; ``meterkit control``: the
physical inputs of a served virtual meter."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..client import MeterClient, Readout
from ..client.auth import Authenticator
from ..client.refusals import MeterRefusal, meaning
from ..client.values import wire_value
from ..errors import ConfigError, DeviceError, TransportTimeout
from ..iec62056_21.baud import MODE_C_BAUD, baud_char_for
from ..iec62056_21.client import ClientConfig
from ..iec62056_21.messages import DataSet
from ..iec62056_21.trace import FrameRecord
from ..transport import Transport, open_transport
from ..transport.control import send_control
from .auth_options import hand_held_auth
from .render import console, datasets_json, print_datasets, write_csv

__all__ = ["register"]


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class TableOrJson(StrEnum):
    table = "table"
    json = "json"


PortArg = Annotated[
    str, typer.Argument(help="pyserial URL or device: /dev/ttyUSB0, socket://HOST:PORT (or tcp://), rfc2217://...")
]
AddressOpt = Annotated[str, typer.Option("--address", help="Device address sent in the request (/?ADDR!).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for each answer.")]
SwitchOpt = Annotated[
    float, typer.Option("--baud-switch-delay", help="Seconds between the option select and the baud switch.")
]
WakeOpt = Annotated[bool, typer.Option("--wake-up", help="Send the NUL wake-up sequence first (battery meters).")]
TraceOpt = Annotated[bool, typer.Option("--trace", help="Print every frame both ways on stderr.")]
BaudOpt = Annotated[int | None, typer.Option("--baud", help="Baud rate to switch to in mode C (default: the best).")]
BadBccOpt = Annotated[
    bool,
    typer.Option(
        "--accept-bad-bcc",
        help="Exit 0 even when data came with a wrong BCC (it is always shown, and flagged as not verified).",
    ),
]


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _connect(
    port: str,
    address: str,
    timeout: float,
    switch_delay: float,
    wake_up: bool,
    trace: bool,
    *,
    lenient: bool = False,
) -> MeterClient:
    config = ClientConfig(
        device_address=address,
        wake_up=wake_up,
        response_timeout=timeout,
        readout_timeout=max(timeout, 10.0),
        baud_switch_delay=switch_delay,
        lenient=lenient,
    )
    err = _err()

    def hook(record: FrameRecord) -> None:
        err.print(record.format(), markup=False)

    return MeterClient(open_port(port), config, trace=hook if trace else None)


def open_port(port: str) -> Transport:
    """The client transport for ``port``; a malformed URL is a usage error (exit 2, one line)."""
    try:
        return open_transport(port)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="PORT") from exc


def check_verified(client: MeterClient, accept_bad_bcc: bool) -> None:
    """Say on stderr what came with a wrong BCC; exit 1 for it unless ``--accept-bad-bcc``."""
    if not client.unverified:
        return
    what = ", ".join(client.unverified)
    _err().print(f"meterkit: warning: BCC mismatch, data NOT verified: {what}", markup=False)
    if not accept_bad_bcc:
        raise DeviceError(f"data with a wrong BCC ({what}); shown above, --accept-bad-bcc accepts it")


def _baud_char(baud: int | None) -> str | None:
    if baud is None:
        return None
    if baud not in MODE_C_BAUD.values():
        raise typer.BadParameter(f"{baud}: choose one of {', '.join(str(b) for b in MODE_C_BAUD.values())}")
    return baud_char_for(baud, "C")


def refusal_json(r: MeterRefusal) -> dict[str, object]:
    """One refused register for the JSON output."""
    target = r.command.split(" ", 1)[1] if " " in r.command else r.command
    return {"address": target, "error": r.code, "meaning": meaning(r.code) or "", "reason": r.reason}


def readout_caption(readout: Readout) -> str | None:
    notes = []
    if readout.bcc_ok is False:
        notes.append("BCC MISMATCH: data not verified")
    if not readout.complete:
        notes.append("INCOMPLETE: ended without ETX/BCC, complete data sets only")
    return "; ".join(notes) or None


def register(app: typer.Typer) -> None:
    """Add read, get, set, exec, profile and control."""

    @app.command("read")
    def read_cmd(
        port: PortArg,
        address: AddressOpt = "",
        mode: Annotated[str | None, typer.Option("--mode", help="Expected protocol mode A, B or C (checked).")] = None,
        baud: BaudOpt = None,
        fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
        timeout: TimeoutOpt = 3.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
        accept_bad_bcc: BadBccOpt = False,
        lenient: Annotated[
            bool,
            typer.Option(
                "--lenient", help="Keep the complete data sets of a readout that ends without ETX/BCC (exit 1)."
            ),
        ] = False,
    ) -> int:
        """Sign on and print the meter's data readout."""
        if mode is not None and mode.upper() not in ("A", "B", "C"):
            raise typer.BadParameter("--mode must be A, B or C")
        baud_char = _baud_char(baud)
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace, lenient=lenient) as client:
            try:
                readout = client.readout(baud_char=baud_char)
            except TransportTimeout as exc:
                if client.identification is not None:
                    raise
                raise TransportTimeout(
                    f"{exc}; a push meter (mode D) answers no request: try meterkit listen {port}"
                ) from exc
        if mode is not None and readout.mode != mode.upper():
            raise DeviceError(f"the meter answered in mode {readout.mode}, not in mode {mode.upper()}")
        ident = readout.identification
        if fmt is Format.json:
            doc = {
                "identification": {
                    "manufacturer": ident.manufacturer,
                    "baud_char": ident.baud_char,
                    "ident": ident.ident,
                    "enhanced": list(ident.enhanced),
                    "mode": "E" if ident.mode_e else readout.mode,
                },
                "datasets": datasets_json(readout.datasets),
                "bcc_ok": readout.bcc_ok,
                "complete": readout.complete,
            }
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        elif fmt is Format.csv:
            sys.stdout.write(write_csv(readout.datasets))
        else:
            title = f"{ident.manufacturer} {ident.ident} (mode {readout.mode}, Z={ident.baud_char})"
            print_datasets(console(), readout.datasets, title=title, caption=readout_caption(readout))
        if not readout.complete:
            raise DeviceError(
                f"the readout ended without ETX/BCC; only the {len(readout.datasets)} complete "
                "data sets are shown (not verified)"
            )
        check_verified(client, accept_bad_bcc)
        return 0

    @app.command("get")
    @hand_held_auth(level=2)
    def get_cmd(
        port: PortArg,
        addresses: Annotated[list[str], typer.Argument(help="Register addresses (OBIS), e.g. 1.8.0 1.6.0")],
        auth: Authenticator | None = None,
        fmt: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
        address: AddressOpt = "",
        timeout: TimeoutOpt = 3.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
        accept_bad_bcc: BadBccOpt = False,
    ) -> int:
        """Read registers in programming mode (R1), after authenticating if asked; a refused register is reported
        on its own and does not hide the others (exit 1 if any was refused)."""
        found: list[DataSet] = []
        refused: list[MeterRefusal] = []
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace) as client:
            client.programming(auth)
            for addr in addresses:
                try:
                    found.extend(client.read(addr))
                except MeterRefusal as exc:
                    refused.append(exc)
        if fmt is TableOrJson.json:
            doc: dict[str, object] = {"datasets": datasets_json(found), "bcc_ok": not client.unverified}
            if refused:
                doc["errors"] = [refusal_json(r) for r in refused]
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        else:
            caption = "BCC MISMATCH: not verified" if client.unverified else None
            print_datasets(console(), found, caption=caption)
        for r in refused:
            _err().print(f"meterkit get: error: {r}", markup=False)
        check_verified(client, accept_bad_bcc)
        if refused:
            raise typer.Exit(1)
        return 0

    @app.command("set")
    @hand_held_auth(level=3)
    def set_cmd(
        port: PortArg,
        register_address: Annotated[str, typer.Argument(metavar="ADDRESS", help="Register address to write.")],
        value: Annotated[str, typer.Argument(help="New value (without parentheses).")],
        auth: Authenticator | None = None,
        address: AddressOpt = "",
        timeout: TimeoutOpt = 3.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
    ) -> int:
        """Write one register (W1).  Values in the spelling of the configuration ("sliding 15/1") are translated to
        the register's wire form ("sliding 15 1")."""
        wire = wire_value(register_address, value)
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace) as client:
            client.programming(auth)
            client.write(register_address, wire)
        shown = value if wire == value else f"{value} (sent as {wire!r})"
        console().print(f"{register_address} set to {shown}")
        return 0

    @app.command("exec")
    @hand_held_auth(level=3)
    def exec_cmd(
        port: PortArg,
        function: Annotated[str, typer.Argument(help="Function name, e.g. a billing reset.")],
        value: Annotated[str, typer.Argument(help="Function argument.")] = "",
        auth: Authenticator | None = None,
        address: AddressOpt = "",
        timeout: TimeoutOpt = 3.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
        accept_bad_bcc: BadBccOpt = False,
    ) -> int:
        """Execute a meter function (E2)."""
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace) as client:
            client.programming(auth)
            result = client.execute(function, value)
        if result:
            print_datasets(console(), result, caption="BCC MISMATCH: not verified" if client.unverified else None)
        else:
            console().print(f"{function}: done")
        check_verified(client, accept_bad_bcc)
        return 0

    @app.command("profile")
    @hand_held_auth(level=2)
    def profile_cmd(
        port: PortArg,
        start: Annotated[str, typer.Option("--from", help="Start time YYMMDDhhmm.")] = "",
        end: Annotated[str, typer.Option("--to", help="End time YYMMDDhhmm.")] = "",
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Write a load-profile file (CSV, or Parquet by suffix) that demand reads."),
        ] = None,
        tz: Annotated[str, typer.Option("--tz", help="The meter's time zone (its profile stamps are local).")] = "UTC",
        auth: Authenticator | None = None,
        address: AddressOpt = "",
        timeout: TimeoutOpt = 10.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
    ) -> int:
        """Read the load profile P.01 (R5) for a time range."""
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace) as client:
            client.programming(auth)
            rows = client.load_profile(start, end)
            ident = client.identification
        if out is not None:
            from ..loadprofile.export import write_meter_profile

            meter = ident.ident if ident is not None else "meter"
            written = write_meter_profile(rows, out, meter=meter, tz=tz)
            console().print(f"{written} profile intervals written to {out}")
        else:
            print_datasets(console(), rows, title="load profile P.01")
        return 0

    @app.command(
        "control",
        context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    )
    def control_cmd(
        url: Annotated[str, typer.Argument(help="The served meter's control channel, tcp://127.0.0.1:PORT.")],
        command: Annotated[
            list[str], typer.Argument(help="cover open|close, button, power down|up [cover-open], load ..., status")
        ],
        timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the reply.")] = 5.0,
    ) -> int:
        """Operate a served meter's physical inputs (meterkit serve --control): one command, one reply."""
        try:
            reply = send_control(url, " ".join(command), timeout=timeout)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="URL") from exc
        if reply.startswith("error:"):
            raise DeviceError("control: " + reply.removeprefix("error:").strip())
        sys.stdout.write(reply + "\n")
        return 0
