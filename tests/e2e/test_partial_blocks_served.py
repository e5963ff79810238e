"""R3 and W3 end to end: ``MeterClient`` drives partial blocks against the virtual meter served over TCP."""

from __future__ import annotations

from datetime import UTC, datetime

from meterkit.client import MeterClient, PasswordAuthenticator
from meterkit.iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage
from meterkit.meter.tou import port_read
from meterkit.security.challenge import answer_tag, parse_operand
from meterkit.security.keys import MeterIdentity, derive_meter_key
from meterkit.transport import open_transport

from ..meter.portkit import DEMO_MASTER, READ_PW, balanced, live_config, live_meter, run
from .conftest import running_server

WEEK = "mon=offpeak;tue=workday;wed=workday;thu=workday;fri=workday;sat=offpeak;sun=offpeak"


class Level3:
    """Challenge-response with the demo meter's level-3 key (what a key package gives a hand-held)."""

    level = 3

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        challenge, serial = parse_operand(operand)
        identity = MeterIdentity(identification.manufacturer, serial)
        tag = answer_tag(derive_meter_key(DEMO_MASTER, identity, 3, 1), identity, 3, challenge)
        return CommandMessage(command="P", command_type="2", data_set=DataSet.single("", tag.hex().upper()))

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        return datasets


def test_r3_profile_and_w3_week_profile_over_tcp() -> None:
    vm, clock = live_meter(live_config(capture_min="capture_min = 1             # one-minute profile"))
    vm.set_phases(balanced(10))
    run(vm, clock, datetime(2026, 11, 2, 9, 40, tzinfo=UTC), tick_s=30)
    with running_server(vm, ["tcp://127.0.0.1:0"]) as server:
        with MeterClient(open_transport(server.tcp_url)) as client:
            client.programming(PasswordAuthenticator(READ_PW))
            whole = client.read("P.01", "2611020901;2611020940", partial=True)
            assert client.complete
            one = client.load_profile("2611020901", "2611020940")
            first = client.read("P.01", "2611020901;2611020940", partial=True, max_blocks=1)
            assert not client.complete  # stopped after one block; the next command aborts the rest at the meter
            assert client.read("0.0.0")[0].value == "12345678"
        vm.open_cover()
        with MeterClient(open_transport(server.tcp_url)) as client:
            client.programming(Level3())
            client.write("TOU.W.standard", WEEK, block_size=20)  # five W3 blocks
    assert whole == one and len(whole) == 41 and len(first) == 16
    assert port_read(vm.meter.calendar, "TOU.W.standard") == WEEK
