"""A small meter application with the standard's partial blocks both ways (§6.4.7): R3 answers a register's value in
blocks of ``block_size`` characters (EOT, the last ETX), W3 takes a value in blocks (only the first carries the
address), each acknowledged.  It plays the meter side of R3/W3 for the client's tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from meterkit.iec62056_21.application import SessionReply
from meterkit.iec62056_21.events import CommandReceived, MeterEvent, NextBlockRequested, ProgrammingRequested
from meterkit.iec62056_21.messages import Ack, CommandMessage, DataAnswer, DataSet, ErrorAnswer, Nak
from meterkit.iec62056_21.meter import MeterPortConfig


@dataclass
class PartialMeter:
    registers: dict[str, str] = field(default_factory=lambda: {"P.01": "0123456789" * 12, "C.1.0": "12345678"})
    block_size: int = 40
    #: W3 blocks to NAK once each (by number, 1-based), to exercise the client's repeat
    nak_blocks: set[int] = field(default_factory=set)
    #: what the meter saw: ("R3", address) / ("W3", block text) / ("ACK", "") / other commands
    log: list[tuple[str, str]] = field(default_factory=list)
    writes: dict[str, str] = field(default_factory=dict)

    def port_config(self) -> MeterPortConfig:
        return MeterPortConfig(manufacturer="PBK", ident="PARTIAL1", baud_char="5")

    def open_session(self) -> PartialSession:
        return PartialSession(self)


class PartialSession:
    def __init__(self, meter: PartialMeter) -> None:
        self.meter = meter
        self.blocks: list[DataAnswer] = []
        self.writing: tuple[str, list[str]] | None = None
        self.naked: set[int] = set()

    def close(self, reason: str) -> None:
        self.blocks = []
        self.writing = None

    def handle(self, event: MeterEvent) -> SessionReply:
        if isinstance(event, ProgrammingRequested):
            return SessionReply(messages=(CommandMessage(command="P", command_type="0", data_set=DataSet.single("")),))
        if isinstance(event, NextBlockRequested):
            self.meter.log.append(("ACK", ""))
            return SessionReply(messages=(self.blocks.pop(0),) if self.blocks else (ErrorAnswer(text="ER04"),))
        if isinstance(event, CommandReceived):
            return SessionReply(messages=(self.command(event.command),))
        return SessionReply()

    def command(self, cmd: CommandMessage) -> DataAnswer | ErrorAnswer | Ack | Nak:
        ds = cmd.data_set
        self.meter.log.append((cmd.code, ds.to_text(strict=False) if ds else ""))
        if cmd.code != "W3":
            self.writing = None  # a new command aborts a partial write
        if cmd.code == "R3" and ds is not None:
            self.blocks = []
            value = self.meter.registers.get(ds.address)
            if value is None:
                return ErrorAnswer(text="ER01")
            size = self.meter.block_size
            chunks = [value[i : i + size] for i in range(0, len(value), size)] or [""]
            blocks = [
                DataAnswer(datasets=(DataSet.single(ds.address if i == 0 else "", c),), partial=i < len(chunks) - 1)
                for i, c in enumerate(chunks)
            ]
            self.blocks = blocks[1:]
            return blocks[0]
        if cmd.code == "R1" and ds is not None:
            value = self.meter.registers.get(ds.address)
            return (
                ErrorAnswer(text="ER01") if value is None else DataAnswer(datasets=(DataSet.single(ds.address, value),))
            )
        if cmd.code == "W3" and ds is not None:
            if self.writing is None:
                if ds.address not in self.meter.registers:
                    return ErrorAnswer(text="ER01")
                self.writing = (ds.address, [])
            address, parts = self.writing
            number = len(parts) + 1
            if number in self.meter.nak_blocks and number not in self.naked:
                self.naked.add(number)
                return Nak()
            parts.append(ds.value)
            if not cmd.partial:
                self.meter.writes[address] = self.meter.registers[address] = "".join(parts)
                self.writing = None
            return Ack()
        return ErrorAnswer(text="ER04")
