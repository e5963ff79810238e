"""Topics, state payloads and Home Assistant MQTT discovery for a meter's registers (pure functions, no I/O).

Naming (stable, see docs/faces.md):

* state ``PREFIX/<serial>/<OBIS>`` (e.g. ``meterkit/12345678/1.8.0``): JSON ``{"value", "unit", "timestamp"}``,
  maximum-demand registers also ``"max_at"``; retained.
* events ``PREFIX/<serial>/events``: one JSON object per event-log or security-log entry; not retained.
* availability ``PREFIX/<serial>/availability`` (``online``/``offline``, retained, from whoever reads the meter) and
  ``PREFIX/<node>/status`` (the publishing process's last will).
* discovery ``DISCOVERY/sensor/meterkit_<serial>/<object>/config`` with ``<object>`` the OBIS code with ``_`` for
  ``.``, lower case (``1_8_0``, ``f_f``), ``unique_id`` ``meterkit_<serial>_<object>``; one device per meter ``meterkit_<serial>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from .mqtt_link import MqttMessage
from .source import Identification, LogEntry, Reading

__all__ = [
    "DEFAULT_REGISTERS",
    "discovery_messages",
    "entity_kind",
    "entity_table",
    "event_message",
    "object_id",
    "removal_messages",
    "state_message",
    "state_topic",
]

#: registers published unless told otherwise: energies (total, tariffs 1-2), demand (current average, last
#: completed, maximum), instantaneous values per phase, and the error register
DEFAULT_REGISTERS: tuple[str, ...] = (
    "1.8.0",
    "1.8.1",
    "1.8.2",
    "2.8.0",
    "3.8.0",
    "4.8.0",
    "9.8.0",
    "1.4.0",
    "1.5.0",
    "1.6.0",
    "1.6.1",
    "1.6.2",
    "2.6.0",
    "9.4.0",
    "9.6.0",
    "1.7.0",
    "3.7.0",
    "9.7.0",
    "13.7.0",
    "14.7.0",
    "21.7.0",
    "41.7.0",
    "61.7.0",
    "32.7.0",
    "52.7.0",
    "72.7.0",
    "31.7.0",
    "51.7.0",
    "71.7.0",
    "F.F",
)

# unit -> (device_class, state_class); energy counters only ever grow between resets of the meter itself
_ENERGY = {"Wh": "energy", "kWh": "energy", "MWh": "energy", "varh": "reactive_energy", "kvarh": "reactive_energy"}
_MEASURE = {
    "W": "power",
    "kW": "power",
    "MW": "power",
    "var": "reactive_power",
    "kvar": "reactive_power",
    "VA": "apparent_power",
    "kVA": "apparent_power",
    "MVA": "apparent_power",
    "V": "voltage",
    "A": "current",
    "Hz": "frequency",
}


def object_id(address: str) -> str:
    """``1.8.0`` -> ``1_8_0``, ``F.F`` -> ``f_f`` (Home Assistant entity ids are lower case)."""
    return address.replace(".", "_").replace("*", "_").lower()


def state_topic(prefix: str, serial: str, address: str) -> str:
    return f"{prefix}/{serial}/{address}"


def availability_topic(prefix: str, serial: str) -> str:
    return f"{prefix}/{serial}/availability"


def entity_kind(reading: Reading) -> tuple[str | None, str | None]:
    """(device_class, state_class) for Home Assistant: energies ``total_increasing``, powers, demand, voltages and
    currents ``measurement``; texts neither."""
    if not reading.numeric:
        return None, None
    unit = reading.unit
    if unit in _ENERGY:
        return _ENERGY[unit], "total_increasing"
    if unit.endswith("h"):  # apparent energy (kVAh): no device class in Home Assistant
        return None, "total_increasing"
    if unit in _MEASURE:
        return _MEASURE[unit], "measurement"
    if reading.address.split(".")[1:2] == ["7"]:  # unitless instantaneous values are power factors
        return "power_factor", "measurement"
    return None, "measurement"


def _number(value: Decimal | str) -> float | str:
    return float(value) if isinstance(value, Decimal) else value


def state_message(prefix: str, serial: str, reading: Reading) -> MqttMessage:
    body: dict[str, Any] = {"value": _number(reading.value), "unit": reading.unit, "timestamp": reading.at.isoformat()}
    if reading.address.split(".")[1:2] == ["6"]:
        body["max_at"] = None if reading.max_at is None else reading.max_at.isoformat()
    return MqttMessage(
        topic=state_topic(prefix, serial, reading.address), payload=json.dumps(body).encode(), retain=True
    )


def event_message(prefix: str, serial: str, log: str, entry: LogEntry) -> MqttMessage:
    body = {
        "log": log,
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "kind": entry.kind,
        "text": entry.text,
        "level": entry.level,
    }
    return MqttMessage(topic=f"{prefix}/{serial}/events", payload=json.dumps(body).encode(), retain=False)


def _config_topic(discovery: str, serial: str, address: str) -> str:
    return f"{discovery}/sensor/meterkit_{serial}/{object_id(address)}/config"


def _entity_name(reading: Reading) -> str:
    text = reading.description
    return f"{text[:1].upper()}{text[1:]} ({reading.address})"


def discovery_messages(
    discovery: str, prefix: str, node: str, ident: Identification, readings: Iterable[Reading]
) -> list[MqttMessage]:
    """One retained config per register, all on one device for the meter."""
    device = {
        "identifiers": [f"meterkit_{ident.serial}"],
        "name": f"Meter {ident.serial}",
        "manufacturer": ident.manufacturer,
        "model": ident.model,
        "serial_number": ident.serial,
    }
    out: list[MqttMessage] = []
    for reading in readings:
        oid = object_id(reading.address)
        topic = state_topic(prefix, ident.serial, reading.address)
        config: dict[str, Any] = {
            "name": _entity_name(reading),
            "unique_id": f"meterkit_{ident.serial}_{oid}",
            "object_id": f"meter_{ident.serial}_{oid}",
            "state_topic": topic,
            "value_template": "{{ value_json.value }}",
            "json_attributes_topic": topic,
            "availability": [
                {"topic": f"{prefix}/{node}/status"},
                {"topic": availability_topic(prefix, ident.serial)},
            ],
            "availability_mode": "all",
            "device": device,
        }
        device_class, state_class = entity_kind(reading)
        if device_class is not None:
            config["device_class"] = device_class
        if state_class is not None:
            config["state_class"] = state_class
        if reading.unit:
            config["unit_of_measurement"] = reading.unit
        if not reading.numeric:
            config["entity_category"] = "diagnostic"
        out.append(
            MqttMessage(
                topic=_config_topic(discovery, ident.serial, reading.address),
                payload=json.dumps(config).encode(),
                retain=True,
            )
        )
    return out


def removal_messages(discovery: str, serial: str, addresses: Sequence[str]) -> list[MqttMessage]:
    """Empty retained configs: Home Assistant removes the entities (and the device with its last entity)."""
    return [MqttMessage(topic=_config_topic(discovery, serial, a), payload=b"", retain=True) for a in addresses]


def entity_table(messages: Iterable[MqttMessage]) -> str:
    """A Markdown table of the Home Assistant entities that discovery ``messages`` create (README, docs/faces.md)."""
    rows = [
        "| OBIS | entity | name | device_class | state_class | unit |",
        "|---|---|---|---|---|---|",
    ]
    for message in messages:
        if not message.payload:
            continue
        config = json.loads(message.payload)
        address = config["state_topic"].rsplit("/", 1)[1]
        state_class = config.get("state_class") or ("— (diagnostic)" if "entity_category" in config else "—")
        cells = (
            f"`{address}`",
            f"`sensor.{config['object_id']}`",
            config["name"],
            config.get("device_class", "—"),
            state_class,
            config.get("unit_of_measurement", "—"),
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
