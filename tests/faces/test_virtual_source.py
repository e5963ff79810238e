"""The faces' view of a virtual meter: typed readings, logs with levels and stable sequence numbers, controls."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from meterkit.faces import CoverControl, FaceError, LoadControl, MeterSource, PhaseLoad, SealedButton, SupplyControl
from meterkit.faces.virtual_source import VirtualMeterSource

from .meters import START, live_meter


def test_the_adapter_is_a_meter_source_with_the_meters_identification() -> None:
    vm, _ = live_meter()
    source = VirtualMeterSource(vm)
    assert isinstance(source, MeterSource)
    ident = source.identification()
    assert (ident.manufacturer, ident.model, ident.serial, source.serial) == (
        "MKT",
        "VM3PH-100",
        "12345678",
        "12345678",
    )


def test_readings_are_typed_and_the_maximum_demand_carries_its_time() -> None:
    vm, clock = live_meter()
    source = VirtualMeterSource(vm)
    source.control(LoadControl(load=PhaseLoad(voltage_v=230.0, current_a=100.0)))
    clock.advance(20 * 60)
    vm.tick()
    by = {r.address: r for r in source.readings()}
    energy = by["1.8.0"]
    assert energy.unit == "kWh" and isinstance(energy.value, Decimal)
    assert energy.value == Decimal("23.000")  # 3 x 230 V x 100 A for 20 minutes
    assert by["1.7.0"].value == Decimal("69.000") and by["1.7.0"].unit == "kW"
    md = by["1.6.0"]
    assert md.unit == "kW" and md.value == Decimal("69.00")
    assert md.max_at == START + timedelta(minutes=15)  # the first full 15-minute window; equal later ones do not win
    assert by["0.0.0"].value == "12345678" and by["F.F"].value == "00000000"
    assert by["33.7.0"].value == Decimal("1.000") and by["0.1.0"].value == Decimal(0)
    assert all(r.at == START + timedelta(minutes=20) for r in by.values())


def test_opening_the_cover_logs_a_tamper_alarm_and_trips_the_relay() -> None:
    vm, _ = live_meter()
    source = VirtualMeterSource(vm)
    before = source.security_log()
    result = source.control(CoverControl(open=True))
    assert "relay=open" in result
    new = source.security_log(after=before[-1].seq if before else 0)
    assert [(e.kind, e.level) for e in new][:2] == [("COVER_OPEN_UNAUTH", "alarm"), ("RELAY_TRIP", "alarm")]
    status = source.status()
    assert status.cover_open and not status.relay_closed


def test_supply_and_buttons_go_through_the_control_channel() -> None:
    vm, _ = live_meter()
    source = VirtualMeterSource(vm)
    source.control(SealedButton(kind="seal"))
    assert source.status().button_armed
    seen = len(source.events())
    source.control(SupplyControl(on=False))
    assert not source.status().powered
    with pytest.raises(FaceError, match="powered down"):
        source.control(SealedButton(kind="reset"))
    source.control(SupplyControl(on=True))
    assert [e.kind for e in source.events(after=seen)] == ["power down", "power up"]
    assert source.events(after=seen)[0].seq == seen + 1


def test_a_load_beyond_the_range_is_refused_with_a_face_error() -> None:
    vm, _ = live_meter()
    source = VirtualMeterSource(vm)
    with pytest.raises(FaceError, match="outside"):
        source.control(LoadControl(phase=2, load=PhaseLoad(voltage_v=230.0, current_a=10_000.0)))
    source.control(LoadControl(phase=2, load=PhaseLoad(voltage_v=231.0, current_a=12.5)))
    phases = source.status().phases
    assert phases[1].current_a == 12.5 and phases[1].voltage_v == 231.0 and phases[0].current_a == 0.0
