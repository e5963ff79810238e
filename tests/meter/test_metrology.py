"""Apparent power by the three methods, quadrants and exact energy integration (hand-computed values)."""

from __future__ import annotations

import math

import pytest

from meterkit.errors import ConfigError, DataError
from meterkit.meter.metrology import EnergyIntegrator, EnergyRegisters, PhaseInput, VaMethod, measure, quadrant


def test_balanced_load_all_three_va_methods_agree() -> None:
    m = measure([PhaseInput(230.0, 10.0, 30.0)] * 3)
    assert m.p_w == pytest.approx(3 * 2300 * math.cos(math.radians(30)))  # 5975.575 W
    assert m.q_var == pytest.approx(3 * 2300 * 0.5)  # 3450 var
    assert m.s_arithmetic_va == pytest.approx(6900.0)
    assert m.s_vectorial_va == pytest.approx(6900.0)
    assert m.s_effective_va == pytest.approx(6900.0)
    for method in VaMethod:
        assert m.power_factor(method) == pytest.approx(math.cos(math.radians(30)))
    assert [ph.pf for ph in m.phases] == pytest.approx([math.cos(math.radians(30))] * 3)
    assert m.phases[0].p_w == pytest.approx(1991.858, abs=1e-3) and m.phases[0].q_var == pytest.approx(1150.0)


def test_unequal_phase_angles_make_arithmetic_exceed_vectorial() -> None:
    # L1 resistive 2300 W, L2 inductive 60°, L3 capacitive -60°: the reactive powers cancel
    m = measure([PhaseInput(230, 10, 0), PhaseInput(230, 10, 60), PhaseInput(230, 10, -60)])
    assert m.p_w == pytest.approx(2300 + 1150 + 1150)
    assert m.q_var == pytest.approx(0.0, abs=1e-9)
    assert m.s_arithmetic_va == pytest.approx(6900.0)
    assert m.s_vectorial_va == pytest.approx(4600.0)  # hypotenuse of 4600 W and 0 var
    # currents 10∠0°, 10∠-180°, 10∠180°: I_n = 10 A, I_e = sqrt((300 + 100) / 3) = 11.547 A, V_e = 230 V
    assert m.s_effective_va == pytest.approx(3 * 230 * math.sqrt(400 / 3))  # 7967.43 VA
    assert m.power_factor(VaMethod.VECTORIAL) == pytest.approx(1.0)
    assert m.power_factor(VaMethod.ARITHMETIC) == pytest.approx(4600 / 6900)
    assert m.power_factor(VaMethod.EFFECTIVE) == pytest.approx(4600 / 7967.434, abs=1e-6)


def test_unbalanced_currents_and_angles_exact_numbers() -> None:
    # L1 10 A at 0°, L2 20 A at 36.87° (cos 0.8), L3 5 A at -36.87°
    phi = math.degrees(math.atan2(3, 4))
    m = measure([PhaseInput(230, 10, 0), PhaseInput(230, 20, phi), PhaseInput(230, 5, -phi)])
    assert m.p_w == pytest.approx(2300 + 3680 + 920)  # 6900 W
    assert m.q_var == pytest.approx(2760 - 690)  # 2070 var
    assert m.s_arithmetic_va == pytest.approx(2300 + 4600 + 1150)  # 8050 VA
    assert m.s_vectorial_va == pytest.approx(math.hypot(6900, 2070))  # 7203.82 VA
    assert m.s_arithmetic_va > m.s_vectorial_va


def test_effective_va_grows_with_neutral_current_even_at_unity_power_factor() -> None:
    # one phase loaded at PF 1: S_A = S_V = 2300 VA, but I_n = 10 A raises S_e (IEEE 1459)
    m = measure([PhaseInput(230, 10, 0), PhaseInput(230, 0, 0), PhaseInput(230, 0, 0)])
    assert m.s_arithmetic_va == pytest.approx(2300) and m.s_vectorial_va == pytest.approx(2300)
    # V_e = 230 (symmetric), I_e = sqrt((100 + 100) / 3) = 8.165 A -> S_e = 3 * 230 * 8.165 = 5633.8 VA
    assert m.s_effective_va == pytest.approx(3 * 230 * math.sqrt(200 / 3))


def test_single_phase_apparent_power_is_v_times_i_for_every_method() -> None:
    m = measure([PhaseInput(230, 5, 60)])
    assert (m.p_w, m.q_var) == pytest.approx((575.0, 230 * 5 * math.sin(math.radians(60))))
    for method in VaMethod:
        assert m.apparent(method) == pytest.approx(1150.0)


@pytest.mark.parametrize(
    ("angle", "quad", "p_sign", "q_sign"),
    [(30, 1, 1, 1), (150, 2, -1, 1), (-150, 3, -1, -1), (-30, 4, 1, -1)],
)
def test_export_and_capacitive_quadrants_follow_the_obis_convention(
    angle: float, quad: int, p_sign: int, q_sign: int
) -> None:
    m = measure([PhaseInput(230, 10, angle)] * 3)
    assert m.quadrant == quad == quadrant(m.p_w, m.q_var)
    assert math.copysign(1, m.p_w) == p_sign and math.copysign(1, m.q_var) == q_sign
    assert abs(m.p_w) == pytest.approx(5975.575, abs=1e-3) and abs(m.q_var) == pytest.approx(3450)


