"""The same load-profile file through the virtual meter (firmware-style streaming engine, replayed, MD register read
as the optical port shows it) and through the analytics' batch kernel: the same MD values at the same times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from meterkit.analytics import compute_demand, parse_window, read_load_profile
from meterkit.meter.demand import DemandConfig
from meterkit.meter.registers import read_register
from meterkit.meter.virtual import demo_config_path, load_virtual_meter

FAQ = Path(__file__).parents[2] / "examples" / "faq-0900-0930.csv"


def meter_md(path: Path, window: str) -> tuple[Decimal | None, datetime | None]:
    """Replay ``path`` through the demo meter set to ``window`` and read the MD register 1.6.0 (value, YYMMDDhhmm)."""
    setting = DemandConfig.parse(window)  # what the meter accepts (refuses combinations it does not offer)
    text = demo_config_path().read_text()
    assert 'window = "sliding 15/1"' in text and 'timezone = "UTC"' in text
    vm = load_virtual_meter(None, None, replay=path, config_text=text.replace("sliding 15/1", str(setting), 1))
    assert str(vm.meter.demand_config) == str(setting)
    dataset = read_register(vm.meter, "1.6.0")
    assert dataset is not None
    value, stamp = (v.value for v in dataset.values)
    if not stamp:  # no complete window yet: the register shows zero without a time
        assert Decimal(value) == 0
        return None, None
    return Decimal(value), datetime.strptime(stamp, "%y%m%d%H%M").replace(tzinfo=UTC)


def analytics_md(path: Path, window: str) -> tuple[Decimal | None, datetime | None]:
    (result,) = compute_demand(read_load_profile(path), [parse_window(window)])
    return result.md_kw, result.at


@pytest.mark.parametrize(
    ("window", "md", "at"),
    [
        ("fixed 15", "141.00", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        ("sliding 15/1", "157.00", datetime(2026, 11, 2, 9, 22, tzinfo=UTC)),
        ("sliding 15/5", "155.00", datetime(2026, 11, 2, 9, 20, tzinfo=UTC)),
        ("sliding 30/5", "138.80", datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),
        ("fixed 5", "169.80", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        ("sliding 5/1", None, None),  # compared with the analytics below
    ],
)
def test_faq_file_gives_the_same_md_in_the_meter_and_the_analytics(window: str, md: str | None, at: datetime) -> None:
    meter = meter_md(FAQ, window)
    assert meter == analytics_md(FAQ, window)
    if md is not None:
        assert meter == (Decimal(md), at)


def generated_file(path: Path) -> Path:
    """Six hours of 1-minute energies from 2026-11-02 06:00 UTC (inside one billing period): a day-like ramp, noise
    and a few short bursts; energies in 0.01 kWh so that distinct windows never round to the same 0.01 kW."""
    rng = np.random.default_rng(20261102)
    n = 6 * 60
    minutes = np.arange(n)
    base = 0.6 + 1.2 * np.sin(np.pi * minutes / n)  # kWh per minute: 36 kW rising to 108 kW
    kwh = base + rng.normal(0, 0.08, n)
    for start, length, extra in ((47, 4, 1.5), (133, 9, 0.9), (212, 2, 2.4), (301, 17, 0.5)):
        kwh[start : start + length] += extra
    kwh = np.round(np.clip(kwh, 0, None), 2)
    t0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    lines = ["timestamp,kwh"] + [
        f"{(t0 + timedelta(minutes=int(i) + 1)).strftime('%Y-%m-%dT%H:%M:%SZ')},{kwh[i]:.2f}" for i in minutes
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "window",
    ["fixed 15", "sliding 15/1", "sliding 30/5", "fixed 60", "sliding 60/12", "sliding 30/6", "fixed 5", "sliding 5/1"],
)
def test_generated_multi_hour_file_gives_the_same_md_in_the_meter_and_the_analytics(
    tmp_path: Path, window: str
) -> None:
    path = generated_file(tmp_path / "six-hours.csv")
    meter = meter_md(path, window)
    analytics = analytics_md(path, window)
    assert meter == analytics
    assert meter[0] is not None and meter[0] > Decimal(100)  # a real maximum, not an empty register
    assert meter[1] is not None and datetime(2026, 11, 2, 6, 0, tzinfo=UTC) < meter[1] <= datetime(
        2026, 11, 2, 12, 0, tzinfo=UTC
    )
