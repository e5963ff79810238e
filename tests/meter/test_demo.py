"""The README's main demo, end to end: replay, TCP optical port, client read of 1.6.0, comparison."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterkit.cli.app import main
from meterkit.cli.demo import run_demo

pytestmark = pytest.mark.e2e


def test_demo_reads_141_fixed_and_157_sliding_over_the_port() -> None:
    fixed, sliding = run_demo()
    assert (fixed.window, fixed.register, fixed.unit, fixed.stamp) == ("fixed 15", "0141.00", "kW", "2611020915")
    assert (sliding.window, sliding.register, sliding.unit, sliding.stamp) == (
        "sliding 15/1",
        "0157.00",
        "kW",
        "2611020922",
    )
    assert fixed.batch_kw == Decimal("141.00") and sliding.batch_kw == Decimal("157.00")


def test_demo_command_prints_the_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "0141.00 kW" in out and "0157.00 kW" in out
    assert "yes, 7.00 kW over" in out and "contracted 150.00 kW" in out