def test_energy_registers_per_quadrant_export_and_derived_reactive() -> None:
    regs = EnergyRegisters()
    regs.add(measure([PhaseInput(230, 10, 30)] * 3), 3600, tariff=1)  # import inductive: Q1
    regs.add(measure([PhaseInput(230, 10, 150)] * 3), 3600, tariff=2)  # export capacitive: Q2
    regs.add(measure([PhaseInput(230, 10, -150)] * 3), 3600, tariff=2)  # export inductive: Q3
    regs.add(measure([PhaseInput(230, 10, -30)] * 3), 3600, tariff=1)  # import capacitive: Q4
    p = 3 * 2300 * math.cos(math.radians(30)) * 1000  # 5 975 575.3 mWh in one hour
    assert regs.total["A+"] == pytest.approx(2 * p, abs=1) and regs.total["A-"] == pytest.approx(2 * p, abs=1)
    assert [regs.total[q] for q in ("Q1", "Q2", "Q3", "Q4")] == [3_450_000] * 4
    assert regs.value("R+") == 6_900_000 and regs.value("R-") == 6_900_000
    assert regs.value("R+", tariff=1) == 3_450_000 and regs.value("R-", tariff=1) == 3_450_000
    assert regs.total["S+"] == regs.total["S-"] == 13_800_000
    assert regs.tariffs[1]["A+"] == regs.total["A+"] and regs.tariffs[2]["A+"] == 0
    assert regs.tariffs[2]["A-"] == regs.total["A-"]
    for name in regs.total:  # the tariff registers always add up to the total
        assert sum(r[name] for r in regs.tariffs.values()) == regs.total[name]
    assert regs.phases[1]["A+"] == pytest.approx(2 * p / 3, abs=1) and regs.phases[3]["A-"] == pytest.approx(
        2 * p / 3, abs=1
    )


def test_billing_apparent_energy_follows_the_configured_method_and_all_three_are_kept() -> None:
    regs = EnergyIntegrator(VaMethod.VECTORIAL)
    regs.add(measure([PhaseInput(230, 10, 0), PhaseInput(230, 10, 60), PhaseInput(230, 10, -60)]), 3600, 1)
    assert regs.total["S+"] == 4_600_000  # vectorial
    assert regs.total["SA"] == 6_900_000 and regs.total["SV"] == 4_600_000
    assert regs.total["SE"] == math.floor(3 * 230 * math.sqrt(400 / 3) * 1000 + 1e-6)


def test_exact_power_over_86400_one_second_steps_gives_the_exact_energy() -> None:
    regs = EnergyIntegrator()
    m = measure([PhaseInput(250.0, 4.0, 0.0)])  # 1000 W exactly
    for _ in range(86_400):
        regs.add(m, 1.0, tariff=1)
    assert regs.total["A+"] == 24_000_000  # 24 kWh to the milli-watt-hour
    assert regs.tariffs[1]["A+"] == 24_000_000 and regs.phases[1]["A+"] == 24_000_000


def test_irrational_power_over_86400_one_second_steps_loses_nothing() -> None:
    regs = EnergyIntegrator()
    m = measure([PhaseInput(230.0, 7.3, 12.0)] * 3)
    for _ in range(86_400):
        regs.add(m, 1.0, tariff=1)
    micro_w = math.floor(m.p_w * 1_000_000 + 0.5)
    assert regs.total["A+"] == micro_w * 1_000_000 * 86_400 // 3_600_000_000_000  # integer oracle
    assert abs(regs.total["A+"] - m.p_w * 86_400 / 3.6) < 1


def test_sub_milliwatt_hour_remainders_are_carried_between_steps() -> None:
    regs = EnergyIntegrator()
    m = measure([PhaseInput(1.0, 1.0, 0.0)])  # 1 W
    regs.add(m, 1200, tariff=1)  # 333.33 mWh
    assert regs.total["A+"] == 333
    regs.add(m, 1200, tariff=1)
    regs.add(m, 1200, tariff=1)
    assert regs.total["A+"] == 1000


def test_snapshot_restores_registers_and_remainders() -> None:
    regs = EnergyIntegrator(VaMethod.EFFECTIVE)
    m = measure([PhaseInput(230, 1, 20)] * 3)
    for _ in range(100):
        regs.add(m, 0.7, tariff=3)
    restored = EnergyIntegrator.from_snapshot(regs.snapshot())
    assert restored.method is VaMethod.EFFECTIVE and restored.snapshot() == regs.snapshot()
    for _ in range(100):
        regs.add(m, 0.7, tariff=3)
        restored.add(m, 0.7, tariff=3)
    assert restored.snapshot() == regs.snapshot()


def test_malformed_snapshot_is_refused_with_the_place() -> None:
    snap = EnergyIntegrator().snapshot()
    snap["total"]["A+"] = -5
    with pytest.raises(DataError, match=r"total\.A\+ must be a non-negative integer, got -5"):
        EnergyIntegrator.from_snapshot(snap)
    with pytest.raises(DataError, match="malformed"):
        EnergyIntegrator.from_snapshot({"method": "nonsense", "total": {}})


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ConfigError, match="cannot be negative"):
        PhaseInput(-1, 1, 0)
    with pytest.raises(ConfigError, match="finite"):
        PhaseInput(230, float("nan"), 0)
    with pytest.raises(ConfigError, match="1 to 3 phases"):
        measure([])
    with pytest.raises(ConfigError, match="frequency"):
        measure([PhaseInput(230, 1, 0)], frequency_hz=float("inf"))
    regs = EnergyIntegrator()
    with pytest.raises(ConfigError, match="tariff must be 1-8, got 9"):
        regs.add(measure([PhaseInput(230, 1, 0)]), 1, tariff=9)
    with pytest.raises(ConfigError, match="non-negative number of seconds"):
        regs.add(measure([PhaseInput(230, 1, 0)]), -1, tariff=1)
    assert regs.total["A+"] == 0 and regs.tariffs == {}
