"""The virtual meter over its optical port: demand scaling, measuring range, refusal reasons, TOU duplicates, OBIS
registers, profile ranges and partial blocks, reset lockout, per-tariff/export/apparent MD, self-test bits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from meterkit.client import PasswordAuthenticator
from meterkit.client.auth import IntegrityGuard
from meterkit.clock import SimulatedClock
from meterkit.errors import ConfigError, DeviceError
from meterkit.iec62056_21.events import AnswerReceived, PositiveAck
from meterkit.iec62056_21.messages import EOT, ETX
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.config import Source, load_config
from meterkit.meter.metrology import PhaseInput, measure
from meterkit.meter.session import PARTIAL_BLOCK_LINES
from meterkit.meter.sources import SyntheticSource
from meterkit.meter.tou import TouCalendar, with_port_write
from meterkit.meter.virtual import VirtualMeter, load_virtual_meter
from meterkit.storage import NvStore

from .portkit import (
    MONDAY_0900,
    READ_PW,
    R,
    answer,
    balanced,
    demo_text,
    level3,
    live_config,
    live_meter,
    minutes,
    refused,
    run,
    session,
    values,
    with_units,
)

ROOT = Path(__file__).parents[2]
FAQ = ROOT / "examples" / "faq-0900-0930.csv"


def at(hh: int, mm: int, ss: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


# --- 3. measuring range --------------------------------------------------------------------------------------------


def write_profile(path: Path, kw: float, n: int = 30) -> Path:
    with path.open("w") as fh:
        fh.write("timestamp,kw\n")
        for i in range(n):
            fh.write(f"{(MONDAY_0900 + minutes(i + 1)).isoformat()},{kw}\n")
    return path


def test_a_replay_beyond_the_measuring_range_is_refused_up_front_naming_peak_range_and_fix(tmp_path: Path) -> None:
    profile = write_profile(tmp_path / "big.csv", 12000.0)
    state = tmp_path / "meter.sqlite"
    with pytest.raises(ConfigError) as info:
        load_virtual_meter(None, state, replay=profile)
    assert str(info.value) == (
        f"{profile}: the load peaks at 12000.00 kW (12631.58 kVA at the replay power factor 0.95), beyond the meter's "
        "measuring range of 317.40 kW (3 x 264.5 V x 400 A); configure a bigger range: [metrology] max_current_a = "
        '15919 or more and [demand] display_scale = "MW"'
    )
    assert not state.exists()  # refused before anything ran
    text = demo_text(max_current_a="max_current_a = 15919.0", display_scale='display_scale = "MW"')
    vm = load_virtual_meter(None, None, replay=profile, config_text=text)
    pair = session(vm)
    assert with_units(pair, "1.6.0") == (("0012.00", "MW"), ("2611020915", ""))
    assert with_units(pair, "9.6.0") == (("0012.63", "MVA"), ("2611020915", ""))


def test_the_faq_demo_fits_the_demo_range_and_would_not_fit_100_a(tmp_path: Path) -> None:
    cfg = load_config(text=demo_text())
    assert cfg.metrology.range_kw == Decimal("317.40")
    vm = load_virtual_meter(None, None, replay=FAQ)  # the demo meter: the FAQ peaks at 174 kW (2.90 kWh a minute)
    assert vm.meter.maximum("A+") is not None
    with pytest.raises(
        ConfigError, match=r"peaks at 174.00 kW \(183.16 kVA .* range of 79.35 kW .* max_current_a = 231"
    ):
        load_virtual_meter(None, None, replay=FAQ, config_text=demo_text(max_current_a="max_current_a = 100.0"))


def test_live_inputs_beyond_the_range_saturate_flag_ff_and_log() -> None:
    vm, clock = live_meter()
    vm.set_phases(balanced(1000))
    run(vm, clock, at(9, 20), tick_s=30)
    pair = session(vm)
    assert values(pair, "31.7.0") == ("400.00",)  # the measurement saturates at max_current_a
    assert values(pair, "1.7.0") == ("276.000",)  # 3 x 230 V x 400 A
    assert values(pair, "1.6.0") == ("0276.00", "2611020915")
    assert values(pair, "F.F") == ("00000008",)
    saturated = [e for e in vm.meter.events if e.code == 6]
    assert saturated[-1].text == (
        "input beyond the measuring range (L1 230 V 1000 A, L2 230 V 1000 A, L3 230 V 1000 A; range 264.5 V 400 A "
        "per phase): measured at the range"
    )
    vm.set_phases(balanced(10))
    run(vm, clock, at(9, 21), tick_s=30)
    assert values(session(vm), "F.F") == ("00000000",)
    assert vm.meter.events[-1].text == "input back within the measuring range"


def test_a_display_scale_that_cannot_show_the_range_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"display scale W cannot show the meter's maximum power 317.40 kW"):
        load_config(text=demo_text(display_scale='display_scale = "W"'))
    with pytest.raises(ConfigError, match=r"max_voltage_v 200.0 V is below the nominal voltage 230.0 V"):
        load_config(text=demo_text(va_method='va_method = "arithmetic"\nmax_voltage_v = 200.0'))
    # effective VA can reach twice the range (neutral current): checked too
    big = "max_current_a = 12600.0"  # 3 x 264.5 V x 12600 A = 9998.10 kW fits 9999.99 kW ...
    assert load_config(text=demo_text(max_current_a=big)).metrology.range_kw == Decimal("9998.10")
    with pytest.raises(ConfigError, match=r"maximum power 19996.20 kW"):  # ... but not twice that
        load_config(text=demo_text(va_method='va_method = "effective"', max_current_a=big))


# --- 4. display scale -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "imax", "amps", "power", "running", "unit"),
    [
        ("W", 4.0, 2.0, "1380.00", "1288.00", "W"),  # resolved to 0.01 W, not to 0.01 kW
        ("kW", 400.0, 10.0, "0006.90", "0006.44", "kW"),
        ("MW", 20000.0, 10000.0, "0006.90", "0006.44", "MW"),
    ],
)
def test_every_demand_register_and_its_history_use_the_scale(
    scale: str, imax: float, amps: float, power: str, running: str, unit: str
) -> None:
    cfg = live_config(max_current_a=f"max_current_a = {imax}", display_scale=f'display_scale = "{scale}"')
    vm, clock = live_meter(cfg)
    vm.set_phases(balanced(amps))
    run(vm, clock, at(9, 20), tick_s=20)
    va = unit.replace("W", "VA")
    pair = session(vm)
    assert with_units(pair, "1.6.0") == ((power, unit), ("2611020915", ""))
    assert with_units(pair, "1.6.1") == ((power, unit), ("2611020915", ""))  # tariff 1 from 07:00
    assert with_units(pair, "9.6.0") == ((power, va), ("2611020915", ""))
    assert with_units(pair, "1.4.0") == ((running, unit),)  # at 09:20:00: 14 of 15 minutes so far
    assert with_units(pair, "1.5.0") == ((power, unit),)
    assert with_units(pair, "9.5.0") == ((power, va),)
    assert with_units(pair, "2.6.0") == (("0000.00", unit), ("2611020915", ""))
    vm.press_button()
    pair = session(vm)
    assert with_units(pair, "1.6.0*01") == ((power, unit), ("2611020915", ""))
    assert with_units(pair, "9.6.1*01") == ((power, va), ("2611020915", ""))
    assert with_units(pair, "1.6.0") == (("0000.00", unit), ("", ""))


# --- 5. refusal reasons ---------------------------------------------------------------------------------------------


def joined(vals: tuple[str, ...]) -> str:
    return "".join(vals)


def test_a_refused_demand_setting_keeps_its_full_reason_in_c_91_0_and_p_98() -> None:
    vm, clock = live_meter()
    run(vm, clock, at(9, 31))
    pair = level3(vm)
    assert refused(pair.command(R("W1", "C.60.1", "sliding 30 3")), "ER03")
    reason = (
        "demand 'sliding 30 3' is not offered; valid: fixed 5, 15, 30 or 60 min; sliding period: sub-periods "
        "5: 1, 5 ; 15: 1, 5 ; 30: 1, 2, 5, 6 ; 60: 1, 2, 5, 6, 12 minutes"
    )
    code, stamp, request, *parts = values(pair, "C.91.0")
    assert (code, stamp, request) == ("ER03", "2611020931", "W1 C.60.1")
    assert joined(tuple(parts)) == reason and len(parts) == 2 and all(len(p) <= 128 for p in parts)
    (*_, last) = answer(pair, "R5", "P.98", "2611020931;2611020931")
    assert last.values[1].value == "06"
    assert joined(tuple(v.value for v in last.values[2:])) == f"ER03 W1 C.60.1: {reason}"
    assert values(pair, "C.60.1") == ("sliding 15 1",)  # unchanged


def test_refusal_reasons_for_tou_lockout_level_and_cover() -> None:
    vm, clock = live_meter()
    run(vm, clock, at(9, 5), tick_s=60)
    pair = level3(vm)
    assert refused(pair.command(R("W1", "TOU.D.workday", "06:00=1")), "ER03")
    assert values(pair, "C.91.0")[2:] == (
        "W1 TOU.D.workday",
        "tariffs.day_profiles.workday: the first switch must be at 00:00 no gap at the start of the day",
    )
    assert isinstance(pair.command(R("E2", "BILLING.RESET")), PositiveAck)
    assert refused(pair.command(R("E2", "BILLING.RESET")), "ER05")
    assert values(pair, "C.91.0")[2:] == ("E2 BILLING.RESET", "billing reset refused: lockout, 60 s left")
    assert vm.meter.events[-1].text == "ER05 E2 BILLING.RESET: billing reset refused: lockout, 60 s left"
    low = session(vm)
    assert refused(low.command(R("W1", "C.60.2", "5")), "ER02")
    assert values(low, "C.91.0")[2:] == ("W1 C.60.2", "access level 3 needed to write C.60.2, session has 2")
    nobody = session(vm, password=None)
    assert refused(nobody.command(R("R1", "C.91.0")), "ER02")  # the reasons are for level 2


# --- 6. TOU duplicates ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "value", "message"),
    [
        ("TOU.SPECIAL", "12-25=offpeak;12-25=workday", "12-25 is given twice (12-25=offpeak and 12-25=workday)"),
        (
            "TOU.W.standard",
            "mon=workday;mon=offpeak;tue=workday;wed=workday;thu=workday;fri=workday;sat=offpeak;sun=offpeak",
            "mon is given twice (mon=workday and mon=offpeak)",
        ),
        ("TOU.SEASONS", "01-01=standard;01-01=standard", "01-01 is given twice"),
        ("TOU.D.workday", "00:00=2;07:00=1;07:00=2", "switch time 07:00 appears twice"),
    ],
)
def test_tou_writes_refuse_duplicates_instead_of_last_wins(address: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        with_port_write(TouCalendar.default(), address, value)


def test_tou_duplicate_over_the_port_is_refused_and_changes_nothing() -> None:
    vm, _clock = live_meter()
    before = vm.meter.calendar.special_days
    pair = level3(vm)
    assert refused(pair.command(R("W1", "TOU.SPECIAL", "12-25=offpeak;12-25=workday")), "ER03")
    assert vm.meter.calendar.special_days == before == {"12-25": "offpeak", "01-01": "offpeak"}
    assert "12-25 is given twice" in joined(values(pair, "C.91.0")[3:])
    assert isinstance(pair.command(R("W1", "TOU.SPECIAL", "12-25=offpeak;2026-12-25=workday")), PositiveAck)


# --- 7. OBIS registers ----------------------------------------------------------------------------------------------


def test_per_phase_powers_frequency_and_apparent_energy_by_method_are_readable() -> None:
    vm, clock = live_meter()
    phases = (PhaseInput(230, 10, 0), PhaseInput(230, 10, 60), PhaseInput(230, 10, -60))
    vm.set_phases(phases)
    run(vm, clock, at(10, 0), tick_s=60)
    pair = session(vm)
    expected = {
        "21.7.0": "2.300",
        "41.7.0": "1.150",
        "61.7.0": "1.150",
        "23.7.0": "0.000",
        "43.7.0": "1.992",
        "63.7.0": "-1.992",
        "29.7.0": "2.300",
        "49.7.0": "2.300",
        "69.7.0": "2.300",
        "33.7.0": "1.000",
        "53.7.0": "0.500",
        "73.7.0": "0.500",
        "14.7.0": "50.00",
        "9.7.128": "4.600",
        "9.7.129": "6.900",
        "9.7.130": "7.967",
        "9.8.128": "000004.600",  # one hour
        "9.8.129": "000006.900",
        "9.8.130": "000007.967",
        "9.8.0": "000006.900",  # S+ by the billing method (arithmetic)
        "21.8.0": "000002.300",
        "41.8.0": "000001.150",
        "22.8.0": "000000.000",
    }
    assert {a: values(pair, a)[0] for a in expected} == expected
    assert measure(phases).s_effective_va == pytest.approx(7967.434, abs=0.001)
    units = {a: with_units(pair, a)[0][1] for a in ("21.7.0", "43.7.0", "69.7.0", "73.7.0", "14.7.0", "9.8.130")}
    assert units == {"21.7.0": "kW", "43.7.0": "kvar", "69.7.0": "kVA", "73.7.0": "", "14.7.0": "Hz", "9.8.130": "kVAh"}
    vm.press_button()
    assert values(session(vm), "9.8.128*01") == ("000004.600",)


# --- 8. profile ranges and partial blocks ---------------------------------------------------------------------------


def test_time_ranges_include_both_ends_at_minute_resolution() -> None:
    vm, clock = live_meter()
    run(vm, clock, at(9, 30, 10), tick_s=60)
    pair = level3(vm)
    for fn in ("DEMAND.RESET", "PROFILE.RESET"):
        assert isinstance(pair.command(R("E2", fn)), PositiveAck)
    assert refused(pair.command(R("W1", "C.60.1", "fixed 7")), "ER03")
    stamped_0930 = [e for e in vm.meter.events if e.at.replace(second=0) == at(9, 30)]
    assert len(stamped_0930) == 3
    header, *lines = answer(pair, "R5", "P.98", "2611020930;2611020930")
    assert header.values[0].value == "3" and [ln.values[1].value for ln in lines] == ["07", "08", "06"]
    assert len(answer(pair, "R5", "P.98", "2611020930;")) == 4
    everything = answer(pair, "R5", "P.98", "")
    assert len(answer(pair, "R5", "P.98", ";2611020929")) == len(everything) - 3


def test_r6_serves_the_profile_in_partial_blocks_and_r5_in_one() -> None:
    cfg = live_config(capture_min="capture_min = 1             # one-minute profile")
    vm, clock = live_meter(cfg)
    vm.set_phases(balanced(10))
    run(vm, clock, at(9, 40), tick_s=30)
    pair = session(vm)
    sent = len(pair.wire.sent_by("meter"))
    whole = answer(pair, "R5", "P.01", "2611020901;2611020940")
    assert len(whole) == 41 and whole[0].values[0].value == "40"
    assert pair.wire.sent_by("meter")[-1][-2:-1] == ETX
    sent = len(pair.wire.sent_by("meter"))
    blocks = answer(pair, "R6", "P.01", "2611020901;2611020940")
    assert blocks == whole
    frames = pair.wire.sent_by("meter")[sent:]
    assert [f[-2:-1] for f in frames] == [EOT, EOT, ETX]  # 16 + 16 + 9 data sets, the client ACKs in between
    assert PARTIAL_BLOCK_LINES == 16 and frames[0].count(b"\r\n") == 16
    assert [ds.values[2].value for ds in blocks[1:3]] == ["000000.115", "000000.115"]
    small = answer(pair, "R6", "P.01", "2611020901;2611020905")  # fits one block: an ordinary answer
    assert len(small) == 6 and pair.wire.sent_by("meter")[-1][-2:-1] == ETX
    assert values(pair, "0.0.0") == ("12345678",)  # an ordinary answer again after the blocks


def test_r6_of_an_encrypted_session_splits_the_sealed_answer() -> None:
    cfg = live_config(
        capture_min="capture_min = 1             # one-minute profile", encrypt_reads="encrypt_reads = true"
    )
    vm, clock = live_meter(cfg)
    vm.set_phases(balanced(10))
    run(vm, clock, at(10, 0), tick_s=60)
    pair = ConnectionPair.for_application(vm)
    auth = IntegrityGuard(PasswordAuthenticator(READ_PW))
    assert isinstance(
        auth.check(pair.command(auth.respond(pair.programming(), pair.client.identification))), PositiveAck
    )  # type: ignore[arg-type]
    sent = len(pair.wire.sent_by("meter"))
    event = auth.check(pair.command(auth.protect(R("R6", "P.01"))))
    assert isinstance(event, AnswerReceived)
    sealed = event.answer.datasets
    assert [f[-2:-1] for f in pair.wire.sent_by("meter")[sent:]].count(EOT) >= 1
    opened = auth.unwrap(sealed)
    assert opened[0].values[0].value == "60" and len(opened) == 61
    assert opened[60].values[2].value == "000000.115"


# --- 9. reset lockout -----------------------------------------------------------------------------------------------


def test_a_second_reset_works_after_the_lockout_on_a_live_meter() -> None:
    vm, clock = live_meter()
    vm.set_phases(balanced(10))
    run(vm, clock, at(9, 20), tick_s=60)
    vm.press_button()
    clock.advance(30)  # the button catches the meter up with the clock: the lockout counts wall time
    with pytest.raises(DeviceError, match="lockout, 30 s left"):
        vm.press_button()
    clock.advance(30)
    vm.press_button()
    assert vm.meter.reset_count == 2 and vm.meter.last_reset == at(9, 21)
    pair = level3(vm)
    assert refused(pair.command(R("E2", "BILLING.RESET")), "ER05")
    clock.advance(60)
    assert isinstance(pair.command(R("E2", "BILLING.RESET")), PositiveAck)
    assert values(pair, "0.1.0") == ("03",)


def test_a_replayed_meter_holds_its_clock_so_its_lockout_does_not_end() -> None:
    vm = load_virtual_meter(None, None, replay=FAQ)
    vm.press_button()
    vm.clock.advance(3600)  # type: ignore[attr-defined]
    with pytest.raises(DeviceError, match="lockout, 60 s left"):
        vm.press_button()


# --- 10. per-tariff, export and apparent MD; self-test bits; profile reset; synthetic source ------------------------


def test_per_tariff_md_only_counts_windows_inside_the_tariff() -> None:
    vm, clock = live_meter(start=at(6, 30))
    vm.set_phases(balanced(10))  # 6.9 kW in T2 (before 07:00)
    run(vm, clock, at(7, 0), tick_s=30)
    vm.set_phases(balanced(20))  # 13.8 kW in T1
    run(vm, clock, at(7, 30), tick_s=30)
    pair = session(vm)
    assert values(pair, "1.6.0") == ("0013.80", "2611020715")
    assert values(pair, "1.6.1") == ("0013.80", "2611020715")
    assert values(pair, "1.6.2") == ("0006.90", "2611020645")
    assert values(pair, "1.6.3") == ("0000.00", "")
    assert values(pair, "1.8.1") == ("000006.900",) and values(pair, "1.8.2") == ("000003.450",)


def test_export_and_apparent_md() -> None:
    vm, clock = live_meter()
    vm.set_phases(balanced(10, angle_deg=180))  # exporting 6.9 kW
    run(vm, clock, at(9, 20), tick_s=30)
    vm.set_phases(balanced(10, angle_deg=60))  # importing 3.45 kW at PF 0.5: 6.9 kVA
    run(vm, clock, at(9, 40), tick_s=30)
    pair = session(vm)
    assert values(pair, "2.6.0") == ("0006.90", "2611020915")
    assert values(pair, "2.8.0") == ("000002.300",)
    assert values(pair, "1.6.0") == ("0003.45", "2611020935")
    assert values(pair, "9.6.0") == ("0006.90", "2611020935")  # S+ counts import only
    assert values(pair, "2.6.1") == ("0006.90", "2611020915")


class _CorruptConn:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "PRAGMA quick_check":
            return self._conn.execute("SELECT 'database disk image is malformed'")
        return self._conn.execute(sql, *args)


def test_self_test_failures_set_the_error_register() -> None:
    vm, clock = live_meter()
    run(vm, clock, at(9, 1), tick_s=60)
    clock.advance(2 * 86400)  # the clock ran away from the meter's time (not caught up yet)
    vm.meter.registers.total["A+"] += 1  # the tariff registers no longer add up to the total
    assert vm.self_test() == "ERR 06"
    pair = session(vm)
    assert values(pair, "F.F") == ("00000006",)
    assert values(pair, "C.90.1") == ("ERR 06",)
    vm2, _clock2 = live_meter()
    vm2.store.conn = _CorruptConn(vm2.store.conn)  # type: ignore[assignment]
    assert vm2.self_test() == "ERR 01"
    answered = session(vm2).command(R("E2", "SELFTEST"))
    assert isinstance(answered, AnswerReceived) and answered.answer.datasets[0].value == "ERR 01"
    assert [e.text for e in vm2.meter.events if e.code == 10][-1] == "self-test ERR 01"


def test_profile_reset_clears_memory_and_nv(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    cfg = live_config()
    vm, clock = live_meter(cfg, store=NvStore(state))
    vm.set_phases(balanced(10))
    run(vm, clock, at(9, 46), tick_s=60)
    pair = level3(vm)
    assert answer(pair, "R5", "P.01")[0].values[0].value == "3"
    assert isinstance(pair.command(R("E2", "PROFILE.RESET")), PositiveAck)
    assert answer(pair, "R5", "P.01")[0].values[0].value == "0"
    assert vm.meter.events[-1].code == 8 and values(pair, "1.8.0") == ("000005.290",)  # energy is kept
    del vm
    again = VirtualMeter(cfg, clock=SimulatedClock(at(9, 50)), store=NvStore(state))
    assert again.meter.profile == []


def test_synthetic_source_is_a_seeded_c_and_i_day() -> None:
    zone = load_config(text="").zone
    src = SyntheticSource(Source(seed=3, peak_kw=120, base_kw=35), 230.0, zone)
    again = SyntheticSource(Source(seed=3, peak_kw=120, base_kw=35), 230.0, zone)
    noon, night, saturday = at(12, 0), at(2, 0), at(12, 0, day=7)
    assert src.power_kw(noon) == again.power_kw(noon)  # same seed, same noise
    samples = [src.power_kw(noon) for _ in range(2000)]
    assert 118 < sum(samples) / len(samples) < 122  # the midday peak with 3 % noise
    assert 34 < sum(src.power_kw(night) for _ in range(2000)) / 2000 < 36
    assert 34 < sum(src.power_kw(saturday) for _ in range(2000)) / 2000 < 36
    m = measure(src.phases(noon))
    assert m.s_arithmetic_va > m.s_vectorial_va  # phases at different power factors
    assert [round(ph.pf, 3) for ph in m.phases] == [0.951, 0.848, 0.990]
    cfg = load_config(text=demo_text().replace('kind = "live"', 'kind = "synthetic"'))
    vm, clock = live_meter(cfg, start=at(11, 30))
    run(vm, clock, at(12, 30), tick_s=60)
    kwh = vm.meter.registers.total["A+"] / 1e6
    assert 116 < kwh < 122  # an hour around noon
    assert values(session(vm), "1.6.0")[0] > "0110.00"
    assert clock.now() - vm.meter.now < timedelta(seconds=1)
