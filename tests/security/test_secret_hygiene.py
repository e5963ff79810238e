"""Issue 14 items 7 and 10: strong generated secrets, a slow password KDF, private files, no secret in argv, and
key packages that are neither overwritten silently nor protected by a weak passphrase."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meterkit.cli.app import main
from meterkit.iec62056_21.messages import IdentificationMessage
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.security.challenge import answer_tag
from meterkit.security.keys import PASSWORD_KDF, MeterIdentity, password_key
from meterkit.storage import NvStore

from .fakemeter import CHALLENGE, FakeMeter, op2_operand

SECRET = "correct horse battery staple 7"
DEMO_MASTER_HEX = "6d657465726b69742d64656d6f2d6d61737465722d6b65792d6e6f742d736563"


def _meter_without_password(store: NvStore) -> VirtualMeter:
    text = demo_config_path().read_text()
    assert 'read_password = "20261125"\n' in text
    return VirtualMeter(load_config(text=text.replace('read_password = "20261125"\n', "")), store=store)


# --- item 7: generated secrets, the slow KDF, file modes ---------------------------------------------------------


def test_the_meters_generated_password_has_128_bits_and_stays_in_its_state(tmp_path: Path) -> None:
    state = tmp_path / "meter.db"
    with NvStore(state) as store:
        first = _meter_without_password(store).security.read_password
    with NvStore(state) as store:
        again = _meter_without_password(store).security.read_password
    other = _meter_without_password(NvStore()).security.read_password
    assert first is not None and len(first) == 32 and int(first, 16).bit_length() > 64  # 32 hex digits, 128 bits
    assert again == first != other


def test_the_password_key_costs_a_slow_scrypt_salted_with_the_meter() -> None:
    assert PASSWORD_KDF == {"n": 2**15, "r": 8, "p": 1}  # 32 MiB per guess, the cost docs/security.md states
    a, b = MeterIdentity("MKT", "12345678"), MeterIdentity("MKT", "12345679")
    assert password_key("20261125", a) != password_key("20261125", b)  # no table serves two meters
    salt = b"OP2v2-pw" + a.encode()
    assert password_key("20261125", a) == hashlib.scrypt(
        b"20261125", salt=salt, n=2**15, r=8, p=1, maxmem=64 * 2**20, dklen=32
    )


def test_the_meter_accepts_the_scrypt_keyed_password_answer() -> None:
    from meterkit.iec62056_21.events import PositiveAck
    from meterkit.iec62056_21.messages import CommandMessage, DataSet
    from meterkit.iec62056_21.testing import ConnectionPair
    from meterkit.security.challenge import answer_text, parse_operand_full

    vm = VirtualMeter(load_config(demo_config_path()), follow_clock=False)
    pair = ConnectionPair.for_application(vm)
    operand = parse_operand_full(pair.programming())
    identity = MeterIdentity("MKT", operand.serial)
    tag = answer_tag(password_key("20261125", identity), identity, 2, operand.challenge)
    p2 = CommandMessage(command="P", command_type="2", data_set=DataSet.single("", answer_text(tag)))
    assert isinstance(pair.command(p2), PositiveAck)
    assert vm.security.log_entries()[-1].detail == "level 2 by password challenge-response"


def test_state_files_are_created_owner_only_and_an_open_one_is_tightened(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        state = tmp_path / "meter.db"
        with NvStore(state) as store:
            store.set_value("security.master_key", "00" * 32)
            modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
        assert modes["meter.db"] == 0o600 and all(m == 0o600 for m in modes.values()), modes
        legacy = tmp_path / "legacy.db"
        legacy.touch(mode=0o644)
        os.chmod(legacy, 0o644)
        NvStore(legacy).close()
        assert legacy.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old_umask)


# --- item 7: no secret on the command line ------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("way", ["file", "env", "stdin"])
def test_the_password_reaches_the_meter_while_the_process_argv_holds_no_secret(way: str, tmp_path: Path) -> None:
    argv_seen: list[bytes] = []
    proc: subprocess.Popen[bytes] | None = None

    def read_argv() -> None:
        assert proc is not None
        argv_seen.append(Path(f"/proc/{proc.pid}/cmdline").read_bytes())

    ident = IdentificationMessage(manufacturer="MKT", baud_char="5", ident="VM3PH-100")
    env = {k: v for k, v in os.environ.items() if k != "METERKIT_PASSWORD"}
    with FakeMeter(ident, op2_operand(), on_sign_on=read_argv) as fake:
        auth = {"file": ["--password-file", str(tmp_path / "pw")], "env": [], "stdin": ["--password-file", "-"]}[way]
        (tmp_path / "pw").write_text(SECRET + "\n")
        if way == "env":
            env["METERKIT_PASSWORD"] = SECRET
        code = "from meterkit.cli.app import main; raise SystemExit(main())"
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "get", fake.url, "1.8.0", *auth],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _out, err = proc.communicate(SECRET.encode() + b"\n" if way == "stdin" else b"", timeout=60)
    assert proc.returncode == 0, err.decode()
    assert len(argv_seen) == 1 and b"get\x00socket://" in argv_seen[0]
    assert SECRET.encode() not in argv_seen[0] and SECRET.encode() not in fake.received
    identity = MeterIdentity("MKT", "12345678")
    tag = answer_tag(password_key(SECRET, identity), identity, 2, CHALLENGE).hex().upper()
    assert f"P2\x02({tag})".encode() in fake.received  # the secret was used: the P2 is keyed by it


def test_password_and_password_file_together_are_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x\n")
    argv = ["get", "socket://127.0.0.1:1", "1.8.0", "--password", "x", "--password-file", str(tmp_path / "pw")]
    assert main(argv) == 2


def test_an_empty_or_missing_password_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").write_text("\n")
    assert main(["get", "socket://127.0.0.1:1", "1.8.0", "--password-file", str(tmp_path / "empty")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"meterkit get: error: {tmp_path / 'empty'}: the password file is empty"
    ]
    assert main(["get", "socket://127.0.0.1:1", "1.8.0", "--password-file", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read the password file" in err[0]


# --- item 10: key packages ----------------------------------------------------------------------------------------


def _package_argv(tmp_path: Path, out: Path) -> list[str]:
    master = tmp_path / "demo.key"
    master.write_text(DEMO_MASTER_HEX)
    return ["keys", "package", "--master", str(master), "--meters", "MKT:12345678", "--hhu", "T", "--out", str(out)]


def test_keys_package_refuses_to_overwrite_an_existing_file_without_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("METERKIT_KEY_PASSPHRASE", "a long passphrase")
    out = tmp_path / "order.json"
    out.write_text("the work order of yesterday")
    argv = _package_argv(tmp_path, out)
    assert main(argv) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"meterkit keys package: error: {out} exists; refusing to overwrite a key package (--force replaces it)"
    ]
    assert out.read_text() == "the work order of yesterday"
    os.chmod(out, 0o644)
    assert main([*argv, "--force"]) == 0
    assert out.read_text().startswith("{") and out.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("weak", ["a", "eleven char"])
def test_keys_package_refuses_a_passphrase_under_12_characters(
    weak: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("METERKIT_KEY_PASSPHRASE", weak)
    out = tmp_path / "order.json"
    assert main(_package_argv(tmp_path, out)) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "meterkit keys package: error: the package passphrase needs at least 12 characters"
    ]
    assert not out.exists()
    monkeypatch.setenv("METERKIT_KEY_PASSPHRASE", "twelve chars")
    assert main(_package_argv(tmp_path, out)) == 0


def test_keys_package_help_states_the_passphrase_minimum_and_force(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "package", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "at least 12 characters" in text and "--force" in text
