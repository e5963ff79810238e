"""The virtual meter through its optical port (in memory): registers, sessions, billing, tariffs, NV memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from meterkit.errors import ConfigError, DeviceError
from meterkit.iec62056_21.events import AnswerReceived, ErrorReceived, PositiveAck
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.config import load_config
from meterkit.meter.metrology import PhaseInput
from meterkit.meter.tou import TouCalendar
from meterkit.meter.virtual import VirtualMeter, demo_config_path, load_virtual_meter
from meterkit.storage import NvStore

from .portkit import READ_PW, R, level3, session

ROOT = Path(__file__).parents[2]
FAQ = ROOT / "examples" / "faq-0900-0930.csv"


def value(pair: ConnectionPair, address: str) -> tuple[str, ...]:
    event = pair.command(R("R1", address))
    assert isinstance(event, AnswerReceived), event
    return tuple(v.value for v in event.answer.datasets[0].values)


def faq_meter(window: str = "sliding 15/1") -> VirtualMeter:
    text = demo_config_path().read_text().replace('window = "sliding 15/1"', f'window = "{window}"')
    return load_virtual_meter(None, None, replay=FAQ, config_text=text)


def test_examples_config_and_packaged_copy_are_identical() -> None:
    assert (ROOT / "examples" / "demo-meter.toml").read_text() == demo_config_path().read_text()
    assert (ROOT / "examples" / "faq-0900-0930.csv").read_text() == (
        ROOT / "src/meterkit/data/faq-0900-0930.csv"
    ).read_text()


@pytest.mark.parametrize(
    ("window", "md", "stamp"), [("fixed 15", "0141.00", "2611020915"), ("sliding 15/1", "0157.00", "2611020922")]
)
def test_faq_replay_md_register_over_the_port(window: str, md: str, stamp: str) -> None:
    pair = session(faq_meter(window))
    assert value(pair, "1.6.0") == (md, stamp)
    assert value(pair, "1.8.0") == ("000069.400",)  # 6940 units of 0.01 kWh
    assert value(pair, "C.60.1") == (window.replace("/", " "),)


def test_public_readout_without_password_and_reads_need_level_2() -> None:
    vm = faq_meter()
    pair = ConnectionPair.for_application(vm)
    readout = pair.readout()
    assert [d.address for d in readout.datasets] == ["0.0.0", "0.9.1", "0.9.2", "1.8.0", "2.8.0", "F.F"]
    pair.advance(5)
    pair = session(vm, password=None)
    assert value(pair, "1.8.0") == ("000069.400",)  # public register
    event = pair.command(R("R1", "1.6.0"))
    assert isinstance(event, ErrorReceived) and event.text == "ER02"
    assert isinstance(pair.command(R("R1", "99.99.99")), ErrorReceived)


def test_wrong_passwords_give_er10_and_the_third_locks_the_port() -> None:
    vm = faq_meter()
    pair = session(vm, password=None)
    for _ in range(3):
        event = pair.command(R("P1", "", "00000000"))
        assert isinstance(event, ErrorReceived) and event.text == "ER10"
    locked = pair.command(R("P1", "", READ_PW))  # even the right password is refused while locked
    assert isinstance(locked, ErrorReceived) and locked.text == "ER10"
    kinds = [e.kind for e in vm.security.log_entries()]
    assert kinds.count("AUTH_FAIL") == 3 and "LOCKOUT_START" in kinds and "AUTH_REFUSED_LOCKED" in kinds


def test_writes_need_level_3_and_change_the_demand_configuration() -> None:
    vm = faq_meter()
    pair = session(vm, READ_PW)
    event = pair.command(R("W1", "C.60.1", "fixed 30"))
    assert isinstance(event, ErrorReceived) and event.text == "ER02"
    pair.sign_off()
    pair.advance(3)
    pair = level3(vm)
    assert isinstance(pair.command(R("W1", "C.60.1", "fixed 30")), PositiveAck)
    assert value(pair, "C.60.1") == ("fixed 30",)
    bad = pair.command(R("W1", "C.60.1", "sliding 30 3"))
    assert isinstance(bad, ErrorReceived) and bad.text == "ER03"
    assert isinstance(pair.command(R("W1", "1.8.0", "0")), ErrorReceived)  # energy is read-only
    assert any(e.code == 5 and "C.60.1 changed from sliding 15 1 to fixed 30" in e.text for e in vm.meter.events)


def test_billing_reset_by_command_stores_history_counts_and_locks_out() -> None:
    vm = faq_meter()
    pair = level3(vm)
    assert isinstance(pair.command(R("E2", "BILLING.RESET")), PositiveAck)
    assert value(pair, "0.1.0") == ("01",)
    assert value(pair, "1.6.0*01") == ("0157.00", "2611020922")
    assert value(pair, "1.8.0*01") == ("000069.400",)
    assert value(pair, "1.6.0") == ("0000.00", "")  # MD cleared
    locked = pair.command(R("E2", "BILLING.RESET"))
    assert isinstance(locked, ErrorReceived) and locked.text == "ER05"
    assert isinstance(pair.command(R("R1", "1.6.0*02")), ErrorReceived)  # no second period yet


def test_scheduled_monthly_reset_keeps_at_least_12_periods_newest_first() -> None:
    cfg = load_config(
        text='[source]\nkind = "live"\n[demand]\nwindow = "fixed 60"\n[load_profile]\ncapture_min = 60\n'
        '[clock]\nstart = "2026-01-31T23:00:00+00:00"\n'
    )
    vm = VirtualMeter(cfg, follow_clock=False)
    vm.set_phases(tuple(PhaseInput(230, 10, 0) for _ in range(3)))
    t = vm.meter.now
    for month in range(14):
        t = datetime(2026 + (1 + month) // 12, (1 + month) % 12 + 1, 1, 0, 0, tzinfo=UTC) + timedelta(minutes=1)
        vm.advance_to(t, step_s=3600)
    assert vm.meter.reset_count == 14
    assert len(vm.meter.history) == 14  # history = 15 by default, >= 12 required
    assert vm.meter.history[-1].at == datetime(2027, 3, 1, tzinfo=UTC)
    assert next(e for e in vm.meter.events if e.code == 4).text.startswith("billing reset (scheduled)")


def test_tou_registers_follow_the_calendar() -> None:
    cfg = load_config(text='[source]\nkind = "live"\n[clock]\nstart = "2026-11-02T06:00:00+00:00"\n')
    vm = VirtualMeter(cfg, follow_clock=False)
    vm.set_phases(tuple(PhaseInput(230, 10, 0) for _ in range(3)))  # 6.9 kW
    vm.advance_to(datetime(2026, 11, 2, 8, 0, tzinfo=UTC), step_s=60)  # Monday: 06-07 T2, 07-08 T1
    assert vm.meter.registers.tariffs[1]["A+"] == pytest.approx(6_900_000, abs=1)
    assert vm.meter.registers.tariffs[2]["A+"] == pytest.approx(6_900_000, abs=1)


def test_tou_validation_names_the_problem() -> None:
    base = {"week_profiles": {}, "seasons": [], "special_days": {}}
    with pytest.raises(ConfigError, match=r"tariffs.day_profiles.d: the first switch must be at 00:00"):
        TouCalendar.from_dict({**base, "day_profiles": {"d": [["01:00", 1]]}})
    with pytest.raises(ConfigError, match=r"switch time 07:00 appears twice \(overlap\)"):
        TouCalendar.from_dict({**base, "day_profiles": {"d": [["00:00", 1], ["07:00", 2], ["07:00", 1]]}})
    with pytest.raises(ConfigError, match="tariff must be 1-8, got 9"):
        TouCalendar.from_dict({**base, "day_profiles": {"d": [["00:00", 9]]}})
    cal = TouCalendar.default()
    berlin = ZoneInfo("Europe/Berlin")
    assert cal.tariff_at(datetime(2026, 11, 2, 6, 59, tzinfo=berlin), berlin) == 2
    assert cal.tariff_at(datetime(2026, 11, 2, 7, 0, tzinfo=berlin), berlin) == 1
    assert cal.tariff_at(datetime(2026, 11, 7, 12, 0, tzinfo=berlin), berlin) == 2  # Saturday


def test_config_errors_name_the_key() -> None:
    with pytest.raises(
        ConfigError, match=r"configuration: billing.reset_day: Input should be less than or equal to 28"
    ):
        load_config(text="[billing]\nreset_day = 31\n")
    with pytest.raises(ConfigError, match=r"identity\.colour: Extra inputs are not permitted"):
        load_config(text='[identity]\ncolour = "red"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(text="[identity\n")


def test_load_profile_and_event_log_by_time_range() -> None:
    pair = session(faq_meter())
    event = pair.command(R("R5", "P.01", "2611020900;2611020915"))
    assert isinstance(event, AnswerReceived)
    header, *rows = event.answer.datasets
    assert header.address == "P.01" and header.values[0].value == "1" and header.values[1].value == "15"
    assert [v.value for v in rows[0].values[:3]] == ["2611020915", "00", "000035.250"]
    all_rows = pair.command(R("R5", "P.01"))
    assert isinstance(all_rows, AnswerReceived) and len(all_rows.answer.datasets) == 3
    events = pair.command(R("R5", "P.98"))
    assert isinstance(events, AnswerReceived) and events.answer.datasets[1].values[2].value == "first power up"


def test_state_survives_a_restart_with_a_power_down_up_pair(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    text = demo_config_path().read_text()
    vm = load_virtual_meter(None, state, replay=FAQ, config_text=text)
    md = vm.meter.maximum("A+")
    vm.store.close()
    again = load_virtual_meter(None, state, replay=FAQ, config_text=text)
    assert again.meter.maximum("A+") == md and again.meter.registers.total["A+"] == 69_400_000
    codes = [e.code for e in again.meter.events]
    assert codes[-3:] == [1, 2, 10]  # power down, power up, self-test
    assert len(again.meter.profile) == 2


def test_absent_secrets_are_random_and_stored_once(tmp_path: Path) -> None:
    store = NvStore(tmp_path / "s.sqlite")
    cfg = load_config(text='[source]\nkind = "live"\n')
    first = VirtualMeter(cfg, store=store, follow_clock=False).security
    second = VirtualMeter(cfg, store=store, follow_clock=False).security
    assert first.read_password == second.read_password != READ_PW
    assert first.keys == second.keys
    other = VirtualMeter(cfg, store=NvStore(tmp_path / "other.sqlite"), follow_clock=False).security
    assert other.keys != first.keys and other.read_password != first.read_password


def test_billing_reset_lockout_refuses_a_second_button_press() -> None:
    vm = faq_meter()
    vm.press_button()
    with pytest.raises(DeviceError, match="billing reset refused: lockout"):
        vm.press_button()
    assert vm.meter.history[-1].maxima["A+"] == ("157.00", "2026-11-02T09:22:00+00:00")
    assert vm.meter.maximum("A+") is None and vm.meter.reset_count == 1
    assert Decimal(vm.meter.history[-1].maxima["A+"][0]) > Decimal(150)  # type: ignore[index]


def test_every_register_is_documented() -> None:
    from meterkit.meter.catalogue import catalogue

    doc = (ROOT / "docs" / "registers.md").read_text()
    missing = [r.address for r in catalogue().registers if f"| `{r.address}` |" not in doc]
    assert missing == []


def test_tariffs_are_readable_and_writable_over_the_port_with_validation() -> None:
    vm = faq_meter()
    pair = session(vm, READ_PW)
    assert value(pair, "TOU.D.workday") == ("00:00=2;07:00=1;22:00=2",)
    assert value(pair, "TOU.SEASONS") == ("01-01=standard",)
    refused = pair.command(R("W1", "TOU.D.workday", "00:00=1"))
    assert isinstance(refused, ErrorReceived) and refused.text == "ER02"  # level 2 cannot write
    pair.sign_off()
    pair.advance(3)
    pair = level3(vm)
    assert isinstance(pair.command(R("W1", "TOU.D.workday", "00:00=2;06:00=1;20:00=2")), PositiveAck)
    assert value(pair, "TOU.D.workday") == ("00:00=2;06:00=1;20:00=2",)
    gap = pair.command(R("W1", "TOU.D.workday", "06:00=1"))
    assert isinstance(gap, ErrorReceived) and gap.text == "ER03"
    assert "first switch must be at 00:00" in vm.meter.events[-1].text
    assert value(pair, "TOU.D.workday") == ("00:00=2;06:00=1;20:00=2",)  # unchanged by the refused write
    unknown = pair.command(R("W1", "TOU.W.standard", "mon=nosuch;tue=workday"))
    assert isinstance(unknown, ErrorReceived) and unknown.text == "ER03"


def test_communication_settings_change_the_port_identity() -> None:
    vm = faq_meter()
    pair = level3(vm)
    assert isinstance(pair.command(R("W1", "C.62.1", "4711")), PositiveAck)
    assert isinstance(pair.command(R("W1", "C.62.2", "3")), PositiveAck)
    assert isinstance(pair.command(R("W1", "C.62.2", "9")), ErrorReceived)
    assert isinstance(pair.command(R("W1", "C.60.2", "15")), PositiveAck)
    assert value(pair, "C.60.2") == ("15",)
    config = vm.port_config()
    assert config.device_address == "4711" and config.baud_char == "3"
    assert vm.meter._next_reset.day == 15


def test_self_test_and_demand_register_reset() -> None:
    vm = faq_meter()
    pair = session(vm, READ_PW)
    answer = pair.command(R("E2", "SELFTEST"))
    assert isinstance(answer, AnswerReceived) and answer.answer.datasets[0].value == "OK"
    assert value(pair, "F.F") == ("00000000",)
    pair.sign_off()
    pair.advance(3)
    pair = level3(vm)
    assert isinstance(pair.command(R("E2", "DEMAND.RESET")), PositiveAck)
    assert value(pair, "1.6.0") == ("0000.00", "")
    assert value(pair, "1.8.0") == ("000069.400",)  # energy is never reset
    assert vm.meter.events[-1].code == 7


def test_a_mode_d_virtual_meter_pushes_its_public_readout_at_its_interval() -> None:
    from meterkit.iec62056_21.events import ReadoutReceived

    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    text = text.replace('protocol_mode = "C"', 'protocol_mode = "D"').replace('baud_char = "5"', 'baud_char = "3"')
    text = text.replace("# push_interval_s = 10", "push_interval_s = 10")
    vm = VirtualMeter(load_config(text=text), follow_clock=False)
    pair = ConnectionPair.for_application(vm)
    pair.client.listen(baud=2400)
    pair.advance(25)
    pushes = [e for e in pair.client_events if isinstance(e, ReadoutReceived)]
    assert len(pushes) == 3
    assert [ds.address for ds in pushes[0].message.datasets] == ["0.0.0", "0.9.1", "0.9.2", "1.8.0", "2.8.0", "F.F"]
    assert pair.wire.sent_by("client") == []
    with pytest.raises(ConfigError, match="mode D meter pushes at a mode C rate"):
        load_config(text=text.replace('baud_char = "3"', 'baud_char = "C"'))
    with pytest.raises(ConfigError, match="push_interval_s is for protocol_mode D"):
        load_config(text=text.replace('protocol_mode = "D"', 'protocol_mode = "C"'))
