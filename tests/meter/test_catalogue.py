"""The register catalogue: one table from which the port's answers, the access checks and docs/registers.md come."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from meterkit.iec62056_21.events import AnswerReceived, ErrorReceived, PositiveAck
from meterkit.meter.catalogue import DemandValue, Format, Quantity, catalogue
from meterkit.meter.config import load_config
from meterkit.meter.metrology import VaMethod
from meterkit.meter.regdoc import main as regdoc_main
from meterkit.meter.regdoc import registers_markdown
from meterkit.meter.registers import read_register
from meterkit.meter.virtual import VirtualMeter, demo_config_path, load_virtual_meter
from meterkit.storage import NvStore

from .portkit import R, level3, session

ROOT = Path(__file__).parents[2]
FAQ = ROOT / "examples" / "faq-0900-0930.csv"


def faq_meter() -> VirtualMeter:
    return load_virtual_meter(None, None, replay=FAQ)


def values(pair: object, address: str) -> tuple[str, ...]:
    event = pair.command(R("R1", address))  # type: ignore[attr-defined]
    assert isinstance(event, AnswerReceived), event
    return tuple(v.value + (f"*{v.unit}" if v.unit else "") for v in event.answer.datasets[0].values)


def test_docs_registers_md_is_what_the_catalogue_generates() -> None:
    assert (ROOT / "docs" / "registers.md").read_text(encoding="utf-8") == registers_markdown(), (
        "docs/registers.md is stale: run python -m meterkit.meter.regdoc docs/registers.md"
    )


def test_regdoc_entry_point_writes_the_generated_page(tmp_path: Path) -> None:
    target = tmp_path / "registers.md"
    assert regdoc_main([str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text == registers_markdown()
    assert (
        "| `1.2.0` | cumulative maximum demand A+: the sum of the maxima of every MD reset | kW (scale) | 2 | — |"
        in text
    )
    assert "| `C.60.1` | demand configuration" in text and "| 2 | 3 |" in text


def test_catalogue_addresses_are_unique_and_built_once() -> None:
    cat = catalogue()
    addresses = [r.address for r in cat.registers]
    assert len(addresses) == len(set(addresses)) == len(cat.by_address)
    assert catalogue() is cat
    assert cat.read_level("1.8.0") == 1 and cat.read_level("1.8.0*01") == 2 and cat.read_level("9.9.9") is None
    assert cat.spec("C.62.1") is not None and cat.spec("C.62.1").write_level == 3  # type: ignore[union-attr]
    assert cat.spec("1.8.0").write_level is None  # type: ignore[union-attr]
    assert cat.function("SELFTEST") is not None and cat.function("SELFTEST").level == 2  # type: ignore[union-attr]
    area = cat.area("TOU.D.workday")
    assert area is not None and (area.read_level, area.write_level) == (2, 3)


def test_typed_values_are_decimals_with_units_datetimes_and_enums() -> None:
    vm = faq_meter()
    cat = catalogue()
    assert cat.reading(vm.meter, "1.8.0") == Quantity(Decimal("69.4"), "kWh")
    assert cat.reading(vm.meter, "1.6.0") == DemandValue(Decimal("157.00"), datetime(2026, 11, 2, 9, 22, tzinfo=UTC))
    assert cat.reading(vm.meter, "0.9.1") == vm.meter.now
    assert cat.reading(vm.meter, "C.60.3") is VaMethod.ARITHMETIC
    assert cat.reading(vm.meter, "1.7.0") is None  # a replayed meter has no measurement
    assert cat.spec("1.6.0").format is Format.DEMAND  # type: ignore[union-attr]
    ds = read_register(vm.meter, "1.6.0")
    assert ds is not None and [(v.value, v.unit) for v in ds.values] == [("0157.00", "kW"), ("2611020922", "")]


def test_cumulative_md_and_md_reset_count_follow_billing_and_demand_resets() -> None:
    vm = faq_meter()
    pair = session(vm)
    assert values(pair, "1.2.0") == ("0000.00*kW",)
    assert values(pair, "C.61.0") == ("00",)
    pair.sign_off()
    vm.press_button()  # billing reset: the 157.00 kW maximum goes into the cumulative MD
    pair = session(vm)
    assert values(pair, "1.2.0") == ("0157.00*kW",)
    assert values(pair, "9.2.0")[0].endswith("*kVA")
    assert values(pair, "C.61.0") == ("01",)
    assert values(pair, "0.1.0") == ("01",)
    refused = pair.command(R("W1", "1.2.0", "0"))
    assert isinstance(refused, ErrorReceived) and refused.text == "ER02"
    pair.sign_off()
    pair.advance(3)
    pair = level3(vm)
    assert isinstance(pair.command(R("E2", "DEMAND.RESET")), PositiveAck)
    assert values(pair, "C.61.0") == ("02",)  # a register reset counts, the billing counter does not
    assert values(pair, "0.1.0") == ("01",)
    assert values(pair, "1.2.0") == ("0157.00*kW",)  # nothing was running since the billing reset


def test_cumulative_md_survives_a_restart(tmp_path: Path) -> None:
    cfg = load_config(demo_config_path())
    store = NvStore(tmp_path / "m.sqlite")
    vm = VirtualMeter(cfg, store=store, follow_clock=False)
    vm.meter.add_interval(vm.meter.now.replace(minute=15), 25_000_000)  # 25 kWh in 15 min = 100 kW
    vm.meter.billing_reset("command")
    vm.save()
    before = vm.meter.cumulative_demand("A+")
    assert before == Decimal("100.00")
    store.close()
    again = VirtualMeter(cfg, store=NvStore(tmp_path / "m.sqlite"), follow_clock=False)
    assert again.meter.cumulative_demand("A+") == before and again.meter.md_reset_count == 1


def test_the_meter_service_reads_typed_values_without_the_port() -> None:
    vm = faq_meter()
    assert vm.reading("1.6.0") == DemandValue(Decimal("157.00"), datetime(2026, 11, 2, 9, 22, tzinfo=UTC))
    assert vm.reading("0.0.0") == vm.config.identity.serial
    vm.press_button()
    assert vm.reading("1.6.0*01") == DemandValue(Decimal("157.00"), datetime(2026, 11, 2, 9, 22, tzinfo=UTC))
    assert vm.reading("1.2.0") == Quantity(Decimal("157.00"), "kW")
    for missing in ("99.9.9", "1.6.0*02", "0.0.0*01"):
        with pytest.raises(KeyError):
            vm.reading(missing)
