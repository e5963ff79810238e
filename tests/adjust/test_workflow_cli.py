"""The five-command workflow against a served meter (separate process): show, accuracy, calibrate, accuracy, seal;
then kill -9 and a restart cannot unseal; the adjustment port on a pty."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from meterkit.cli.app import main
from meterkit.transport.adjust_port import AdjustLink, LineBuffer, start_adjust_port

from .benchkit import demo_bench

SERVE = [sys.executable, "-c", "from meterkit.cli.app import main; raise SystemExit(main())", "serve"]


@contextmanager
def served(state: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    proc = subprocess.Popen(
        [
            *SERVE,
            "--state",
            str(state),
            "--listen",
            "tcp://127.0.0.1:0",
            "--control",
            "tcp://127.0.0.1:0",
            "--adjust-port",
            "tcp://127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        found: dict[str, str] = {}
        assert proc.stdout is not None
        while len(found) < 3:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            for prefix, key in (
                ("listening on tcp://", "optical"),
                ("control on ", "control"),
                ("adjustment port on ", "adjust"),
            ):
                if line.startswith(prefix):
                    found[key] = line.strip().removeprefix(prefix)
        found["optical"] = "socket://" + found["optical"]
        yield proc, found
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)


def test_unadjusted_accuracy_calibrate_accuracy_seal_then_kill_9_cannot_unseal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "meter.db"
    with served(state) as (proc, at):
        assert at["adjust"] != at["optical"].removeprefix("socket://")  # a different endpoint from the optical one
        assert main(["adjust", "show", at["adjust"], "--format", "json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["id"]["sealed"] == "no" and shown["corrections"]["L2.igain"] == "1.000000"
        assert main(["adjust", "calibrate", at["adjust"], "--control", at["control"]]) == 0
        assert "verified: worst deviation" in capsys.readouterr().out
        plot = tmp_path / "after.png"
        code = main(
            [
                "adjust",
                "accuracy",
                at["adjust"],
                "--control",
                at["control"],
                "--dwell",
                "1",
                "--format",
                "json",
                "--plot",
                str(plot),
            ]
        )
        report = json.loads(capsys.readouterr().out)
        assert code == 0 and report["passed"] is True and len(report["points"]) == 10
        assert all(abs(p["error_pct"]) < 0.01 for p in report["points"])
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert main(["adjust", "seal", at["adjust"]]) == 2  # no --yes: nothing happens
        assert main(["adjust", "seal", at["adjust"], "--yes"]) == 0
        assert capsys.readouterr().out.startswith("sealed at ")
        assert main(["get", at["optical"], "0.2.0", "0.2.8", "C.2.8", "--format", "json"]) == 0
        legal = {d["address"]: d["values"][0]["value"] for d in json.loads(capsys.readouterr().out)["datasets"]}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with served(state) as (_proc, at):
        assert main(["adjust", "calibrate", at["adjust"], "--control", at["control"]]) == 1
        assert "left manufacturing" in capsys.readouterr().err
        assert main(["get", at["optical"], "0.2.8", "C.2.8", "--format", "json"]) == 0
        again = {d["address"]: d["values"][0]["value"] for d in json.loads(capsys.readouterr().out)["datasets"]}
        assert again == {"0.2.8": legal["0.2.8"], "C.2.8": legal["C.2.8"]}


def test_the_adjustment_port_on_a_pty_answers_line_by_line() -> None:
    bench = demo_bench()

    async def scenario() -> list[str]:
        server = await start_adjust_port(bench.port.handle, "pty")
        path = server.where.removeprefix("pty ")
        try:
            link = AdjustLink(path)
            try:
                return [await asyncio.to_thread(link.request, line) for line in ("id", "set L1 vgain 1.001", "cal")]
            finally:
                link.close()
        finally:
            await server.close()

    replies = asyncio.run(scenario())
    assert replies[0].startswith("ok serial=12345678 fw=")
    assert replies[1].startswith("ok L1.vgain=1.001000 cal=")
    assert "L1.vgain=1.001000" in replies[2]


def test_serve_refuses_an_adjustment_port_that_is_not_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--adjust-port", "tcp://0.0.0.0:2102"]) == 2
    assert "loopback only" in capsys.readouterr().err


def test_lines_are_split_on_newlines_whatever_the_chunks() -> None:
    buf = LineBuffer()
    assert buf.feed(b"id\r") == []
    assert buf.feed(b"\nca") == ["id"]
    assert buf.feed(b"l\nread\n") == ["cal", "read"]


def test_serve_refuses_an_adjustment_port_on_an_optical_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--listen", "tcp://127.0.0.1:2199", "--adjust-port", "tcp://127.0.0.1:2199"])
    assert code == 2
    assert "separate endpoint from every optical one" in capsys.readouterr().err


def test_accuracy_options_are_checked_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adjust", "accuracy", "tcp://127.0.0.1:9", "--class", "3"]) == 2
    assert "--class is one of 1, 2, 0.5S, 0.2S, B, C" in capsys.readouterr().err
    assert main(["adjust", "accuracy", "tcp://127.0.0.1:9", "--format", "xml"]) == 2


def test_an_unreachable_adjustment_port_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adjust", "show", "tcp://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("meterkit adjust show: error: cannot reach the adjustment port tcp://127.0.0.1:9")
    assert len(err.strip().splitlines()) == 1
