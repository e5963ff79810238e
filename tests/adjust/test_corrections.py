"""Corrections in the measuring path, applied exactly; a new meter starts unadjusted with its raw error."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit.errors import ConfigError
from meterkit.meter.adjustment import CalibrationSet, current_gain_and_offset
from meterkit.meter.metrology import ChannelCorrection, ChannelError, PhaseInput, correct, measure, sense

from .benchkit import demo_bench


def test_a_correction_scales_voltage_and_current_removes_the_offset_and_turns_the_angle_exactly() -> None:
    raw = PhaseInput(voltage_v=230.0, current_a=10.1, angle_deg=60.5)
    fix = ChannelCorrection(voltage_gain=1.01, current_gain=0.98, phase_deg=-0.5, current_offset_a=0.1)
    (got,) = correct([raw], [fix])
    assert got.voltage_v == pytest.approx(232.3, rel=1e-15)  # 1.01 x 230
    assert got.current_a == pytest.approx(9.8, rel=1e-15)  # 0.98 x (10.1 - 0.1)
    assert got.angle_deg == 60.0
    # P = 232.3 V x 9.8 A x cos 60 deg = 1138.27 W; Q = 232.3 x 9.8 x sin 60 = 1971.542... var
    m = measure([got])
    assert m.p_w == pytest.approx(1138.27, rel=1e-12)
    assert m.q_var == pytest.approx(232.3 * 9.8 * math.sqrt(3) / 2, rel=1e-12)


def test_the_raw_error_is_gain_offset_and_phase_of_the_channel() -> None:
    error = ChannelError(voltage_gain=0.003, current_gain=0.018, phase_deg=0.3, current_offset_a=0.02)
    (raw,) = sense([PhaseInput(voltage_v=230.0, current_a=40.0, angle_deg=0.0)], [error])
    assert raw.voltage_v == pytest.approx(230.69)  # +0.3 %
    assert raw.current_a == pytest.approx(40.74)  # +1.8 % and 20 mA
    assert raw.angle_deg == pytest.approx(0.3)
    (idle,) = sense([PhaseInput(voltage_v=230.0, current_a=0.0)], [error])
    assert idle.current_a == 0.0  # no creeping: an unloaded phase has no offset


@given(
    gain=st.floats(-0.05, 0.05),
    offset=st.floats(-0.05, 0.05),
    high=st.floats(10.0, 100.0),
    low_fraction=st.floats(0.01, 0.2),
)
def test_two_point_adjustment_inverts_any_gain_and_offset(
    gain: float, offset: float, high: float, low_fraction: float
) -> None:
    error = ChannelError(current_gain=gain, current_offset_a=offset)
    low = high * low_fraction
    raw_high, raw_low = (sense([PhaseInput(230.0, i)], [error])[0].current_a for i in (high, low))
    g, o = current_gain_and_offset((high, low), (raw_high, raw_low))
    for current in (low, high, (low + high) / 2):
        raw = sense([PhaseInput(230.0, current)], [error])
        assert correct(raw, [ChannelCorrection(current_gain=g, current_offset_a=o)])[0].current_a == pytest.approx(
            current, rel=1e-9
        )


def test_corrections_are_kept_at_their_resolution_and_range() -> None:
    cal = CalibrationSet().with_value(1, "igain", 0.98231812345)
    assert cal.value(1, "igain") == 0.982318
    assert cal.text(1) == "vgain=1.000000 igain=0.982318 phase=0.0000 ioffset=0.00000"
    with pytest.raises(ConfigError, match=r"igain must be between 0\.8 and 1\.2"):
        cal.with_value(0, "igain", 1.5)
    with pytest.raises(ConfigError, match="unknown correction"):
        cal.with_value(0, "gain", 1.0)
    assert cal.checksum() != CalibrationSet().checksum()
    assert CalibrationSet.from_dict(cal.to_dict()) == cal


def test_a_new_demo_meter_is_unadjusted_and_measures_with_its_raw_error() -> None:
    bench = demo_bench()
    vm = bench.vm
    assert vm.calibration.corrections.is_identity and not vm.calibration.sealed
    assert vm.reading("C.2.8") == CalibrationSet().checksum()
    bench.apply(230.0, 40.0, 0.0)
    bench.dwell(2)
    # L2: +1.8 % gain and 15 mA offset on the current, -0.2 % on the voltage (examples/demo-meter.toml)
    fields = dict(t.split("=") for t in bench.adjust("read").split()[1:])
    assert float(fields["L2.raw.i"]) == pytest.approx(40 * 1.018 + 0.015)
    assert float(fields["L2.raw.v"]) == pytest.approx(230 * 0.998)
    assert float(fields["L1.raw.phi"]) == pytest.approx(0.3)
    assert float(fields["L2.i"]) == float(fields["L2.raw.i"])  # unadjusted: the meter measures the raw value
    measured = vm.meter.phase_inputs
    assert measured[1].current_a == pytest.approx(40 * 1.018 + 0.015)


def test_corrections_written_on_the_adjustment_port_act_in_the_measuring_path() -> None:
    bench = demo_bench()
    bench.apply(230.0, 40.0, 0.0)
    assert bench.adjust("set L2 igain 0.98").startswith("ok L2.igain=0.980000")
    assert bench.adjust("set L2 ioffset 0.015").startswith("ok")
    bench.dwell(2)
    l2 = bench.vm.meter.phase_inputs[1]
    assert l2.current_a == pytest.approx(0.98 * (40 * 1.018 + 0.015 - 0.015))
    # the per-phase power register shows the corrected power: V' x I x cos(0.25 deg)
    expected_kw = 230 * 0.998 * 0.98 * 40 * 1.018 * math.cos(math.radians(0.25)) / 1000
    assert float(str(bench.vm.reading("41.7.0").value)) == pytest.approx(expected_kw, abs=0.0005)  # type: ignore[union-attr]
