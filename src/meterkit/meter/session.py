"""The optical-port session of the virtual meter: readout, programming commands, access control.

Access follows :mod:`meterkit.security.port`: level 1 = protocol only, the public readout list; level 2 =
``P1(read password)`` or ``P0``/``P2`` with the level-2 key, every register, load profile, event and security log;
level 3 = ``P0``/``P2`` with the level-3 key (or the sealed button), and every write or function also needs the
terminal cover open (level 4).  Error answers (the text after ``STX (``):

    ER01 unknown address        ER02 access level too low     ER03 invalid value
    ER04 command not supported  ER05 refused now (lockout)    ER06 terminal cover closed
    ER10 authentication failed (the same text and delay for every cause)
    ER11 request not authenticated (a protected session: no MAC, a wrong one, or a replayed counter)

The codes stay short (an error message has at most 32 characters); the full reason of every refusal except ER10 is
kept in register ``C.91.0`` (level 2) and, for ER03/ER05, logged in ``P.98`` (event 06).

Profiles (``P.01`` load profile, ``P.98`` events, ``P.99`` security log) are read by time range ``(from;to)``,
``YYMMDDhhmm`` local time, both ends inclusive at the minute resolution of the stamps; either end may be empty.
``R5`` answers in one block; ``R3`` and ``R6`` answer in partial blocks of :data:`PARTIAL_BLOCK_LINES` lines (the
hand-held acknowledges each block with ACK to get the next one, NAK repeats it).  ``W3`` writes a value sent in
partial blocks (§6.4.7): the address comes in the first block, each block but the last (EOT) is acknowledged and
collected, the last one (ETX) writes the whole value as ``W1`` would; any other command drops what was collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Final, Literal

from ..errors import DeviceError, MeterkitError, SecurityError
from ..iec62056_21.application import SessionReply
from ..iec62056_21.events import (
    CommandReceived,
    MeterEvent,
    NextBlockRequested,
    ProgrammingRequested,
    ReadoutRequested,
)
from ..iec62056_21.integrity import MeterIntegrity, offered
from ..iec62056_21.messages import Ack, CommandMessage, DataAnswer, DataMessage, DataSet, ErrorAnswer, Message, Value
from ..iec62056_21.sealed import seal_answer
from ..security.port import AUTH_FAILURE_DELAY, Denial, Granted
from .catalogue import catalogue
from .core import ProfileRow, Refusal
from .registers import energy_text, port_safe, read_register, split_value
from .service import MeterService
from .tou import port_read, with_port_write

__all__ = ["AUTH_ERROR", "EVENT_TEXT_MAX", "PARTIAL_BLOCK_LINES", "W3_VALUE_MAX", "MeterSession", "profile_datasets"]

#: The one answer to every failed authentication, whatever the cause (after :data:`AUTH_FAILURE_DELAY`).
AUTH_ERROR = ErrorAnswer(text="ER10")
#: lines (data sets) per block of an R6 partial-block answer (the first block also holds the header)
PARTIAL_BLOCK_LINES = 16
#: the longest value a W3 partial write may collect (characters)
W3_VALUE_MAX = 1024
#: at most this many characters of an event text are kept (P.98 shows them in values of 128 characters)
EVENT_TEXT_MAX = 1024
_REASONS = {
    "ER01": "unknown address or function",
    "ER02": "access level too low",
    "ER04": "command not supported",
    "ER06": "terminal cover closed or the write window after opening it expired",
}


def _err(code: str) -> ErrorAnswer:
    return ErrorAnswer(text=code)


class MeterSession:
    """One session with the virtual meter; never raises on client input."""

    def __init__(self, vm: MeterService) -> None:
        self.vm = vm
        self.sec = vm.security.open_session()
        self._blocks: list[tuple[DataSet, ...]] = []  # the remaining blocks of an R3/R6 answer
        self._writing: tuple[str, list[str]] | None = None  # a W3 partial write: the address and the blocks so far
        self._request = ""
        self._integrity: MeterIntegrity | None = None  # a protected session's MACs (after a P2 that offered them)

    @property
    def level(self) -> int:
        return self.sec.level

    def close(self, reason: str) -> None:
        self._blocks = []
        self._writing = None
        self.sec.close()
        self._integrity = None

    def handle(self, event: MeterEvent) -> SessionReply:
        try:
            self.vm.tick()
        except MeterkitError as exc:  # the meter keeps answering; the problem is in the event log
            self.vm.meter.log(6, port_safe(f"measurement: {exc}")[:EVENT_TEXT_MAX])
        if isinstance(event, ReadoutRequested):
            return SessionReply(messages=(DataMessage(datasets=self._readout()),))
        if isinstance(event, ProgrammingRequested):
            operand = DataSet.single("", self.sec.operand())
            return SessionReply(messages=(CommandMessage(command="P", command_type="0", data_set=operand),))
        if isinstance(event, CommandReceived):
            return self._protected(event.command)
        if isinstance(event, NextBlockRequested):
            if not self._blocks:
                return SessionReply(messages=(self._refuse("ER04", "no partial answer is pending"),))
            block = self._block_mac(self._blocks.pop(0))
            return SessionReply(messages=(DataAnswer(datasets=block, partial=bool(self._blocks)),))
        return SessionReply()

    def _received(self, command: CommandMessage) -> SessionReply:
        self._blocks = []
        if command.code == "W3":
            return self._partial_write(command)
        self._writing = None  # any other command drops a partial write
        return self._command(command)

    def _block_mac(self, block: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        """A block of a partial-block answer, ending with its own MAC in a protected session (made when it is sent,
        so blocks never sent use no counter)."""
        integrity = self._integrity
        return block if integrity is None else integrity.protect_data(block)

    def _protected(self, command: CommandMessage) -> SessionReply:
        """A command of a protected session (:mod:`meterkit.iec62056_21.integrity`): its MAC is checked before
        anything is done (ER11 otherwise, nothing changes) and every answer carries the meter's MAC."""
        integrity = self._integrity
        if integrity is None:
            reply = self._received(command)
        else:
            try:
                command = integrity.check_request(command)
            except SecurityError as exc:
                self._request = command.code
                reply = SessionReply(messages=(self._refuse("ER11", str(exc)),))
            else:
                reply = self._received(command)
        if self._integrity is None and self.sec.integrity_key is not None:  # a P2 that offered it: its ACK too
            self._integrity = MeterIntegrity(self.sec.integrity_key)
        integrity = self._integrity
        if integrity is None:
            return reply
        messages = tuple(
            m
            if isinstance(m, DataAnswer) and m.partial
            else integrity.protect(m)  # a split answer's blocks have theirs
            for m in reply.messages
        )
        return SessionReply(messages=messages, delay=reply.delay)

    # --- readout --------------------------------------------------------------------------------------

    def _readout(self) -> tuple[DataSet, ...]:
        out = []
        for address in self.vm.meter.config.readout.public:
            ds = read_register(self.vm.meter, address)
            if ds is not None:
                out.append(ds)
        return tuple(out)

    # --- refusals -------------------------------------------------------------------------------------

    def _refuse(self, code: str, reason: str = "", *, log: bool = False) -> ErrorAnswer:
        """The error answer ``code``; its reason goes to ``C.91.0`` (and to the event log with ``log``)."""
        meter = self.vm.meter
        text = reason or _REASONS.get(code, "refused")
        meter.record_refusal(Refusal(at=meter.now, code=code, request=self._request, reason=text))
        if log:
            meter.log(6, port_safe(f"{code} {self._request}: {text}")[:EVENT_TEXT_MAX])
        return _err(code)

    def _authorize(
        self, operation: Literal["read", "write", "execute"], level: int, name: str, *, cover: bool | None = None
    ) -> ErrorAnswer | None:
        """None if the security grants ``operation``; else its denial as the port's error answer."""
        decision = self.sec.authorize(operation=operation, required_level=level, name=name, cover=cover)
        if isinstance(decision, Granted):
            return None
        if decision.reason is Denial.LEVEL:
            return self._refuse("ER02", f"access level {level} needed to {operation} {name}, session has {self.level}")
        return self._refuse("ER06")

    def _authenticate(self, cmd: CommandMessage) -> SessionReply:
        """P1/P2: every failure, locked or not, is the same ER10 after the same delay."""
        value = cmd.data_set.value if cmd.data_set is not None else ""
        decision = self.sec.authenticate(cmd.command_type, value, integrity=offered(cmd))
        if isinstance(decision, Granted):
            return SessionReply(messages=(Ack(),))
        return SessionReply(messages=(AUTH_ERROR,), delay=AUTH_FAILURE_DELAY)

    # --- commands -------------------------------------------------------------------------------------

    def _command(self, cmd: CommandMessage, *, code: str = "") -> SessionReply:
        """Answer ``cmd``; ``code`` names the command in refusal records when it differs (a W3 written as W1)."""
        address = cmd.data_set.address if cmd.data_set is not None else ""
        self._request = f"{code or cmd.code} {address}".strip()
        try:
            reply = self._dispatch(cmd)
        except (MeterkitError, ValueError) as exc:
            reply = self._refuse("ER03", str(exc), log=True)
        if isinstance(reply, SessionReply):
            return reply
        if isinstance(reply, DataAnswer):  # encrypted when the session has an answer key
            cipher = self.sec.cipher
            datasets = reply.datasets if cipher is None else seal_answer(cipher, reply.datasets)
            if cmd.code in ("R3", "R6") and len(datasets) > PARTIAL_BLOCK_LINES:
                blocks = [datasets[i : i + PARTIAL_BLOCK_LINES] for i in range(0, len(datasets), PARTIAL_BLOCK_LINES)]
                self._blocks = blocks[1:]
                return SessionReply(messages=(DataAnswer(datasets=self._block_mac(blocks[0]), partial=True),))
            reply = DataAnswer(datasets=datasets, partial=reply.partial)
        return SessionReply(messages=(reply,))

    def _dispatch(self, cmd: CommandMessage) -> Message | SessionReply:
        code = cmd.code
        ds = cmd.data_set
        if cmd.command == "P":
            return self._authenticate(cmd)
        if ds is None:
            return self._refuse("ER04", f"{code} needs a data set")
        if code in ("R1", "R2", "R3", "R5", "R6"):
            if ds.address in ("P.01", "P.98", "P.99"):
                return self._profile(ds.address, ds.value)
            return self._read(ds.address)
        if code == "W1":
            if ds.address.startswith("TOU."):
                return self._write_tou(ds.address, ds.value)
            if ds.address in ("KEY.L2", "KEY.L3"):
                return self._write_key(ds.address, ds.value)
            return self._write(ds.address, ds.value)
        if code == "E2":
            return self._execute(ds.address)
        return self._refuse("ER04", f"command {code} is not supported")

    def _partial_write(self, cmd: CommandMessage) -> SessionReply:
        """W3: collect the value's blocks (the address is in the first); the last block (ETX) writes it."""
        ds = cmd.data_set
        if self._writing is None:
            address = ds.address if ds is not None else ""
            self._request = f"W3 {address}".strip()
            if ds is None or not address:
                return SessionReply(messages=(self._refuse("ER04", "W3 needs the address in its first block"),))
            known = address.startswith("TOU.") or address in ("KEY.L2", "KEY.L3") or catalogue().spec(address)
            if not known or "*" in address:
                return SessionReply(messages=(self._refuse("ER01", f"no register {address}"),))
            self._writing = (address, [])
        address, parts = self._writing
        parts.append(ds.value if ds is not None else "")
        if sum(len(part) for part in parts) > W3_VALUE_MAX:
            self._writing = None
            return SessionReply(messages=(self._refuse("ER03", f"W3 value longer than {W3_VALUE_MAX} characters"),))
        if cmd.partial:
            return SessionReply(messages=(Ack(),))
        self._writing = None
        whole = CommandMessage(command="W", command_type="1", data_set=DataSet.single(address, "".join(parts)))
        return self._command(whole, code="W3")

    def _area_level(self, address: str, operation: Literal["read", "write"]) -> int:
        area = catalogue().area(address)
        level = None if area is None else (area.read_level if operation == "read" else area.write_level)
        if level is None:  # pragma: no cover - the dispatcher only routes addresses of the catalogue's areas
            raise ValueError(f"{address} cannot be {operation}")
        return level

    def _read(self, address: str) -> Message:
        if address.startswith("TOU."):
            denied = self._authorize("read", self._area_level(address, "read"), address)
            if denied is not None:
                return denied
            text = port_read(self.vm.meter.calendar, address)
            if text is None:
                return self._refuse("ER01", f"no tariff address {address}")
            return DataAnswer(datasets=(DataSet.single(address, text),))
        need = catalogue().read_level(address)
        if need is None:
            return self._refuse("ER01", f"no register {address}")
        public = address in self.vm.meter.config.readout.public
        if not public:
            denied = self._authorize("read", need, address)
            if denied is not None:
                return denied
        ds = read_register(self.vm.meter, address)
        if ds is None:
            return self._refuse("ER01", f"{address}: no such value (history *NN beyond the stored billing periods?)")
        return DataAnswer(datasets=(ds,))

    def _profile(self, which: str, value: str) -> Message:
        denied = self._authorize("read", self._area_level(which, "read"), which)
        if denied is not None:
            return denied
        start, _, end = value.partition(";")
        lo = _parse_stamp(start, self.vm) if start else None
        # both ends inclusive at minute resolution: everything stamped up to and including the minute ``end``
        hi = _parse_stamp(end, self.vm) + timedelta(minutes=1) if end else None

        def inside(t: datetime) -> bool:
            return (lo is None or t >= lo) and (hi is None or t < hi)

        meter = self.vm.meter
        if which == "P.01":
            rows = [r for r in meter.profile if inside(r.end)]
            return DataAnswer(datasets=profile_datasets(rows, meter.config.load_profile.capture_min, meter.zone))
        if which == "P.99":  # the security log (no secrets in it)
            entries = [e for e in self.vm.security.log_entries() if inside(e.at)]
            sec_lines = [
                DataSet(
                    address="",
                    values=(
                        Value(value=_stamp(e.at, self.vm)),
                        Value(value=e.kind),
                        Value(value=port_safe(e.detail)[:100]),
                    ),
                )
                for e in entries
            ]
            return DataAnswer(datasets=(DataSet(address="P.99", values=(Value(value=str(len(entries))),)), *sec_lines))
        events = [e for e in meter.events if inside(e.at)]
        header = DataSet(address="P.98", values=(Value(value=str(len(events))), Value(value=str(meter.events_dropped))))
        lines = [
            DataSet(
                address="",
                values=(
                    Value(value=_stamp(e.at, self.vm)),
                    Value(value=f"{e.code:02d}"),
                    *(Value(value=part) for part in split_value(port_safe(e.text))),
                ),
            )
            for e in events
        ]
        return DataAnswer(datasets=(header, *lines))

    def _write_tou(self, address: str, value: str) -> Message:
        denied = self._authorize("write", self._area_level(address, "write"), address)
        if denied is not None:
            return denied
        meter = self.vm.meter
        old = port_read(meter.calendar, address) or ""
        meter.set_calendar(with_port_write(meter.calendar, address, value))  # ConfigError -> ER03, logged
        meter.log(5, f"{address} changed from {old} to {value}"[:EVENT_TEXT_MAX])
        self.sec.record_change(address, old, value)
        self.vm.save()
        return Ack()

    def _write_key(self, address: str, value: str) -> Message:
        denied = self._authorize("write", self._area_level(address, "write"), address)
        if denied is not None:
            return denied
        self.vm.security.rotate_key(int(address[-1]), value)  # ConfigError -> ER03
        return Ack()

    def _write(self, address: str, value: str) -> Message:
        spec = catalogue().spec(address)
        if spec is None or "*" in address:
            return self._refuse("ER01", f"no register {address}")
        if spec.write is None:
            return self._refuse("ER02", f"{address} is read-only")
        denied = self._authorize("write", spec.write.level, address)
        if denied is not None:
            return denied
        meter = self.vm.meter
        old = read_register(meter, address)
        spec.write.apply(self.vm, value)  # ValueError or ConfigError -> ER03, logged
        meter.log(5, f"{address} changed from {old.value if old else ''} to {value}")
        self.sec.record_change(address, old.value if old else "", value)
        self.vm.save()
        return Ack()

    def _execute(self, name: str) -> Message:
        function = catalogue().function(name)
        if function is None:
            denied = self._authorize("execute", 3, name)
            return denied if denied is not None else self._refuse("ER01", f"no function {name}")
        denied = self._authorize("execute", function.level, name, cover=function.cover)
        if denied is not None:
            return denied
        try:
            result = function.run(self.vm)
        except DeviceError as exc:
            return self._refuse("ER05", str(exc), log=True)
        if result is not None:
            return DataAnswer(datasets=(DataSet.single("C.90.1", result),))
        return Ack()


