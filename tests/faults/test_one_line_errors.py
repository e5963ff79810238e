"""Items 3 and 6 of #15: bad configurations, state files, profile files and endpoints end with one error line and an
exit code (1 data, 2 usage) before anything is served - never a traceback, never ``listening on``."""

from __future__ import annotations

import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from meterkit.cli.app import main


def config(body: bytes) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        path = tmp / "meter.toml"
        path.write_bytes(body)
        return ["serve", "--config", str(path), "--listen", "tcp://127.0.0.1:0"]

    return make


def foreign_state(tmp: Path) -> list[str]:
    path = tmp / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    return ["serve", "--state", str(path), "--listen", "tcp://127.0.0.1:0"]


def profile(year: int, command: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        path = tmp / "profile.csv"
        path.write_text(f"timestamp,kwh\n{year:04d}-06-01T00:15:00+00:00,1.0\n{year:04d}-06-01T00:30:00+00:00,1.0\n")
        if command == "serve":
            return ["serve", "--replay", str(path), "--listen", "tcp://127.0.0.1:0"]
        return ["demand", str(path)]

    return make


def args(*argv: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [a.replace("{tmp}", str(tmp)) for a in argv]


CASES: dict[str, tuple[Callable[[Path], list[str]], int, str]] = {
    "baud character Z in mode C": (config(b'[port]\nbaud_char = "Z"\n'), 1, "announces mode A, not mode C"),
    "ident with !": (config(b'[identity]\nident = "VM!"\n'), 1, "forbidden character '!'"),
    "ident with CR LF": (config(b'[identity]\nident = "VM\\r\\n"\n'), 1, "non-printable character"),
    "relay_trip_on_tamper a string": (
        config(b'[security]\nrelay_trip_on_tamper = "no"\n'),
        1,
        "relay_trip_on_tamper must be true or false, got 'no'",
    ),
    "lockout_after a fraction": (config(b"[security]\nlockout_after = 2.5\n"), 1, "must be a whole number, got 2.5"),
    "peak_kw infinite": (config(b"[source]\npeak_kw = inf\n"), 1, "source.peak_kw: Input should be a finite number"),
    "peak_kw nan": (config(b"[source]\npeak_kw = nan\n"), 1, "source.peak_kw: Input should be a finite number"),
    "capture_min a string": (config(b'[load_profile]\ncapture_min = "15"\n'), 1, "load_profile.capture_min"),
    "unknown readout register": (
        config(b'[readout]\npublic = ["1.8.0", "9.9.9"]\n'),
        1,
        "[readout] public: no such register 9.9.9",
    ),
    "config not UTF-8": (config(b'[identity]\nident = "\xff\xfe"\n'), 1, "not UTF-8 text"),
    "config nested 5000 deep": (config(b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"), 1, "nested too deeply"),
    "foreign SQLite as state": (foreign_state, 1, "not a meter state file (it holds users)"),
    "replay in year 9999": (profile(9999, "serve"), 1, "outside the years 1970-2999"),
    "replay in year 1": (profile(1, "serve"), 1, "outside the years 1970-2999"),
    "demand in year 1": (profile(1, "demand"), 1, "outside the years 1970-2999"),
    "listen port 70000": (args("serve", "--listen", "tcp://127.0.0.1:70000"), 2, "Port out of range 0-65535"),
    "listen port -1": (args("serve", "--listen", "tcp://127.0.0.1:-1"), 2, "Port could not be cast"),
    "listen broken IPv6": (args("serve", "--listen", "tcp://[::1:2100"), 2, "Invalid IPv6 URL"),
    "headend port 70000": (
        args("serve", "--state", "{tmp}/s.db", "--headend", "mqtt://127.0.0.1:70000/t"),
        2,
        "Port out of range",
    ),
    "headend broken IPv6": (
        args("serve", "--state", "{tmp}/s.db", "--headend", "mqtt://[::1:1883/t"),
        2,
        "Invalid IPv6 URL",
    ),
    "control port 70000": (args("serve", "--control", "tcp://127.0.0.1:70000"), 2, "--control"),
    "control broken IPv6": (args("serve", "--control", "tcp://[::1:2101"), 2, "--control"),
    "control client port -1": (args("control", "tcp://127.0.0.1:-1", "button"), 2, "tcp://127.0.0.1:-1"),
    "read port 65536": (args("read", "socket://127.0.0.1:65536"), 2, "65536"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_an_exit_code(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, code, says = CASES[case]
    argv = make(tmp_path)
    assert main(argv) == code
    out, err = capsys.readouterr()
    assert "listening on" not in out
    assert err.count("\n") == 1, err
    assert err.startswith(f"meterkit {argv[0]}: error: ") and says in err, err


def test_a_client_that_resets_after_sign_on_leaves_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterkit.cli.app", "serve", "--listen", "tcp://127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"/?!\r\n")
            time.sleep(0.05)  # the identification is on its way
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST
        with socket.create_connection(("127.0.0.1", port)) as s:  # the meter still answers
            s.sendall(b"/?!\r\n")
            s.settimeout(10)
            assert s.recv(64).startswith(b"/MKT")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "Traceback" not in err and "ConnectionResetError" not in err
    assert err == "meterkit serve: stopped by SIGTERM; state committed\n"
