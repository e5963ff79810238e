"""``meterkit listen`` against our mode D meter and against pushed telegrams of other manufacturers."""

from __future__ import annotations

import json

import pytest

from meterkit.cli.app import main
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from tests.fixtures.push_telegrams import EASYMETER_Q3D, ISKRA_DSMR50, KAIFA_DSMR42, SAGEMCOM_T210

from .conftest import running_server
from .scripted import Step, scripted_meter


def mode_d_meter() -> VirtualMeter:
    text = demo_config_path().read_text()
    text = text.replace('protocol_mode = "C"', 'protocol_mode = "D"').replace(
        "# push_interval_s = 10", "push_interval_s = 0.5"
    )
    return VirtualMeter(load_config(text=text), follow_clock=False)


def test_listen_prints_our_mode_d_meters_pushes_as_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    vm = mode_d_meter()
    with running_server(vm, ["tcp://127.0.0.1:0"]) as server:
        assert main(["listen", server.tcp_url, "--count", "2", "--format", "json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    docs = [json.loads(line) for line in lines]
    ident = vm.meter.config.identity
    for doc in docs:
        assert doc["identification"]["mode"] == "D"
        assert doc["identification"]["manufacturer"] == vm.port_config().identification.manufacturer
        assert doc["crc_ok"] is None
        addresses = [d["address"] for d in doc["datasets"]]
        assert "1.8.0" in addresses and "0.0.0" in addresses
        assert {"address": "0.0.0", "values": [{"value": ident.serial, "unit": ""}]} in doc["datasets"]


def test_listen_table_against_our_mode_d_meter(capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(mode_d_meter(), ["tcp://127.0.0.1:0"]) as server:
        assert main(["listen", server.tcp_url, "--count", "1"]) == 0
    out = capsys.readouterr().out
    assert "(mode D, Z=5)" in out and "1.8.0" in out


def test_listen_decodes_other_manufacturers_reports_the_broken_one_and_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = KAIFA_DSMR42.data.replace(b"001581.123", b"001581.124")
    stream = KAIFA_DSMR42.data + broken + EASYMETER_Q3D.data + ISKRA_DSMR50.data + SAGEMCOM_T210.data
    with scripted_meter(Step(b"", stream)) as (url, _):
        assert main(["listen", url, "--count", "4", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    docs = [json.loads(line) for line in out.strip().splitlines()]
    assert [d["identification"]["ident"] for d in docs] == ["KAIFA-METER", "Q3DB1024 V3.04", "MT382-1000", "53710000_A"]
    assert [d["crc_ok"] for d in docs] == [True, None, True, True]
    errors = err.strip().splitlines()
    assert errors[0].startswith("meterkit listen: broken telegram: CRC mismatch: the telegram says 6796")
    assert "001581.124" in errors[0]  # its bytes are shown
    assert errors[1].startswith("meterkit listen: broken telegram: skipped 47 bytes of noise")


def test_listen_says_when_the_line_closes_before_count_telegrams(capsys: pytest.CaptureFixture[str]) -> None:
    with scripted_meter(Step(b"", ISKRA_DSMR50.data, close=True)) as (url, _):
        assert main(["listen", url, "--count", "3", "--format", "json"]) == 1
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1
    assert "the line closed after 1 of 3 telegrams" in err


def test_listen_rejects_a_malformed_port_as_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["listen", "socket://127.0.0.1:99999"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_read_on_a_mode_d_meter_points_to_listen(capsys: pytest.CaptureFixture[str]) -> None:
    text = demo_config_path().read_text().replace('protocol_mode = "C"', 'protocol_mode = "D"')
    with running_server(VirtualMeter(load_config(text=text), follow_clock=False), ["tcp://127.0.0.1:0"]) as server:
        assert main(["read", server.tcp_url, "--timeout", "0.5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"try meterkit listen {server.tcp_url}" in err[0]


def test_listen_on_a_pty_where_our_mode_d_meter_pushes(capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(mode_d_meter(), ["pty"]) as server:
        assert main(["listen", server.pty_path, "--baud", "9600", "--count", "1", "--format", "json"]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert json.loads(line)["identification"]["mode"] == "D"
