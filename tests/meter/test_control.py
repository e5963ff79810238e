"""The control channel's parser and dispatcher against a virtual meter on a simulated clock (no I/O)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.clock import SimulatedClock
from meterkit.iec62056_21.events import ErrorReceived, PositiveAck
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.config import load_config
from meterkit.meter.control import (
    Button,
    ControlChannel,
    ControlError,
    Cover,
    Help,
    Load,
    Power,
    ResetButton,
    Status,
    parse_command,
)
from meterkit.meter.virtual import VirtualMeter, demo_config_path

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def live_meter() -> tuple[VirtualMeter, SimulatedClock, ControlChannel]:
    # the demo meter as adjusted (no raw channel error): these tests check what the control channel sets
    text = (
        demo_config_path().read_text().split("[adjustment.raw_error]")[0].replace('kind = "synthetic"', 'kind = "live"')
    )
    clock = SimulatedClock(START)
    vm = VirtualMeter(load_config(text=text), clock=clock, follow_clock=True)
    return vm, clock, ControlChannel(vm)


def kinds(vm: VirtualMeter) -> list[str]:
    return [e.kind for e in vm.security.log_entries()]


def write_demand(vm: VirtualMeter, value: str = "fixed 15") -> object:
    pair = ConnectionPair.for_application(vm)
    pair.programming()
    return pair.command(CommandMessage(command="W", command_type="1", data_set=DataSet.single("C.60.1", value)))


# --- parser ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("cover open", Cover(open=True)),
        ("  COVER   Close ", Cover(open=False)),
        ("button", Button()),
        ("reset-button", ResetButton()),
        ("power down", Power(up=False)),
        ("power up", Power(up=True)),
        ("power up cover-open", Power(up=True, cover_open=True)),
        ("power up cover-closed", Power(up=True, cover_open=False)),
        ("status", Status()),
        ("help", Help()),
        ("load 230 10", Load(phases={0: (230.0, 10.0, 0.0), 1: (230.0, 10.0, 0.0), 2: (230.0, 10.0, 0.0)})),
        (
            "load L1 230 10 25 L3 231.5 2 -30 f 50.2",
            Load(phases={0: (230.0, 10.0, 25.0), 2: (231.5, 2.0, -30.0)}, frequency_hz=50.2),
        ),
        ("load f 60", Load(phases={}, frequency_hz=60.0)),
    ],
)
def test_parse_accepts_the_documented_commands(line: str, command: object) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "empty command"),
        ("open the cover", "unknown command 'open'"),
        ("cover", "cover open | cover close"),
        ("cover ajar", "cover open | cover close"),
        ("button twice", "button takes no arguments"),
        ("power sideways", "power down | power up"),
        ("power up cover-ajar", "power down | power up"),
        ("load", "load needs V I"),
        ("load L1 230", "L1: give the voltage and the current"),
        ("load L4 230 10", "expected L1, L2, L3 or f, got 'L4'"),
        ("load L1 230 ten", "L1 current: 'ten' is not a number"),
        ("load L1 nan 10", "L1 voltage: 'nan' is not a finite number"),
        ("load L1 230 10 L1 230 5", "L1 given twice"),
        ("load f", "f needs a frequency"),
        ("x" * 2000, "line too long"),
    ],
)
def test_parse_refuses_bad_input_with_a_clear_message(line: str, message: str) -> None:
    with pytest.raises(ControlError, match=message):
        parse_command(line)


# --- physical inputs ------------------------------------------------------------------------------------------


def test_cover_open_without_an_authorised_session_is_a_tamper_that_trips_the_relay() -> None:
    vm, _clock, control = live_meter()
    assert vm.security.relay_connected
    reply = control.handle("cover open")
    assert reply == "ok cover=open relay=open events=COVER_OPEN_UNAUTH,RELAY_TRIP"
    assert vm.security.cover_open and not vm.security.relay_connected
    assert kinds(vm)[-2:] == ["COVER_OPEN_UNAUTH", "RELAY_TRIP"]
    alarm = vm.outbox.pending()[-1]
    assert alarm.kind == "TAMPER" and alarm.details == {"event": "COVER_OPEN_UNAUTH", "relay": "open"}
    assert control.handle("cover open") == "error: the cover is already open"
    assert control.handle("cover close") == "ok cover=closed relay=open events=COVER_CLOSE"
    assert not vm.security.cover_open


def test_button_gives_the_next_session_level_3_so_an_authorised_cover_opening_allows_writes() -> None:
    vm, _clock, control = live_meter()
    before = str(vm.meter.demand_config)
    refused = write_demand(vm)
    assert isinstance(refused, ErrorReceived)  # level 1: no write
    assert control.handle("button").startswith("ok button: level 3 for the next session until 2026-11-02T08:30:00")
    pair = ConnectionPair.for_application(vm)
    pair.programming()  # the session after the button press is at level 3
    assert control.handle("cover open") == "ok cover=open relay=closed events=COVER_OPEN_AUTH"
    ack = pair.command(CommandMessage(command="W", command_type="1", data_set=DataSet.single("C.60.1", "fixed 15")))
    assert isinstance(ack, PositiveAck)
    assert before == "sliding 15/1" and str(vm.meter.demand_config) == "fixed 15"
    assert isinstance(write_demand(vm, "fixed 30"), ErrorReceived)  # the button served one session only


def test_reset_button_makes_a_billing_reset_and_honours_the_lockout() -> None:
    vm, clock, control = live_meter()
    assert control.handle("reset-button") == "ok billing reset, count 1"
    assert vm.meter.reset_count == 1 and vm.meter.history[-1].reason == "button"
    assert control.handle("reset-button").startswith("error: billing reset refused: lockout")
    clock.advance(3600)
    assert control.handle("reset-button") == "ok billing reset, count 2"


def test_load_sets_the_live_phases_and_the_meter_integrates_them() -> None:
    vm, clock, control = live_meter()
    reply = control.handle("load 230 10 25")
    assert reply == "ok load L1=230V/10A/25deg L2=230V/10A/25deg L3=230V/10A/25deg f=50Hz P=6.254kW"
    before = vm.meter.registers.total["A+"]
    clock.advance(3600)
    vm.tick()
    expected_mwh = 3 * 230 * 10 * math.cos(math.radians(25)) * 1000  # one hour
    assert vm.meter.registers.total["A+"] - before == pytest.approx(expected_mwh, abs=2)
    assert control.handle("load L2 0 0 f 60").endswith("f=60Hz P=4.169kW")
    clock.advance(1)
    vm.tick()
    assert vm.meter.last_measurement is not None and vm.meter.last_measurement.frequency_hz == 60
    assert vm.meter.phase_inputs[1].current_a == 0 and vm.meter.phase_inputs[0].current_a == 10
    status = control.handle("status")
    assert "source=live f=60Hz L1=230V/10A/25deg L2=0V/0A/0deg L3=230V/10A/25deg" in status


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("load 230 -1", "error: L1: current -1 A is outside 0-400 A"),
        ("load L2 1200 1", "error: L2: voltage 1200 V is outside 0-1000 V"),
        ("load L3 230 1 400", "error: L3: angle 400 is outside -360..360 degrees"),
        ("load f 0", "error: frequency 0 Hz is outside 0-1000 Hz"),
    ],
)
def test_load_out_of_range_changes_nothing(line: str, message: str) -> None:
    vm, _clock, control = live_meter()
    control.handle("load 230 5")
    before = vm.live.phases(vm.meter.now)
    assert control.handle(line) == message
    assert vm.live.phases(vm.meter.now) == before and vm.config.metrology.frequency_hz == 50


def test_power_down_stops_the_meter_and_power_up_logs_the_outage() -> None:
    vm, clock, control = live_meter()
    control.handle("load 230 10")
    assert control.handle("power down") == "ok power=down at 2026-11-02T08:00:00+00:00"
    assert not control.powered and not vm.meter.powered
    assert control.handle("power down") == "error: the meter is already powered down"
    assert control.handle("button") == "error: button: the meter is powered down"
    energy = vm.meter.registers.total["A+"]
    clock.advance(600)
    assert control.handle("status").startswith("ok power=down cover=closed relay=closed")
    reply = control.handle("power up")
    assert reply == "ok power=up at 2026-11-02T08:10:00+00:00 cover=closed relay=closed events=-"
    assert vm.meter.registers.total["A+"] == energy  # nothing measured without supply
    assert [e.text for e in vm.meter.events[-2:]] == ["power down", "power up"]
    assert control.handle("power up") == "error: the meter is already powered up"


def test_cover_opened_while_unpowered_is_a_tamper_at_power_up_even_if_closed_again() -> None:
    vm, clock, control = live_meter()
    control.handle("power down")
    assert control.handle("cover open").startswith("ok cover=open (the meter is powered down")
    assert control.handle("cover close").startswith("ok cover=closed")
    assert "COVER_OPEN_UNAUTH" not in kinds(vm)  # an unpowered meter logs nothing
    clock.advance(60)
    reply = control.handle("power up")
    assert reply.endswith("cover=closed relay=open events=TAMPER_AT_POWER_UP,RELAY_TRIP,COVER_CLOSE")
    assert not vm.security.relay_connected and not vm.security.cover_open


def test_power_up_with_the_cover_found_open() -> None:
    vm, _clock, control = live_meter()
    control.handle("power down")
    reply = control.handle("power up cover-open")
    assert reply.endswith("cover=open relay=open events=TAMPER_AT_POWER_UP,RELAY_TRIP")
    assert vm.security.cover_open
    assert control.handle("status").startswith("ok power=up cover=open relay=open button=idle source=live")


def test_status_and_help() -> None:
    vm, clock, control = live_meter()
    assert control.handle("status") == (
        "ok power=up cover=closed relay=closed button=idle source=live f=50Hz "
        "L1=230V/0A/0deg L2=230V/0A/0deg L3=230V/0A/0deg time=2026-11-02T08:00:00+00:00"
    )
    control.handle("button")
    clock.advance(5)
    vm.tick()
    assert "button=armed-until-2026-11-02T08:30:00+00:00" in control.handle("status")
    assert control.handle("help").startswith("ok commands: cover open|close; button; reset-button; power down;")


def test_a_failure_inside_the_meter_is_an_error_reply_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    vm, _clock, control = live_meter()

    def broken() -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(vm.security, "button_pressed", broken)
    assert control.handle("button") == "error: internal error: RuntimeError: disk on fire second line"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80) | st.lists(st.sampled_from(["load", "L1", "L2", "f", "1", "-5", "1e9", "x"])).map(" ".join))
def test_any_line_gets_one_reply_line_and_never_raises(line: str) -> None:
    _vm, _clock, control = live_meter()
    reply = control.handle(line)
    assert "\n" not in reply and (reply.startswith("ok") or reply.startswith("error: "))


def test_time_comes_from_the_meters_clock() -> None:
    _vm, clock, control = live_meter()
    clock.advance(timedelta(hours=2).total_seconds())
    assert control.handle("power down") == "ok power=down at 2026-11-02T10:00:00+00:00"
