"""Home Assistant discovery payloads and state messages for a meter's registers (pure, no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from meterkit.faces import Identification, Reading
from meterkit.faces.discovery import discovery_messages, entity_kind, removal_messages, state_message

AT = datetime(2026, 11, 2, 9, 20, tzinfo=UTC)
IDENT = Identification(manufacturer="MKT", model="VM3PH-100", serial="12345678")


def reading(address: str, value: str, unit: str, description: str = "x", max_at: datetime | None = None) -> Reading:
    number = Decimal(value) if unit or value[:1].isdigit() else None
    return Reading(
        address=address,
        value=number if number is not None else value,
        unit=unit,
        description=description,
        at=AT,
        max_at=max_at,
    )


def test_energies_are_total_increasing_and_powers_measurements() -> None:
    assert entity_kind(reading("1.8.0", "12.5", "kWh")) == ("energy", "total_increasing")
    assert entity_kind(reading("3.8.0", "1.5", "kvarh")) == ("reactive_energy", "total_increasing")
    assert entity_kind(reading("9.8.0", "1.5", "kVAh")) == (None, "total_increasing")
    assert entity_kind(reading("1.4.0", "69.00", "kW")) == ("power", "measurement")
    assert entity_kind(reading("1.6.0", "69.00", "kW")) == ("power", "measurement")
    assert entity_kind(reading("9.6.0", "72.00", "kVA")) == ("apparent_power", "measurement")
    assert entity_kind(reading("32.7.0", "230.0", "V")) == ("voltage", "measurement")
    assert entity_kind(reading("13.7.0", "0.950", "")) == ("power_factor", "measurement")
    assert entity_kind(Reading(address="F.F", value="00000000", unit="", description="e", at=AT)) == (None, None)


def test_one_device_per_meter_and_one_entity_per_register() -> None:
    msgs = discovery_messages(
        "homeassistant",
        "meterkit",
        "host1",
        IDENT,
        [reading("1.8.0", "12.5", "kWh", "energy A+ total"), reading("1.6.0", "69.00", "kW", "maximum demand A+")],
    )
    assert [m.topic for m in msgs] == [
        "homeassistant/sensor/meterkit_12345678/1_8_0/config",
        "homeassistant/sensor/meterkit_12345678/1_6_0/config",
    ]
    assert all(m.retain for m in msgs)
    energy = json.loads(msgs[0].payload)
    assert energy["device"] == {
        "identifiers": ["meterkit_12345678"],
        "name": "Meter 12345678",
        "manufacturer": "MKT",
        "model": "VM3PH-100",
        "serial_number": "12345678",
    }
    assert energy["unique_id"] == "meterkit_12345678_1_8_0"
    assert energy["state_topic"] == "meterkit/12345678/1.8.0"
    assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == (
        "energy",
        "total_increasing",
        "kWh",
    )
    assert energy["name"] == "Energy A+ total (1.8.0)"
    assert [a["topic"] for a in energy["availability"]] == ["meterkit/host1/status", "meterkit/12345678/availability"]
    md = json.loads(msgs[1].payload)
    assert md["json_attributes_topic"] == "meterkit/12345678/1.6.0" and md["state_class"] == "measurement"


def test_a_maximum_demand_state_carries_the_time_of_the_maximum() -> None:
    when = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    msg = state_message("meterkit", "12345678", reading("1.6.0", "69.00", "kW", max_at=when))
    assert msg.topic == "meterkit/12345678/1.6.0" and msg.retain
    assert json.loads(msg.payload) == {
        "value": 69.0,
        "unit": "kW",
        "timestamp": "2026-11-02T09:20:00+00:00",
        "max_at": "2026-11-02T09:15:00+00:00",
    }
    energy = json.loads(state_message("meterkit", "12345678", reading("1.8.0", "23.000", "kWh")).payload)
    assert energy == {"value": 23.0, "unit": "kWh", "timestamp": "2026-11-02T09:20:00+00:00"}


def test_removal_is_an_empty_retained_config_per_entity() -> None:
    msgs = removal_messages("ha", "12345678", ["1.8.0", "F.F"])
    assert [(m.topic, m.payload, m.retain) for m in msgs] == [
        ("ha/sensor/meterkit_12345678/1_8_0/config", b"", True),
        ("ha/sensor/meterkit_12345678/f_f/config", b"", True),
    ]
