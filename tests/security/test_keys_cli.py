"""``meterkit keys`` and a hand-held with a key package writing to a bench meter over TCP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meterkit.cli.app import main
from meterkit.meter.virtual import load_virtual_meter

DEMO_MASTER_HEX = "6d657465726b69742d64656d6f2d6d61737465722d6b65792d6e6f742d736563"


def test_new_master_derive_package_inspect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("METERKIT_KEY_PASSPHRASE", "a long passphrase")
    master = tmp_path / "master.key"
    assert main(["keys", "new-master", str(master)]) == 0
    assert oct(master.stat().st_mode & 0o777) == "0o600" and len(bytes.fromhex(master.read_text())) == 32
    assert main(["keys", "new-master", str(master)]) == 1  # never overwritten
    capsys.readouterr()
    assert main(["keys", "derive", "--master", str(master), "--meter", "MKT:12345678", "--level", "3"]) == 0
    assert len(capsys.readouterr().out.strip()) == 64
    pkg = tmp_path / "order.json"
    assert (
        main(
            ["keys", "package", "--master", str(master), "--meters", "MKT:1,MKT:2", "--hhu", "HHU-9", "--out", str(pkg)]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["keys", "inspect", str(pkg)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["hhu"] == "HHU-9" and doc["meters"] == {"MKT:1": {"2": [1], "3": [1]}, "MKT:2": {"2": [1], "3": [1]}}
    assert master.read_text().strip() not in pkg.read_text()
    monkeypatch.setenv("METERKIT_KEY_PASSPHRASE", "wrong")
    assert main(["keys", "inspect", str(pkg)]) == 1
    assert "wrong passphrase (METERKIT_KEY_PASSPHRASE) or the package was altered" in capsys.readouterr().err


@pytest.mark.e2e
def test_key_package_writes_to_a_bench_meter_over_tcp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.e2e.conftest import running_server

    monkeypatch.setenv("METERKIT_KEY_PASSPHRASE", "pw for the test")
    master = tmp_path / "demo.key"
    master.write_text(DEMO_MASTER_HEX)
    pkg = tmp_path / "order.json"
    assert (
        main(["keys", "package", "--master", str(master), "--meters", "MKT:12345678", "--hhu", "T", "--out", str(pkg)])
        == 0
    )
    vm = load_virtual_meter(None, None, replay=Path(__file__).parents[2] / "examples" / "faq-0900-0930.csv")
    with running_server(vm, ["tcp://127.0.0.1:0"]) as server:
        assert main(["set", server.tcp_url, "C.60.1", "fixed 15", "--key-file", str(pkg), "--level", "3"]) == 1
        assert "ER06" in capsys.readouterr().err  # cover closed
        vm.security.bench_mode()
        assert main(["set", server.tcp_url, "C.60.1", "fixed 15", "--key-file", str(pkg), "--level", "3"]) == 0
        assert main(["get", server.tcp_url, "C.60.1", "--key-file", str(pkg), "--level", "2", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["datasets"][0]["values"][0]["value"] == "fixed 15"


def test_package_versions_per_level_and_bad_ids_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("METERKIT_KEY_PASSPHRASE", "pp for the test")
    master = tmp_path / "master.key"
    assert main(["keys", "new-master", str(master)]) == 0
    pkg = tmp_path / "order.json"
    base = ["keys", "package", "--master", str(master), "--meters", "MKT:1", "--out", str(pkg)]
    assert main([*base, "--hhu", "HHU-9", "--version", "2=1,3=2"]) == 0
    capsys.readouterr()
    assert main(["keys", "inspect", str(pkg)]) == 0
    assert json.loads(capsys.readouterr().out)["meters"] == {"MKT:1": {"2": [1], "3": [2]}}
    assert main([*base, "--hhu", "HHU 9"]) == 2  # a space cannot travel in a P2 value
    assert main([*base, "--hhu", "HHU-9", "--version", "2=1"]) == 2  # level 3 has no version
    assert main([*base, "--hhu", "HHU-9", "--version", "x"]) == 2
