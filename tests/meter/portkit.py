"""Helpers for tests of the virtual meter through its optical port: live meters on a simulated clock, sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterkit.clock import SimulatedClock
from meterkit.iec62056_21.events import AnswerReceived, ClientEvent, ErrorReceived, PositiveAck
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.config import MeterConfig, load_config
from meterkit.meter.metrology import PhaseInput
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.security.challenge import answer_tag, parse_operand
from meterkit.security.keys import MeterIdentity, derive_meter_key
from meterkit.storage import NvStore

READ_PW = "20261125"
DEMO_MASTER = bytes.fromhex("6d657465726b69742d64656d6f2d6d61737465722d6b65792d6e6f742d736563")
MONDAY_0900 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def demo_text(**replace: str) -> str:
    """The demo configuration with a live source and lines replaced: ``key=line`` replaces the line starting with
    ``key``'s name (``max_current_a="max_current_a = 4.0"``).  Its channels measure without raw error (as an adjusted
    meter does): these tests are about the port, the accuracy of adjustment is tested in tests/adjust."""
    text = demo_config_path().read_text().split("[adjustment.raw_error]")[0]
    lines = text.replace('kind = "synthetic"', 'kind = "live"').splitlines()
    for key, line in replace.items():
        hits = [i for i, text in enumerate(lines) if text.startswith(f"{key} =")]
        assert len(hits) == 1, key
        lines[hits[0]] = line
    return "\n".join(lines) + "\n"


def live_config(**replace: str) -> MeterConfig:
    return load_config(text=demo_text(**replace))


def live_meter(
    config: MeterConfig | None = None, *, start: datetime = MONDAY_0900, store: NvStore | None = None
) -> tuple[VirtualMeter, SimulatedClock]:
    """A meter following a simulated clock, as ``meterkit serve`` runs it live."""
    clock = SimulatedClock(start)
    vm = VirtualMeter(config or live_config(), clock=clock, store=store)
    return vm, clock


def balanced(current_a: float, angle_deg: float = 0.0, voltage_v: float = 230.0) -> tuple[PhaseInput, ...]:
    return tuple(PhaseInput(voltage_v=voltage_v, current_a=current_a, angle_deg=angle_deg) for _ in range(3))


def run(vm: VirtualMeter, clock: SimulatedClock, until: datetime, tick_s: float = 1.0) -> None:
    """Let the clock run to ``until`` with the server's ticker calling ``tick()`` every ``tick_s`` seconds."""
    while clock.now() < until:
        clock.advance(min(tick_s, (until - clock.now()).total_seconds()))
        vm.tick()


def R(code: str, address: str, value: str = "") -> CommandMessage:
    return CommandMessage(command=code[0], command_type=code[1], data_set=DataSet.single(address, value))


def session(vm: VirtualMeter, password: str | None = READ_PW) -> ConnectionPair:
    pair = ConnectionPair.for_application(vm)
    pair.programming()
    if password is not None:
        assert isinstance(pair.command(R("P1", "", password)), PositiveAck)
    return pair


def level3(vm: VirtualMeter, *, cover: bool = True) -> ConnectionPair:
    """Challenge-response with the demo level-3 key, then (authorised) open the terminal cover."""
    pair = ConnectionPair.for_application(vm)
    challenge, serial = parse_operand(pair.programming())
    ident = MeterIdentity("MKT", serial)
    tag = answer_tag(derive_meter_key(DEMO_MASTER, ident, 3, 1), ident, 3, challenge)
    assert isinstance(pair.command(R("P2", "", tag.hex().upper())), PositiveAck)
    if cover:
        vm.open_cover()
    return pair


def answer(pair: ConnectionPair, code: str, address: str, value: str = "") -> tuple[DataSet, ...]:
    event = pair.command(R(code, address, value))
    assert isinstance(event, AnswerReceived), event
    return event.answer.datasets


def values(pair: ConnectionPair, address: str) -> tuple[str, ...]:
    return tuple(v.value for v in answer(pair, "R1", address)[0].values)


def with_units(pair: ConnectionPair, address: str) -> tuple[tuple[str, str], ...]:
    return tuple((v.value, v.unit) for v in answer(pair, "R1", address)[0].values)


def refused(event: ClientEvent, code: str) -> bool:
    return isinstance(event, ErrorReceived) and event.text == code


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
