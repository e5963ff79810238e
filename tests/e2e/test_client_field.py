"""The hand-held against meters that misbehave the way real ones do, and errors a person can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meterkit.cli.app import main
from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.messages import DataSet
from meterkit.iec62056_21.meter import MeterPortConfig
from meterkit.meter.static_table import StaticTableMeter
from tests.fixtures.telegrams import LGZ_E350_ICRNL

from .conftest import running_server
from .scripted import Step, scripted_meter

BODY = b"1.8.0(000123.4*kWh)\r\n!\r\n\x03"
BAD_READOUT = b"\x02" + BODY + bytes([bcc(BODY) ^ 0x20])


def mode_a_meter_ignoring_nak() -> list[Step]:
    return [Step(b"/?!\r\n", b"/KAM MC\r\n" + BAD_READOUT)]


def test_read_shows_a_readout_with_a_wrong_bcc_flags_it_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with scripted_meter(*mode_a_meter_ignoring_nak()) as (url, script):
        assert main(["read", url, "--timeout", "0.5"]) == 1
        out, err = capsys.readouterr()
        assert b"\x15" in script.received  # a repeat was asked for; the meter ignored it
        assert "000123.4" in out and "BCC MISMATCH" in out
        assert "warning: BCC mismatch, data NOT verified: readout" in err
        assert err.strip().splitlines()[-1].startswith("meterkit read: error: data with a wrong BCC")
        assert main(["read", url, "--timeout", "0.5", "--format", "json", "--accept-bad-bcc"]) == 0
        doc = json.loads(capsys.readouterr().out)
    assert doc["bcc_ok"] is False and doc["complete"] is True
    assert doc["datasets"] == [{"address": "1.8.0", "values": [{"value": "000123.4", "unit": "kWh"}]}]


def test_read_lenient_reports_the_complete_data_sets_of_a_readout_without_etx(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ident_end = LGZ_E350_ICRNL.data.index(b"\n") + 1
    ident = LGZ_E350_ICRNL.data[:ident_end].replace(b"\n", b"\r\n")
    steps = [Step(b"/?!\r\n", ident), Step(b"\x06", LGZ_E350_ICRNL.data[ident_end:], close=True)]
    with scripted_meter(*steps) as (url, _):
        assert main(["read", url, "--timeout", "0.5", "--lenient", "--format", "json"]) == 1
        out, err = capsys.readouterr()
        doc = json.loads(out)
        assert doc["complete"] is False and len(doc["datasets"]) == 23
        assert "ended without ETX/BCC; only the 23 complete data sets are shown" in err
        assert main(["read", url, "--timeout", "0.5"]) == 1
        err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "closed the connection" in err


def static_meter() -> StaticTableMeter:
    return StaticTableMeter(config=MeterPortConfig(manufacturer="MKT", ident="FLD1", baud_char="5"))


def test_get_reports_an_unknown_register_per_register_without_hiding_the_others(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with running_server(static_meter(), ["tcp://127.0.0.1:0"]) as server:
        argv = ["get", server.tcp_url, "1.8.0", "9.9.9", "1.8.1", "--password", "00000000", "--allow-plain-password"]
        assert main([*argv, "--format", "json"]) == 1
        doc = json.loads(capsys.readouterr().out)
        assert main(argv) == 1
        out, err = capsys.readouterr()
    assert [d["address"] for d in doc["datasets"]] == ["1.8.0", "1.8.1"]
    assert doc["errors"] == [{"address": "9.9.9", "error": "ERUNKNOWN", "meaning": "unknown address", "reason": ""}]
    assert "1.8.0" in out and "1.8.1" in out
    assert err.strip() == "meterkit get: error: the meter refused R1 9.9.9: ERUNKNOWN (unknown address)"


def test_read_accepts_the_tcp_url_that_serve_prints(capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(static_meter(), ["tcp://127.0.0.1:0"]) as server:
        tcp = server.tcp_url.replace("socket://", "tcp://")
        assert main(["read", tcp]) == 0
        assert "FLD1" in capsys.readouterr().out
        bare = server.tcp_url.removeprefix("socket://")
        assert main(["read", bare]) == 2
        err = capsys.readouterr().err
    assert f"socket://{bare}" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("socket://127.0.0.1:21O3", "could not be cast to integer"),
        ("socket://127.0.0.1:99999", "out of range"),
        ("socket://127.0.0.1:-1", "socket://127.0.0.1:-1"),
        ("socket://127.0.0.1:0", "out of range 1-65535"),
        ("socket://[::1:2100", "Invalid IPv6 URL"),
        ("socket://::1:2100", "socket://::1:2100"),
        ("tcp://[fe80::1%eth0:2100", "Invalid IPv6 URL"),
    ],
)
def test_a_typo_in_a_port_is_one_line_and_exit_2(url: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", url]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_profile_into_a_missing_directory_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from meterkit.meter.config import load_config
    from meterkit.meter.virtual import VirtualMeter, demo_config_path

    vm = VirtualMeter(load_config(text=demo_config_path().read_text()), follow_clock=False)
    with running_server(vm, ["tcp://127.0.0.1:0"]) as server:
        out = tmp_path / "nonexistent" / "p.csv"
        code = main(["profile", server.tcp_url, "--password", "20261125", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (1, 2) and len(err) == 1 and "Traceback" not in err[0]
    assert "nonexistent" in err[0]


def test_a_refusal_prints_its_meaning_and_the_meters_reason_and_set_translates_the_demand_spelling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from meterkit.meter.config import load_config
    from meterkit.meter.virtual import VirtualMeter, demo_config_path

    vm = VirtualMeter(load_config(text=demo_config_path().read_text()), follow_clock=False)
    with running_server(vm, ["tcp://127.0.0.1:0"]) as server:
        assert main(["set", server.tcp_url, "C.60.1", "sliding 15/1", "--password", "20261125"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert main(["get", server.tcp_url, "1.8.0", "--password", "wrong-one"]) == 1
        wrong = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("meterkit set: error: the meter refused W1 C.60.1: ER02 (access level too low")
    assert "the meter says: access level 3 needed to write C.60.1, session has 2" in err[0]
    assert "forbidden character" not in err[0]
    assert len(wrong) == 1 and "ER10 (authentication failed" in wrong[0]
    assert "the port locks after repeated failures" in wrong[0]


def test_meter_client_reads_r3_and_writes_w3_in_partial_blocks_over_tcp() -> None:
    from meterkit.client import MeterClient
    from meterkit.transport import open_transport
    from tests.protocol.partial_meter import PartialMeter

    app = PartialMeter(nak_blocks={2})
    with running_server(app, ["tcp://127.0.0.1:0"]) as server:
        with MeterClient(open_transport(server.tcp_url)) as client:
            client.programming()
            blocks = client.read("P.01", partial=True)
            assert "".join(ds.value for ds in blocks) == "0123456789" * 12 and client.complete
            first = client.read("P.01", partial=True, max_blocks=2)
            assert "".join(ds.value for ds in first) == ("0123456789" * 12)[:80] and not client.complete
            client.write("C.1.0", "X" * 100, block_size=30)
            assert client.read("C.1.0") == (DataSet.single("C.1.0", "X" * 100),) and client.complete
    assert app.writes == {"C.1.0": "X" * 100}
    w3 = [text for code, text in app.log if code == "W3"]
    assert len(w3) == 5 and w3[0].startswith("C.1.0(") and w3[1] == w3[2]  # block 2 NAKed once, then repeated


def test_get_shows_an_answer_with_a_wrong_bcc_flags_it_and_exits_1_unless_accepted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = b"1.8.0(000042.0*kWh)\x03"
    bad_answer = b"\x02" + body + bytes([bcc(body) ^ 0x08])
    operand = b"P0\x02()\x03"
    steps = [
        Step(b"/?!\r\n", b"/MKT5FLAKY\r\n"),
        Step(b"\x06051\r\n", b"\x01" + operand + bytes([bcc(operand)])),
        Step(b"R1\x021.8.0", bad_answer),  # and NAKs are ignored
    ]
    with scripted_meter(*steps) as (url, script):
        assert main(["get", url, "1.8.0", "--timeout", "0.5"]) == 1
        out, err = capsys.readouterr()
        assert "000042.0" in out and "BCC MISMATCH" in out
        assert "BCC mismatch, data NOT verified: answer to R1 1.8.0" in err
        assert main(["get", url, "1.8.0", "--timeout", "0.5", "--format", "json", "--accept-bad-bcc"]) == 0
        doc = json.loads(capsys.readouterr().out)
    assert doc["bcc_ok"] is False and doc["datasets"][0]["values"][0]["value"] == "000042.0"
    assert b"\x15" in script.received
