"""Apparent power by the three methods, quadrants and exact energy integration (hand-computed values)."""

from __future__ import annotations

import math

import pytest

from meterkit.errors import ConfigError
from meterkit.meter.metrology import EnergyRegisters, PhaseInput, VaMethod, measure


def test_balanced_load_all_three_va_methods_agree() -> None:
    m = measure([PhaseInput(230.0, 10.0, 30.0)] * 3)
    assert m.p_w == pytest.approx(3 * 2300 * math.cos(math.radians(30)))  # 5975.575 W
    assert m.q_var == pytest.approx(3 * 2300 * 0.5)  # 3450 var
    assert m.s_arithmetic_va == pytest.approx(6900.0)
    assert m.s_vectorial_va == pytest.approx(6900.0)
    assert m.s_effective_va == pytest.approx(6900.0)
    assert m.power_factor(VaMethod.ARITHMETIC) == pytest.approx(math.cos(math.radians(30)))


def test_unequal_phase_angles_make_arithmetic_exceed_vectorial() -> None:
    # L1 resistive 2300 W, L2 inductive 60°, L3 capacitive -60°: the reactive powers cancel
    m = measure([PhaseInput(230, 10, 0), PhaseInput(230, 10, 60), PhaseInput(230, 10, -60)])
    assert m.p_w == pytest.approx(2300 + 1150 + 1150)
    assert m.q_var == pytest.approx(0.0, abs=1e-9)
    assert m.s_arithmetic_va == pytest.approx(6900.0)
    assert m.s_vectorial_va == pytest.approx(4600.0)  # hypotenuse of 4600 W and 0 var
    assert m.power_factor(VaMethod.VECTORIAL) == pytest.approx(1.0)
    assert m.power_factor(VaMethod.ARITHMETIC) == pytest.approx(4600 / 6900)


def test_effective_va_grows_with_neutral_current_even_at_unity_power_factor() -> None:
    # one phase loaded at PF 1: S_A = S_V = 2300 VA, but I_n = 10 A raises S_e (IEEE 1459)
    m = measure([PhaseInput(230, 10, 0), PhaseInput(230, 0, 0), PhaseInput(230, 0, 0)])
    assert m.s_arithmetic_va == pytest.approx(2300) and m.s_vectorial_va == pytest.approx(2300)
    # V_e = 230 (symmetric), I_e = sqrt((100 + 100) / 3) = 8.165 A -> S_e = 3 * 230 * 8.165 = 5633.8 VA
    assert m.s_effective_va == pytest.approx(3 * 230 * math.sqrt(200 / 3))


def test_energy_registers_quadrants_and_export() -> None:
    regs = EnergyRegisters()
    regs.add(measure([PhaseInput(230, 10, 30)] * 3), 3600, tariff=1)  # import inductive: Q1
    regs.add(measure([PhaseInput(230, 10, 150)] * 3), 3600, tariff=2)  # export, current leading: Q2
    regs.add(measure([PhaseInput(230, 10, -150)] * 3), 3600, tariff=2)  # export inductive: Q3
    regs.add(measure([PhaseInput(230, 10, -30)] * 3), 3600, tariff=1)  # import capacitive: Q4
    p = round(3 * 2300 * math.cos(math.radians(30)) * 1000)  # mWh in one hour
    assert regs.total["A+"] == pytest.approx(2 * p, abs=2)
    assert regs.total["A-"] == pytest.approx(2 * p, abs=2)
    for quadrant in ("Q1", "Q2", "Q3", "Q4"):
        assert regs.total[quadrant] == pytest.approx(3_450_000, abs=1)
    assert regs.tariffs[1]["A+"] == pytest.approx(2 * p, abs=2) and regs.tariffs[2]["A+"] == 0


def test_one_second_integration_over_a_day_loses_nothing() -> None:
    regs = EnergyRegisters()
    m = measure([PhaseInput(230.0, 7.3, 12.0)] * 3)
    for _ in range(86_400):
        regs.add(m, 1.0, tariff=1)
    exact = m.p_w * 86_400 / 3.6
    assert abs(regs.total["A+"] - exact) < 1  # less than 1 mWh after 86,400 steps
    snap = regs.snapshot()
    assert EnergyRegisters.from_snapshot(snap).total == regs.total


def test_bad_phase_inputs_are_refused() -> None:
    with pytest.raises(ConfigError, match="cannot be negative"):
        PhaseInput(-1, 1, 0)
    with pytest.raises(ConfigError, match="finite"):
        PhaseInput(230, float("nan"), 0)
    with pytest.raises(ConfigError, match="1 to 3 phases"):
        measure([])
