"""``meterkit shell PORT [auth]``: one sign-on, then commands typed one after another.

Commands (one per line; ``#`` starts a comment)::

    read ADDRESS...            R1 each register (alias: get, r)
    read3 ADDRESS              R3: the register in partial blocks
    write ADDRESS VALUE        W1 (alias: set); the value in the configuration's spelling (sliding 15/1)
    execute FUNCTION [VALUE]   E2 (alias: exec)
    profile [FROM [TO]]        R5 P.01(FROM;TO), times YYMMDDhhmm
    break                      B0: end the session and leave (alias: quit, exit; end of input does the same)
    help

On a terminal, readline gives history (``--history FILE`` keeps it between sessions) and completes commands and
register addresses (meterkit's catalogue and every address seen in an answer).  A refused command is one line on
stderr and the shell goes on; a session the meter ended (inactivity) is signed on again once.  The exit code is 1 if
any command failed, else 0.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console

from ..client import MeterClient
from ..client.auth import Authenticator
from ..client.values import wire_value
from ..errors import DeviceError, MeterkitError, TransportTimeout
from ..iec62056_21.messages import DataSet
from .auth_options import hand_held_auth
from .client_cmds import (
    AddressOpt,
    PortArg,
    SwitchOpt,
    TableOrJson,
    TimeoutOpt,
    TraceOpt,
    WakeOpt,
    _connect,
)
from .render import console, datasets_json, print_datasets

__all__ = ["COMMANDS", "ShellSession", "complete", "register"]

COMMANDS = ("read", "read3", "write", "execute", "profile", "break", "help", "quit")
_ALIASES = {"get": "read", "r": "read", "set": "write", "exec": "execute", "exit": "quit", "q": "quit"}


def complete(text: str, line: str, addresses: Iterable[str]) -> list[str]:
    """Completions of ``text`` (the word under the cursor) in ``line``: a command name first, addresses after."""
    words = line[: len(line) - len(text)].split()
    pool: Iterable[str] = COMMANDS if not words else addresses
    return sorted({w for w in pool if w.startswith(text)})


def _catalogue() -> set[str]:
    from ..meter.catalogue import catalogue

    return set(catalogue().by_address) | {"P.01", "P.98", "P.99"}


class ShellSession:
    """The command loop over one signed-on :class:`MeterClient` (no terminal needed: lines in, output out)."""

    def __init__(
        self,
        client: MeterClient,
        auth: Authenticator | None = None,
        *,
        out: Console,
        err: Console,
        fmt: TableOrJson = TableOrJson.table,
    ) -> None:
        self.client = client
        self.auth = auth
        self.out = out
        self.err = err
        self.fmt = fmt
        self.addresses = _catalogue()
        self.failures = 0
        self.done = False

    def sign_on(self) -> None:
        operand = self.client.programming(self.auth)
        ident = self.client.identification
        who = f"{ident.manufacturer} {ident.ident}" if ident is not None else "meter"
        self.err.print(
            f"signed on to {who} at level {self.client.level}{' (operand ' + operand + ')' if operand else ''}",
            markup=False,
        )

    def run(self, lines: Iterable[str]) -> int:
        for line in lines:
            self.execute(line)
            if self.done:
                break
        if not self.done:
            self._quit()
        return 1 if self.failures else 0

    def execute(self, line: str) -> None:
        text = line.split("#", 1)[0].strip()
        if not text:
            return
        try:
            words = shlex.split(text)
        except ValueError as exc:
            self._fail(f"cannot read the line: {exc}")
            return
        name = _ALIASES.get(words[0].lower(), words[0].lower())
        handler = self._handlers().get(name)
        if handler is None:
            self._fail(f"unknown command {words[0]!r} (help lists them)")
            return
        try:
            self._with_resume(lambda: handler(words[1:]))
        except MeterkitError as exc:
            self._fail(str(exc))

    # --- commands -------------------------------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[[list[str]], None]]:
        return {
            "read": self._read,
            "read3": self._read3,
            "write": self._write,
            "execute": self._execute,
            "profile": self._profile,
            "break": lambda _args: self._quit(),
            "quit": lambda _args: self._quit(),
            "help": lambda _args: self.out.print(
                __doc__.split("::", 1)[1].split("On a terminal")[0].rstrip(), markup=False
            ),
        }

    def _read(self, args: list[str]) -> None:
        if not args:
            raise DeviceError("read needs at least one register address")
        found: list[DataSet] = []
        for address in args:
            try:
                found.extend(self.client.read(address))
            except DeviceError as exc:
                if found or len(args) > 1:
                    self._fail(str(exc))
                    continue
                raise
        self._show(found)

    def _read3(self, args: list[str]) -> None:
        if len(args) != 1:
            raise DeviceError("read3 needs one register address")
        self._show(self.client.read(args[0], partial=True))

    def _write(self, args: list[str]) -> None:
        if len(args) < 2:
            raise DeviceError("write needs an address and a value")
        address, value = args[0], " ".join(args[1:])
        self.client.write(address, wire_value(address, value))
        self.out.print(f"{address} set to {value}", markup=False)

    def _execute(self, args: list[str]) -> None:
        if not args or len(args) > 2:
            raise DeviceError("execute needs a function name and at most one value")
        result = self.client.execute(args[0], args[1] if len(args) > 1 else "")
        if result:
            self._show(result)
        else:
            self.out.print(f"{args[0]}: done", markup=False)

    def _profile(self, args: list[str]) -> None:
        if len(args) > 2:
            raise DeviceError("profile takes at most FROM and TO (YYMMDDhhmm)")
        self._show(self.client.load_profile(*args), title="load profile P.01")

    def _quit(self) -> None:
        self.done = True
        self.client.sign_off()
        self.err.print("signed off", markup=False)

    # --- helpers --------------------------------------------------------------------------------------

    def _with_resume(self, action: Callable[[], None]) -> None:
        """Run ``action``; when the meter has ended the session meanwhile (silence, break), sign on once more and
        run it again."""
        try:
            action()
        except (TransportTimeout, DeviceError) as exc:
            if isinstance(exc, DeviceError) and "ended the session" not in str(exc):
                raise
            self.err.print(f"the session ended ({exc}); signing on again", markup=False)
            self.client.connection.reset()
            self.sign_on()
            action()

    def _show(self, datasets: tuple[DataSet, ...] | list[DataSet], *, title: str | None = None) -> None:
        self.addresses.update(ds.address for ds in datasets if ds.address)
        if self.client.unverified:
            self._fail(f"BCC mismatch, data NOT verified: {', '.join(self.client.unverified)}")
            self.client.unverified.clear()
        if self.fmt is TableOrJson.json:
            self.out.print(json.dumps({"datasets": datasets_json(datasets)}), markup=False, soft_wrap=True)
        else:
            print_datasets(self.out, datasets, title=title)

    def _fail(self, message: str) -> None:
        self.failures += 1
        self.err.print(f"meterkit shell: error: {message}", markup=False)


def _lines(stream: TextIO, session: ShellSession, history: Path | None) -> Iterator[str]:
    """Lines from a terminal through readline (history, completion), or plain lines from a pipe."""
    if not stream.isatty():
        yield from stream
        return
    import readline

    def completer(text: str, state: int) -> str | None:
        options = complete(text, readline.get_line_buffer(), session.addresses)
        return options[state] if state < len(options) else None

    readline.set_completer(completer)
    readline.set_completer_delims(" \t")
    readline.parse_and_bind("tab: complete")
    if history is not None and history.exists():
        readline.read_history_file(history)
    try:
        while True:
            try:
                yield input("meterkit> ")
            except EOFError:
                return
    finally:
        if history is not None:
            readline.write_history_file(history)


def register(app: typer.Typer) -> None:
    """Add shell."""

    @app.command("shell")
    @hand_held_auth(level=2)
    def shell_cmd(
        port: PortArg,
        auth: Authenticator | None = None,
        fmt: Annotated[TableOrJson, typer.Option("--format", help="table, or json: one object per answer.")] = (
            TableOrJson.table
        ),
        history: Annotated[
            Path | None, typer.Option("--history", help="Keep the command history in this file.")
        ] = None,
        address: AddressOpt = "",
        timeout: TimeoutOpt = 3.0,
        baud_switch_delay: SwitchOpt = 0.25,
        wake_up: WakeOpt = False,
        trace: TraceOpt = False,
    ) -> int:
        """One sign-on, then read/write/execute/profile/break commands typed one after another (stdin)."""
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        with _connect(port, address, timeout, baud_switch_delay, wake_up, trace) as client:
            session = ShellSession(client, auth, out=console(), err=err, fmt=fmt)
            session.sign_on()
            return session.run(_lines(sys.stdin, session, history))
