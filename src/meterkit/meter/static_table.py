"""A small meter application that serves a static register table.

It answers the readout, R1/R3 reads (R3 in partial blocks), W1 writes after a P1 password, and B0.  It is the
protocol layer's reference application for tests and interoperability runs; the full virtual meter lives in
:mod:`meterkit.meter.virtual`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, MeterkitError
from ..iec62056_21.application import SessionReply
from ..iec62056_21.events import (
    CommandReceived,
    MeterEvent,
    NextBlockRequested,
    ProgrammingRequested,
    ReadoutRequested,
)
from ..iec62056_21.messages import Ack, CommandMessage, DataAnswer, DataMessage, DataSet, ErrorAnswer
from ..iec62056_21.meter import MeterPortConfig

__all__ = ["StaticTableMeter", "StaticTableSession", "default_static_table", "load_static_meter", "table_from_mapping"]


def default_static_table() -> dict[str, DataSet]:
    """A plausible register table: identity, clock, energies, maximum demand with time stamp."""
    rows = [
        DataSet.single("0.0.0", "12345678"),
        DataSet.single("0.9.1", "103000"),
        DataSet.single("0.9.2", "261125"),
        DataSet.single("1.8.0", "001234.567", "kWh"),
        DataSet.single("1.8.1", "000800.123", "kWh"),
        DataSet.single("1.8.2", "000434.444", "kWh"),
        DataSet.single("2.8.0", "000012.000", "kWh"),
        DataSet(
            address="1.6.0",
            values=(DataSet.single("", "0157.00", "kW").values[0], DataSet.single("", "2611020922").values[0]),
        ),
        DataSet.single("F.F", "00000000"),
    ]
    return {ds.address: ds for ds in rows}


@dataclass
class StaticTableMeter:
    """A :class:`~meterkit.iec62056_21.application.MeterApplication` over a register table."""

    config: MeterPortConfig = field(
        default_factory=lambda: MeterPortConfig(manufacturer="MKT", ident="STATIC1", baud_char="5")
    )
    registers: dict[str, DataSet] = field(default_factory=default_static_table)
    password: str = "00000000"  # noqa: S105 - the protocol reference meter, never the virtual meter
    operand: str = "12345678"
    block_size: int = 64

    def port_config(self) -> MeterPortConfig:
        return self.config

    def open_session(self) -> StaticTableSession:
        return StaticTableSession(self)


class StaticTableSession:
    """One session of a :class:`StaticTableMeter`."""

    def __init__(self, meter: StaticTableMeter) -> None:
        self.meter = meter
        self.authorised = False
        self._blocks: list[DataAnswer] = []

    def close(self, reason: str) -> None:
        self.authorised = False
        self._blocks = []

    def handle(self, event: MeterEvent) -> SessionReply:
        if isinstance(event, ReadoutRequested):
            return SessionReply(messages=(DataMessage(datasets=tuple(self.meter.registers.values())),))
        if isinstance(event, ProgrammingRequested):
            op = CommandMessage(command="P", command_type="0", data_set=DataSet.single("", self.meter.operand))
            return SessionReply(messages=(op,))
        if isinstance(event, NextBlockRequested):
            return SessionReply(messages=(self._blocks.pop(0),) if self._blocks else (ErrorAnswer(text="ER01"),))
        if isinstance(event, CommandReceived):
            return SessionReply(messages=(self._command(event.command),))
        return SessionReply()

    def _command(self, cmd: CommandMessage) -> Ack | DataAnswer | ErrorAnswer:
        ds = cmd.data_set
        if cmd.code == "P1":
            if ds is not None and ds.value == self.meter.password:
                self.authorised = True
                return Ack()
            return ErrorAnswer(text="ERPASSWORD")
        if cmd.code in ("R1", "R3") and ds is not None:
            found = self.meter.registers.get(ds.address)
            if found is None:
                return ErrorAnswer(text="ERUNKNOWN")
            if cmd.code == "R3":
                return self._partial(found)
            return DataAnswer(datasets=(found,))
        if cmd.code == "W1" and ds is not None:
            if not self.authorised:
                return ErrorAnswer(text="ERNOACCESS")
            if ds.address not in self.meter.registers:
                return ErrorAnswer(text="ERUNKNOWN")
            self.meter.registers[ds.address] = DataSet(address=ds.address, values=ds.values)
            return Ack()
        return ErrorAnswer(text="ERCOMMAND")

    def _partial(self, ds: DataSet) -> DataAnswer:
        """Split a data set's text into blocks of ``block_size`` value characters (R3 demonstration)."""
        value = ds.value
        size = max(1, self.meter.block_size)
        chunks = [value[i : i + size] for i in range(0, len(value), size)] or [""]
        blocks = [
            DataAnswer(
                datasets=(
                    DataSet.single(ds.address if i == 0 else "", chunk, ds.unit if i == len(chunks) - 1 else ""),
                ),
                partial=i < len(chunks) - 1,
            )
            for i, chunk in enumerate(chunks)
        ]
        self._blocks = blocks[1:]
        return blocks[0]


def load_static_meter(path: Path) -> StaticTableMeter:
    """A static-table meter from TOML: ``[meter]`` (manufacturer, ident, baud_char, protocol_mode,
    device_address, password) and ``[registers]`` (``"1.8.0" = "001234.567*kWh"``)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    meter = doc.get("meter", {})
    registers = doc.get("registers", {})
    if not isinstance(meter, dict) or not isinstance(registers, dict):
        raise ConfigError(f"{path}: [meter] and [registers] must be tables")
    unknown = set(meter) - {"manufacturer", "ident", "baud_char", "protocol_mode", "device_address", "password"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [meter]: {', '.join(sorted(unknown))}")
    try:
        config = MeterPortConfig(
            manufacturer=str(meter.get("manufacturer", "MKT")),
            ident=str(meter.get("ident", "STATIC1")),
            baud_char=str(meter.get("baud_char", "5")),
            protocol_mode=str(meter.get("protocol_mode", "C")),  # type: ignore[arg-type]
            device_address=str(meter.get("device_address", "")),
        )
        table = table_from_mapping({str(k): str(v) for k, v in registers.items()}) if registers else None
    except MeterkitError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    password = meter.get("password")
    if not isinstance(password, str) or not password:
        raise ConfigError(f"{path}: [meter] password must be set (no shared default password)")
    return StaticTableMeter(config=config, registers=table or default_static_table(), password=password)


def table_from_mapping(values: Mapping[str, str]) -> dict[str, DataSet]:
    """``{"1.8.0": "001234.567*kWh"}`` as a register table."""
    out: dict[str, DataSet] = {}
    for address, text in values.items():
        value, _, unit = text.partition("*")
        out[address] = DataSet.single(address, value, unit)
    return out
