"""One error style for the whole CLI: every mistake is one stderr line ``meterkit <command>: error: ...``, never a
traceback, exit 1 for data/device errors and 2 for usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterkit.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
FAQ = str(ROOT / "examples" / "faq-0900-0930.csv")
DEAD = "socket://127.0.0.1:1"  # nothing listens on port 1: connection refused at once

# (argv, exit code, the command path in front of "error:", a piece of the message)
MISTAKES: list[tuple[list[str], int, str, str]] = [
    (["nonsense"], 2, "meterkit", "No such command 'nonsense'"),
    (["--bogus"], 2, "meterkit", "No such option: --bogus"),
    (["serve", "--config", "{tmp}/missing.toml"], 1, "meterkit serve", "missing.toml: cannot read"),
    (["serve", "--control", "tcp://192.0.2.1:2101"], 2, "meterkit serve", "loopback only"),
    (["serve", "--headend", "mqtt://127.0.0.1/t"], 2, "meterkit serve", "give --state too"),
    (["serve", "--listen"], 2, "meterkit serve", "--listen"),
    (["read"], 2, "meterkit read", "Missing argument 'PORT'"),
    (["read", DEAD], 1, "meterkit read", "cannot connect to socket://127.0.0.1:1"),
    (["read", DEAD, "--mode", "Q"], 2, "meterkit read", "--mode must be A, B or C"),
    (["read", DEAD, "--baud", "1234"], 2, "meterkit read", "1234: choose one of"),
    (["read", DEAD, "--format", "xml"], 2, "meterkit read", "'xml' is not one of"),
    (["get", DEAD], 2, "meterkit get", "Missing argument 'ADDRESSES"),
    (["get", DEAD, "1.8.0", "--password", "p", "--key-file", "k"], 2, "meterkit get", "not both"),
    (["get", DEAD, "1.8.0", "--key-file", "{tmp}/none.json"], 1, "meterkit get", "cannot read the key package"),
    (["get", DEAD, "1.8.0", "--require-encryption"], 2, "meterkit get", "--require-encryption needs"),
    (["set", DEAD, "C.60.1"], 2, "meterkit set", "Missing argument 'VALUE'"),
    (["set", DEAD, "C.60.1", "fixed 15"], 1, "meterkit set", "cannot connect"),
    (["exec"], 2, "meterkit exec", "Missing argument 'PORT'"),
    (["exec", DEAD, "BILLING.RESET"], 1, "meterkit exec", "cannot connect"),
    (["profile", DEAD], 1, "meterkit profile", "cannot connect"),
    (["profile", DEAD, "--timeout", "soon"], 2, "meterkit profile", "'--timeout'"),
    (["control", "tcp://127.0.0.1:1", "status"], 1, "meterkit control", "cannot reach the control channel"),
    (["control", "http://x", "status"], 2, "meterkit control", "needs tcp://HOST:PORT"),
    (["demand", "{tmp}/missing.csv"], 1, "meterkit demand", "missing.csv: no such file"),
    (["demand", "{tmp}/bad.csv"], 1, "meterkit demand", "unreadable timestamp"),
    (["demand", FAQ, "--sliding", "15/7"], 2, "meterkit demand", "15/7 is not offered"),
    (["demand", FAQ, "--rate", "3"], 2, "meterkit demand", "--rate"),
    (["demo", "--profile", "{tmp}/missing.csv"], 1, "meterkit demo", "missing.csv: no such file"),
    (["demo", "--profile", "{tmp}/q15.csv"], 1, "meterkit demo", "needs one-minute readings of one meter"),
    (["demo", "--threshold", "lots"], 2, "meterkit demo", "'--threshold'"),
    (["keys", "nope"], 2, "meterkit keys", "No such command 'nope'"),
    (["keys", "new-master", "{tmp}/master.key"], 1, "meterkit keys new-master", "refusing to overwrite"),
    (["keys", "derive", "--master", "{tmp}/none.key", "--meter", "MKT:1"], 1, "meterkit keys derive", "cannot read"),
    (["keys", "derive", "--master", "{tmp}/master.key", "--meter", "MKT1"], 2, "meterkit keys derive", "FLAG:SERIAL"),
    (["keys", "derive", "--master", "{tmp}/master.key", "--meter", "MKT:1", "--level", "4"], 2, "meterkit keys derive",
     "levels 2 and 3 only"),
    (["keys", "package", "--master", "{tmp}/master.key", "--meters", "MKT:1", "--hhu", "H", "--out", "{tmp}/o.json",
      "--levels", "5"], 2, "meterkit keys package", "--levels may hold 2 and 3"),
    (["keys", "inspect", "{tmp}/none.json"], 1, "meterkit keys inspect", "METERKIT_KEY_PASSPHRASE"),
    (["keys", "inspect", "{tmp}/bad.csv", "--passphrase", "x"], 1, "meterkit keys inspect", "not a meterkit key package"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "code", "where", "message"), MISTAKES, ids=[" ".join(m[0])[:60] for m in MISTAKES])
def test_every_mistake_is_one_error_line_with_its_exit_code(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    where: str,
    message: str,
) -> None:
    monkeypatch.delenv("METERKIT_KEY_PASSPHRASE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "master.key").write_text("00" * 32 + "\n")
    (tmp_path / "bad.csv").write_text("timestamp,kw\nyesterday,1\n")
    (tmp_path / "q15.csv").write_text("timestamp,kw\n2026-11-02T09:15:00Z,100\n2026-11-02T09:30:00Z,120\n")
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == code
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{where}: error: "), lines[0]
    assert message in lines[0]
    assert "Traceback" not in err and "Usage:" not in err
    assert out == ""
    if code == 2:
        assert lines[0].endswith(f"(see '{where} --help')")


def test_a_file_that_cannot_be_written_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master = tmp_path / "none" / "master.key"  # its folder does not exist
    assert main(["keys", "new-master", str(master)]) == 1
    assert capsys.readouterr().err == f"meterkit keys new-master: error: {master}: No such file or directory\n"
