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

from ..client import MeterClient, PasswordAuthenticator
from ..client.auth import Authenticator
from ..errors import ConfigError, DeviceError
from ..iec62056_21.baud import MODE_C_BAUD, baud_char_for
from ..iec62056_21.client import ClientConfig
from ..iec62056_21.messages import DataSet
from ..iec62056_21.trace import FrameRecord
from ..transport import open_transport
from ..transport.control import send_control
from .render import console, datasets_json, print_datasets, write_csv

__all__ = ["register"]


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class TableOrJson(StrEnum):
    table = "table"
    json = "json"


PortArg = Annotated[str, typer.Argument(help="pyserial URL or device: /dev/ttyUSB0, socket://HOST:PORT, rfc2217://...")]
AddressOpt = Annotated[str, typer.Option("--address", help="Device address sent in the request (/?ADDR!).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for each answer.")]
SwitchOpt = Annotated[
    float, typer.Option("--baud-switch-delay", help="Seconds between the option select and the baud switch.")
]
WakeOpt = Annotated[bool, typer.Option("--wake-up", help="Send the NUL wake-up sequence first (battery meters).")]
TraceOpt = Annotated[bool, typer.Option("--trace", help="Print every frame both ways on stderr.")]
PasswordOpt = Annotated[
    str | None, typer.Option("--password", help="Static password (as P2 to meterkit meters, P1 to others).")
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option("--key-file", help="Key package for challenge-response (P2); passphrase in METERKIT_KEY_PASSPHRASE."),
]
LevelOpt = Annotated[int, typer.Option("--level", help="Access level to request with --key-file (2 or 3).")]
EncryptOpt = Annotated[
    bool,
    typer.Option("--require-encryption", help="Refuse plain answers (the meter must encrypt; see docs/security.md)."),
]
BaudOpt = Annotated[int | None, typer.Option("--baud", help="Baud rate to switch to in mode C (default: the best).")]


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _connect(port: str, address: str, timeout: float, switch_delay: float, wake_up: bool, trace: bool) -> MeterClient:
    config = ClientConfig(
        device_address=address,
        wake_up=wake_up,
        response_timeout=timeout,
        readout_timeout=max(timeout, 10.0),
        baud_switch_delay=switch_delay,
    )
    err = _err()

    def hook(record: FrameRecord) -> None:
        err.print(record.format(), markup=False)

    return MeterClient(open_transport(port), config, trace=hook if trace else None)


def _auth(
    password: str | None, key_file: Path | None = None, level: int = 2, require_encryption: bool = False
) -> Authenticator | None:
    if password is not None and key_file is not None:
        raise typer.BadParameter("give either --password or --key-file, not both")
    if require_encryption and password is None and key_file is None:
        raise typer.BadParameter(
            "--require-encryption needs --password or --key-file (the session key comes from them)"
        )
    if key_file is not None:
        from ..security.hhu import load_key_authenticator

        auth = load_key_authenticator(key_file, level)
        auth.require_encryption = require_encryption
        return auth
    return PasswordAuthenticator(password, require_encryption=require_encryption) if password is not None else None


def _baud_char(baud: int | None) -> str | None:
    if baud is None:
        return None
    if baud not in MODE_C_BAUD.values():
        raise typer.BadParameter(f"{baud}: choose one of {', '.join(str(b) for b in MODE_C_BAUD.values())}")
    return baud_char_for(baud, "C")


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
    ) -> int:
        """Sign on and print the meter's data readout."""
        if mode is not None and mode.upper() not in ("A", "B", "C"):
            raise typer.BadParameter("--mode must be A, B or C")
        baud_char = _baud_char(baud)
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace) as client:
            readout = client.readout(baud_char=baud_char)
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
            }
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        elif fmt is Format.csv:
            sys.stdout.write(write_csv(readout.datasets))
        else:
            title = f"{ident.manufacturer} {ident.ident} (mode {readout.mode}, Z={ident.baud_char})"
            print_datasets(console(), readout.datasets, title=title)
        return 0

    @app.command("get")
    def get_cmd(
        port: PortArg,
        addresses: Annotated[list[str], typer.Argument(help="Register addresses (OBIS), e.g. 1.8.0 1.6.0")],
        password: PasswordOpt = None,
        key_file: KeyFileOpt = None,
        level: LevelOpt = 2,
        require_encryption: EncryptOpt = False,
        fmt: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
        address: AddressOpt = "",
        timeout: TimeoutOpt = 3.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
    ) -> int:
        """Read registers in programming mode (R1), after authenticating if asked."""
        auth = _auth(password, key_file, level, require_encryption)
        found: list[DataSet] = []
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace) as client:
            client.programming(auth)
            for addr in addresses:
                found.extend(client.read(addr))
        if fmt is TableOrJson.json:
            sys.stdout.write(json.dumps({"datasets": datasets_json(found)}, indent=2) + "\n")
        else:
            print_datasets(console(), found)
        return 0

    @app.command("set")
    def set_cmd(
        port: PortArg,
        register_address: Annotated[str, typer.Argument(metavar="ADDRESS", help="Register address to write.")],
        value: Annotated[str, typer.Argument(help="New value (without parentheses).")],
        password: PasswordOpt = None,
        key_file: KeyFileOpt = None,
        level: LevelOpt = 3,
        require_encryption: EncryptOpt = False,
        address: AddressOpt = "",
        timeout: TimeoutOpt = 3.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
    ) -> int:
        """Write one register (W1)."""
        auth = _auth(password, key_file, level, require_encryption)
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace) as client:
            client.programming(auth)
            client.write(register_address, value)
        console().print(f"{register_address} set to {value}")
        return 0

    @app.command("exec")
    def exec_cmd(
        port: PortArg,
        function: Annotated[str, typer.Argument(help="Function name, e.g. a billing reset.")],
        value: Annotated[str, typer.Argument(help="Function argument.")] = "",
        password: PasswordOpt = None,
        key_file: KeyFileOpt = None,
        level: LevelOpt = 3,
        require_encryption: EncryptOpt = False,
        address: AddressOpt = "",
        timeout: TimeoutOpt = 3.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
    ) -> int:
        """Execute a meter function (E2)."""
        auth = _auth(password, key_file, level, require_encryption)
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace) as client:
            client.programming(auth)
            result = client.execute(function, value)
        if result:
            print_datasets(console(), result)
        else:
            console().print(f"{function}: done")
        return 0

    @app.command("profile")
    def profile_cmd(
        port: PortArg,
        start: Annotated[str, typer.Option("--from", help="Start time YYMMDDhhmm.")] = "",
        end: Annotated[str, typer.Option("--to", help="End time YYMMDDhhmm.")] = "",
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Write a load-profile file (CSV, or Parquet by suffix) that demand reads."),
        ] = None,
        tz: Annotated[str, typer.Option("--tz", help="The meter's time zone (its profile stamps are local).")] = "UTC",
        password: PasswordOpt = None,
        key_file: KeyFileOpt = None,
        level: LevelOpt = 2,
        require_encryption: EncryptOpt = False,
        address: AddressOpt = "",
        timeout: TimeoutOpt = 10.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
    ) -> int:
        """Read the load profile P.01 (R5) for a time range."""
        auth = _auth(password, key_file, level, require_encryption)
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
        """Operate a served meter's physical inputs (``meterkit serve --control``): one command, one reply."""
        try:
            reply = send_control(url, " ".join(command), timeout=timeout)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="URL") from exc
        if reply.startswith("error:"):
            raise DeviceError("control: " + reply.removeprefix("error:").strip())
        sys.stdout.write(reply + "\n")
        return 0
