"""The OpenMetrics endpoint, scraped over HTTP and read with prometheus_client's parser."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from meterkit.errors import ConfigError
from meterkit.faces import LoadControl, PhaseLoad
from meterkit.faces.metrics import PollHealth, ProtocolCounters, render_openmetrics
from meterkit.faces.runner import FacesConfig
from meterkit.faces.virtual_source import VirtualMeterSource
from meterkit.iec62056_21.messages import DataSet

from .background import serving
from .meters import START, live_meter

pytestmark = pytest.mark.e2e


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_registers_counters_and_poll_health_in_base_units() -> None:
    vm, clock = live_meter()
    source = VirtualMeterSource(vm)
    source.control(LoadControl(load=PhaseLoad(voltage_v=230.0, current_a=100.0)))
    clock.advance(20 * 60)
    vm.tick()
    counters = ProtocolCounters()
    counters.session("12345678")
    counters.session("12345678")
    counters.nak("12345678")
    counters.error_answer("12345678", "ER03")
    health = PollHealth()
    health.succeeded("12345678", datetime(2026, 11, 2, 9, 20, tzinfo=UTC), 1.5)
    health.failed("87654321")
    got = samples(render_openmetrics([source], counters, health))
    m = (("meter", "12345678"),)
    assert got[("meterkit_energy_joules_total", (*m, ("obis", "1.8.0"), ("unit", "kWh")))] == 23.0 * 3.6e6
    assert got[("meterkit_power_watts", (*m, ("obis", "1.7.0"), ("unit", "kW")))] == 69_000.0
    assert got[("meterkit_power_watts", (*m, ("obis", "1.6.0"), ("unit", "kW")))] == 69_000.0
    assert (
        got[("meterkit_max_demand_timestamp_seconds", (*m, ("obis", "1.6.0")))]
        == datetime(2026, 11, 2, 9, 15, tzinfo=UTC).timestamp()
    )
    assert got[("meterkit_voltage_volts", (*m, ("obis", "32.7.0"), ("unit", "V")))] == 230.0
    assert got[("meterkit_power_factor_ratio", (*m, ("obis", "13.7.0"), ("unit", "")))] == 1.0
    assert got[("meterkit_sessions_total", m)] == 2 and got[("meterkit_naks_total", m)] == 1
    assert got[("meterkit_error_answers_total", (("code", "ER03"), *m))] == 1
    assert got[("meterkit_up", m)] == 1 and got[("meterkit_up", (("meter", "87654321"),))] == 0
    assert got[("meterkit_poll_failures_total", (("meter", "87654321"),))] == 1
    assert got[("meterkit_meter_info", (("manufacturer", "MKT"), *m, ("model", "VM3PH-100")))] == 1


def test_the_endpoint_serves_openmetrics_over_http() -> None:
    vm, _ = live_meter()
    with serving(vm, FacesConfig(metrics="127.0.0.1:0")) as served:
        url = served.url("metrics")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
            text = response.read().decode()
        assert text.endswith("# EOF\n")
        got = samples(text)
        assert got[("meterkit_relay_closed", (("meter", "12345678"),))] == 1
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url.replace("/metrics", "/nothing"), timeout=10)
        assert missing.value.code == 404


def test_a_panel_beyond_loopback_needs_the_flag_and_a_token() -> None:
    with pytest.raises(ConfigError, match="--web-allow-remote"):
        FacesConfig(web="0.0.0.0:8080").check()
    with pytest.raises(ConfigError, match="token"):
        FacesConfig(web="0.0.0.0:8080", web_allow_remote=True, web_token="short").check()
    FacesConfig(web="0.0.0.0:8080", web_allow_remote=True, web_token="x" * 32).check()
    FacesConfig(web="[::1]:8080").check()


def test_a_readout_over_the_optical_port_counts_a_session_and_marks_activity() -> None:
    from meterkit.client import MeterClient
    from meterkit.transport import open_transport

    vm, _ = live_meter()
    with serving(vm, FacesConfig(metrics="127.0.0.1:0"), listen=("tcp://127.0.0.1:0",)) as served:
        port = "socket://" + served.url("listening on").removeprefix("tcp://")
        with MeterClient(open_transport(port)) as client:
            assert client.readout().identification.ident == "VM3PH-100"
        with urllib.request.urlopen(served.url("metrics"), timeout=10) as response:
            got = samples(response.read().decode())
    m = (("meter", "12345678"),)
    assert got[("meterkit_sessions_total", m)] == 1
    assert got[("meterkit_naks_total", m)] == 0 and got[("meterkit_bcc_errors_total", m)] == 0
    assert got[("meterkit_port_last_activity_timestamp_seconds", m)] == START.timestamp()


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s),
    st.text(max_size=12).filter(lambda s: "\x00" not in s),
    st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False),
)
def test_any_serial_model_and_value_render_to_parseable_openmetrics(serial: str, model: str, value: Decimal) -> None:
    from meterkit.faces.polled_source import PolledSource

    source = PolledSource(serial, manufacturer="ABC", model=model)
    source.update([DataSet.single("1.8.0", str(value), "kWh")], datetime(2026, 11, 2, tzinfo=UTC))
    got = samples(render_openmetrics([source]))
    key = ("meterkit_energy_joules_total", (("meter", serial), ("obis", "1.8.0"), ("unit", "kWh")))
    assert got[key] == pytest.approx(float(value * 3_600_000))
    assert got[("meterkit_meter_info", (("manufacturer", "ABC"), ("meter", serial), ("model", model)))] == 1