#: the P.01 header's channel list: four channels, each an address and a unit
_P01_CHANNELS: Final = (
    Value(value="4"),
    *(Value(value=v) for v in ("1.8.0", "kWh", "2.8.0", "kWh", "3.8.0", "kvarh", "4.8.0", "kvarh")),
)


def profile_datasets(rows: Sequence[ProfileRow], capture_min: int, zone: tzinfo) -> tuple[DataSet, ...]:
    """The P.01 answer's data sets: the header ``P.01(count)(capture)(4)(1.8.0)(kWh)...`` and one line per row.

    Each row is formatted once: an energy text is made once per distinct value (a profile repeats them), a stamp with
    integer formatting rather than ``strftime``."""
    header = DataSet(
        address="P.01", values=(Value(value=str(len(rows))), Value(value=str(capture_min)), *_P01_CHANNELS)
    )
    energies: dict[int, Value] = {}

    def energy(milli: int) -> Value:
        v = energies.get(milli)
        if v is None:
            v = energies[milli] = Value(value=energy_text(milli))
        return v

    lines = []
    for r in rows:
        t = r.end.astimezone(zone)
        stamp = f"{t.year % 100:02d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}"
        values = (
            Value(value=stamp),
            Value(value=f"{r.status:02X}"),
            energy(r.a_plus),
            energy(r.a_minus),
            energy(r.r_plus),
            energy(r.r_minus),
        )
        lines.append(DataSet(address="", values=values))
    return (header, *lines)


def _stamp(t: datetime, vm: MeterService) -> str:
    return t.astimezone(vm.meter.zone).strftime("%y%m%d%H%M")


def _parse_stamp(text: str, vm: MeterService) -> datetime:
    try:
        local = datetime.strptime(text, "%y%m%d%H%M")
    except ValueError as exc:
        raise ValueError(f"time {text!r} is not YYMMDDhhmm") from exc
    return local.replace(tzinfo=vm.meter.zone) + timedelta(0)
