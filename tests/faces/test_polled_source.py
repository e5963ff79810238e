"""A meter read over its optical port, as the collector sees it, published by the faces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from meterkit.faces import CoverControl, FaceError, LoadControl, PhaseLoad
from meterkit.faces.discovery import discovery_messages, state_message
from meterkit.faces.metrics import render_openmetrics
from meterkit.faces.polled_source import PolledSource
from meterkit.faces.runner import FacesConfig
from meterkit.faces.virtual_source import VirtualMeterSource
from meterkit.iec62056_21.messages import DataSet, Value

from .background import serving
from .meters import START, live_meter
from .test_metrics import samples

AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def test_data_sets_become_typed_readings_with_the_time_of_the_maximum() -> None:
    source = PolledSource("12345678", zone=ZoneInfo("Europe/Berlin"))
    source.update(
        [
            DataSet.single("0.0.0", "12345678"),
            DataSet.single("1.8.0", "001234.567", "kWh"),
            DataSet(address="1.6.0", values=(Value(value="0157.00", unit="kW"), Value(value="2611020922"))),
            DataSet.single("13.7.0", "0.950"),
            DataSet.single("1.8.0*01", "000999.000", "kWh"),
            DataSet.single("F.F", "00000000"),
        ],
        AT,
        manufacturer="ABC",
        model="X1",
    )
    by = {r.address: r for r in source.readings()}
    assert set(by) == {"0.0.0", "1.8.0", "1.6.0", "13.7.0", "F.F"}
    assert by["1.8.0"].value == Decimal("1234.567") and by["1.8.0"].description == "energy A+ total"
    assert by["1.6.0"].value == Decimal("157.00")
    assert by["1.6.0"].max_at == datetime(2026, 11, 2, 8, 22, tzinfo=UTC)  # 09:22 in Berlin
    assert by["13.7.0"].value == Decimal("0.950") and by["0.0.0"].value == "12345678"
    assert source.identification().model == "X1" and source.status().powered
    source.failed(AT + timedelta(minutes=15))
    assert not source.status().powered and by["1.8.0"] in source.readings()
    with pytest.raises(FaceError):
        source.control(CoverControl(open=True))


def test_a_real_readout_feeds_mqtt_states_discovery_and_metrics() -> None:
    from meterkit.client import MeterClient, PasswordAuthenticator
    from meterkit.transport import open_transport

    vm, clock = live_meter()
    with serving(vm, FacesConfig(), listen=("tcp://127.0.0.1:0",)) as served:

        def run_for_twenty_minutes() -> None:
            VirtualMeterSource(vm).control(LoadControl(load=PhaseLoad(voltage_v=230.0, current_a=100.0)))
            clock.advance(20 * 60)
            vm.tick()

        served.call(run_for_twenty_minutes)
        port = "socket://" + served.url("listening on").removeprefix("tcp://")
        with MeterClient(open_transport(port)) as client:
            readout = client.readout()
        with MeterClient(open_transport(port)) as client:
            client.programming(PasswordAuthenticator("20261125"))
            md = client.read("1.6.0")
    source = PolledSource("12345678")
    ident = readout.identification
    source.update([*readout.datasets, *md], AT, manufacturer=ident.manufacturer, model=ident.ident)
    by = {r.address: r for r in source.readings()}
    assert by["1.8.0"].value == Decimal("23.000")
    assert by["1.6.0"].value == Decimal("69.00") and by["1.6.0"].max_at == START + timedelta(minutes=15)
    state = json.loads(state_message("meterkit", "12345678", by["1.6.0"]).payload)
    assert state["max_at"] == "2026-11-02T09:15:00+00:00"
    config = json.loads(
        discovery_messages("homeassistant", "meterkit", "collector", source.identification(), [by["1.8.0"]])[0].payload
    )
    assert config["device"]["model"] == "VM3PH-100" and config["state_class"] == "total_increasing"
    got = samples(render_openmetrics([source]))
    key = ("meterkit_energy_joules_total", (("meter", "12345678"), ("obis", "1.8.0"), ("unit", "kWh")))
    assert got[key] == 23.0 * 3.6e6
