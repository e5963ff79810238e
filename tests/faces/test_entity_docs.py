"""The Home Assistant entities shown in README.md and docs/faces.md are those the demo meter's real discovery
payloads create."""

from __future__ import annotations

from pathlib import Path

from meterkit.faces.discovery import DEFAULT_REGISTERS, discovery_messages, entity_table
from meterkit.faces.virtual_source import VirtualMeterSource
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path

ROOT = Path(__file__).resolve().parents[2]


def _demo_table() -> str:
    source = VirtualMeterSource(VirtualMeter(load_config(demo_config_path())))
    by = {r.address: r for r in source.readings()}
    readings = [by[a] for a in DEFAULT_REGISTERS if a in by]
    return entity_table(discovery_messages("homeassistant", "meterkit", "meterkit", source.identification(), readings))


def test_docs_show_every_entity_of_the_demo_meter() -> None:
    table = _demo_table()
    assert table.count("\n") == 2 + len(DEFAULT_REGISTERS)
    assert (
        "| `1.8.0` | `sensor.meter_12345678_1_8_0` | Energy A+ total (1.8.0) | energy | total_increasing | kWh |"
        in table
    )
    assert table in (ROOT / "docs" / "faces.md").read_text(encoding="utf-8")


def test_the_readme_shows_a_subset_of_the_real_entities() -> None:
    rows = _demo_table().splitlines()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Live faces")
    section = readme[start : readme.index("\n### ", start + 1)]
    shown = [line for line in section.splitlines() if line.startswith("| `")]
    assert readme.count(rows[0]) >= 1
    assert len(shown) >= 5
    assert set(shown) <= set(rows[2:])
