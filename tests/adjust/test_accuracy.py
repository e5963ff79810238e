"""The lab's accuracy test on the demo meter: beyond class 1 before adjustment, inside after; class limits."""

from __future__ import annotations

import math

import pytest

from meterkit.meter.accuracy import accuracy_limit, accuracy_points, results_json, run_accuracy_test
from meterkit.meter.bench import adjust

from .benchkit import demo_bench


def test_the_class_limits_follow_the_standards() -> None:
    # IEC 62053-21 class 1: 1.5 % from 5 % to 10 % Ib at PF 1, 1.0 % above; PF 0.5i from 10 % Ib (1.5 % to 20 %)
    assert accuracy_limit("1", 2.0, 40.0, "1") == 1.5
    assert accuracy_limit("1", 4.0, 40.0, "1") == 1.0
    assert accuracy_limit("1", 2.0, 40.0, "0.5i") is None
    assert accuracy_limit("1", 4.0, 40.0, "0.5i") == 1.5
    assert accuracy_limit("1", 8.0, 40.0, "0.8c") == 1.0
    assert accuracy_limit("2", 400.0, 40.0, "1") == 2.0
    # IEC 62053-22 class 0.5S: 1.0 % below 5 % In, 0.5 % above; PF 0.5i 0.6 % from 10 % In
    assert accuracy_limit("0.5S", 0.4, 40.0, "1") == 1.0
    assert accuracy_limit("0.5S", 40.0, 40.0, "1") == 0.5
    assert accuracy_limit("0.5S", 40.0, 40.0, "0.5i") == 0.6
    assert accuracy_limit("0.2S", 40.0, 40.0, "1") == 0.2
    # MID annex V table 2 (+5 to +30 degC): B 2 %, C 1 % below Itr and 0.7 % above
    assert accuracy_limit("B", 2.0, 40.0, "1") == 2.0
    assert accuracy_limit("C", 1.0, 40.0, "0.8c") == 1.0
    assert accuracy_limit("C", 40.0, 40.0, "0.5i") == 0.7


def test_the_points_are_5_10_100_percent_and_imax_at_three_power_factors_where_the_class_has_limits() -> None:
    points = accuracy_points(40.0, 400.0, "1")
    assert [(p.label, p.pf) for p in points] == [
        ("5% Iref", "1"),
        ("10% Iref", "1"),
        ("100% Iref", "1"),
        ("Imax", "1"),
        ("10% Iref", "0.5i"),
        ("100% Iref", "0.5i"),
        ("Imax", "0.5i"),
        ("10% Iref", "0.8c"),
        ("100% Iref", "0.8c"),
        ("Imax", "0.8c"),
    ]
    assert points[-1].angle_deg == pytest.approx(-math.degrees(math.acos(0.8)))
    assert len(accuracy_points(40.0, 400.0, "0.5S")) == 12  # 5 % is inside 0.5S's range at every power factor


def test_the_demo_meter_is_beyond_class_1_before_adjustment_and_inside_after() -> None:
    bench = demo_bench()
    points = accuracy_points(40.0, 400.0, "1")
    before = run_accuracy_test(bench, points, voltage_v=230.0, reference_a=40.0, cls="1")
    errors = {(r.point.label, r.point.pf): r.error_pct for r in before}
    # the raw error: +1.3 % at Iref PF 1 (mean of the L1-L3 voltage and current gains), +2.3 % at 5 % (offsets)
    assert errors[("100% Iref", "1")] == pytest.approx(1.316, abs=0.001)
    assert errors[("5% Iref", "1")] == pytest.approx(2.268, abs=0.001)
    assert [r.passed for r in before].count(False) == 7
    result = adjust(bench, voltage_v=230.0, reference_current_a=40.0)
    assert result.worst_rel < 1e-5 and result.worst_deg < 1e-4
    assert result.corrections["L2"]["igain"] == pytest.approx(1 / 1.018, abs=1e-6)
    assert result.corrections["L1"]["phase"] == pytest.approx(-0.3)
    after = run_accuracy_test(bench, points, voltage_v=230.0, reference_a=40.0, cls="1")
    assert all(r.passed for r in after)
    assert max(abs(r.error_pct) for r in after) < 0.001
    report = results_json(after, cls="1", serial="12345678")
    assert report["passed"] is True and len(report["points"]) == 10
    assert report["points"][0]["label"] == "5% Iref" and report["points"][0]["limit_pct"] == 1.5


def test_a_sealed_meter_cannot_be_adjusted_but_can_be_tested() -> None:
    bench = demo_bench()
    adjust(bench, voltage_v=230.0, reference_current_a=40.0)
    assert bench.adjust("seal").startswith("ok")
    with pytest.raises(Exception, match="left manufacturing"):
        adjust(bench, voltage_v=230.0, reference_current_a=40.0)
    results = run_accuracy_test(
        bench, accuracy_points(40.0, 400.0, "1")[:2], voltage_v=230.0, reference_a=40.0, cls="1"
    )
    assert all(r.passed for r in results)
