"""Fleet history and collector rates, measured in one run.

1. History: ``examples/fleet-1000.toml`` simulated for ``--days`` (default 31) with :func:`simulate_fleet`
   (vectorised across meters, minute resolution): wall time, simulated meter-seconds per wall second, and the same
   minutes for a few meters replayed interval by interval through the single meter (:meth:`Meter.add_interval`)
   for the ratio.
2. Collector: ``--served`` meters (fleet configurations, ``--served-days`` of history each) served on one TCP port
   each over loopback, no baud emulation; ``meterkit poll``'s collector reads them all once (one meter at a time per
   port, ports in parallel): meters per second, seconds per meter, and the computed wire-time limit of one read at
   9600 Bd (sign-on, identification and option select at 300 Bd, the rest at 9600 Bd, 10 bits a character, plus
   the minimum reaction time t_r = 200 ms before every answer and before every HHU message).
3. Serving: ``meterkit serve --fleet`` (``--serve-meters`` of the example, default all 1,000, ``--serve-days`` of
   history, default 31) as a process with its fleet store in a temporary file; start-up time to ``listening on``,
   the process's RSS per meter (and the marginal RSS per meter against a 1-meter fleet with the same history); then
   ``meterkit poll`` (a process, ``--per-endpoint`` connections to the one multi-drop endpoint) reads every meter
   once, registers and the whole ``P.01``, while this process signs on to random meters and times the answer
   (request sent to identification received): readouts per second, p50/p99/max answer time against t_r <= 1.5 s.

Usage: python benchmarks/bench_fleet.py [--days D] [--meters N] [--served N] [--served-days D]
       [--serve-meters N] [--serve-days D] [--per-endpoint N] [--only serving]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from meterkit.clock import SimulatedClock
from meterkit.collector import Collector, Credentials, PollSettings, ProfileStore, Target
from meterkit.fleet.config import load_fleet
from meterkit.fleet.history import fleet_load, simulate_fleet
from meterkit.meter.core import Meter
from meterkit.meter.sources import ReplayInterval
from meterkit.meter.virtual import VirtualMeter
from meterkit.transport.server import start_server

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fleet-1000.toml"
START = datetime(2026, 11, 1, tzinfo=UTC)
T_R = 0.200


def history(days: float, meters: int) -> None:
    fleet = load_fleet(EXAMPLE)
    specs = fleet.meters()[:meters]
    span = timedelta(days=days)
    t0 = time.perf_counter()
    count = 0
    held = 0
    for h in simulate_fleet(fleet, span, start=START, specs=specs):
        count += 1
        held += h.nbytes
    wall = time.perf_counter() - t0
    meter_s = count * span.total_seconds()
    print(f"history: {count} meters x {days:g} days in {wall:.1f} s wall")
    print(
        f"  {meter_s / wall:,.0f} simulated meter-seconds per wall s; load profile held: {held / count / 1024:.0f} KiB per meter"
    )
    # the same minutes through the single-meter replay path, a few meters
    sample = specs[:3]
    t0 = time.perf_counter()
    for spec in sample:
        load = fleet_load(fleet, spec, START, span)
        cfg = spec.meter_config()
        meter = Meter(cfg, now=START)
        end = START
        step = timedelta(seconds=load.step_s)
        for ap, am in zip(load.a_plus[0].tolist(), load.a_minus[0].tolist(), strict=True):
            end += step
            meter.add_interval(end, ap, pf=cfg.source.replay_pf, a_minus_mwh=am)
    single = (time.perf_counter() - t0) / len(sample)
    print(
        f"  single-meter replay of the same minutes: {single:.2f} s per meter, so {single * count:.0f} s for the fleet"
    )
    print(f"  vectorised / single-meter speed-up: {single * count / wall:.0f}x")
    print(f"  peak RSS of this process so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def wire_limit(sent: int, received: int, messages: int, address: str) -> float:
    """Seconds one read needs on a 9600 Bd line (see the module docstring)."""
    slow = len(f"/?{address}!\r\n") + len("/MKT5VM3PH-100\r\n") + 6  # request, identification, option select
    fast = sent + received - slow
    return slow * 10 / 300 + fast * 10 / 9600 + 2 * messages * T_R


async def collect(served: int, days: float) -> None:
    fleet = load_fleet(EXAMPLE)
    specs = fleet.meters()[:served]
    span = timedelta(days=days)
    meters = []
    for spec in specs:
        cfg = spec.meter_config()
        vm = VirtualMeter(cfg, clock=SimulatedClock(START), start=START, follow_clock=False)
        load = fleet_load(fleet, spec, START, span)
        step = timedelta(seconds=load.step_s)
        vm.replay_intervals(
            ReplayInterval(end=START + step * (i + 1), a_plus_mwh=int(e)) for i, e in enumerate(load.a_plus[0])
        )
        meters.append(vm)
    handles = [await start_server(vm, ["tcp://127.0.0.1:0"]) for vm in meters]
    try:
        targets = [
            Target(
                "socket://" + h.endpoints[0].removeprefix("tcp://"),
                vm.config.identity.serial,
                Credentials.password("20261125"),
            )
            for h, vm in zip(handles, meters, strict=True)
        ]
        with tempfile.TemporaryDirectory() as tmp:
            collector = Collector(targets, ProfileStore(Path(tmp)), PollSettings(timeout_s=120, retries=0))
            t0 = time.perf_counter()
            summary = await collector.run_once()
            wall = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = await collector.run_once()  # a schedule's next poll: nothing new since the last
            wall_again = time.perf_counter() - t0
            # one port alone: the rate of a multi-drop bus (one meter at a time); the P.01 is already stored,
            # so read the whole profile again into a fresh folder
        with tempfile.TemporaryDirectory() as tmp:
            store = ProfileStore(Path(tmp))
            t1 = time.perf_counter()
            for t in targets[:3]:
                await Collector([t], store, PollSettings(timeout_s=120, retries=0)).run_once()
            per_meter = (time.perf_counter() - t1) / 3
    finally:
        for h in handles:
            await h.close()
    ok = [r for r in summary.results if r.ok]
    print(
        f"collector: {len(ok)}/{served} meters ({days:g} days of 15-min P.01 each, {summary.intervals} intervals) in {wall:.1f} s"
    )
    print(
        f"  {len(ok) / wall:.2f} meters/s over {served} ports in parallel; one meter at a time (a bus): {per_meter:.2f} s per meter"
    )
    limits = [wire_limit(*r.traffic, r.address) for r in ok]
    avg_limit = sum(limits) / len(limits)
    traffic = [r.traffic for r in ok]
    print(
        f"  per read: {sum(t[0] for t in traffic) / len(ok):.0f} bytes sent, {sum(t[1] for t in traffic) / len(ok):.0f} received, "
        f"{sum(t[2] for t in traffic) / len(ok):.0f} HHU messages"
    )
    print(
        f"  computed 9600 Bd wire time per read: {avg_limit:.2f} s, so {1 / avg_limit:.2f} meters/s on one bus; "
        f"loopback (one at a time) / wire limit = {per_meter / avg_limit:.2f}"
    )
    ok2 = [r for r in again.results if r.ok]
    steady = sum(wire_limit(*r.traffic, r.address) for r in ok2) / len(ok2)
    print(
        f"  next poll (nothing new): {len(ok2) / wall_again:.2f} meters/s over {served} ports, "
        f"{sum(r.traffic[1] for r in ok2) / len(ok2):.0f} bytes received per read; 9600 Bd wire time {steady:.2f} s per read"
    )


CLI = [sys.executable, "-c", "from meterkit.cli.app import main; raise SystemExit(main())"]


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def _serve(fleet: Path, days: float, state: Path) -> tuple[subprocess.Popen[str], str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--fleet",
            str(fleet),
            "--history",
            f"{int(days * 1440)}m",
            "--state",
            str(state),
            "--listen",
            "tcp://127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on tcp://"):
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    return proc, line.split("tcp://", 1)[1].strip(), time.perf_counter() - t0


def _probe(address: str, where: tuple[str, int]) -> float:
    """Seconds from the sign-on request to the whole identification line."""
    with socket.create_connection(where, timeout=10) as sock:
        t0 = time.perf_counter()
        sock.sendall(f"/?{address}!\r\n".encode())
        got = b""
        while not got.endswith(b"\r\n"):
            part = sock.recv(64)
            if not part:
                break
            got += part
        return time.perf_counter() - t0


def serving(meters: int, days: float, per_endpoint: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        text = EXAMPLE.read_text()
        (root / "fleet.toml").write_text(text.replace("count = 1000", f"count = {meters}"))
        (root / "one.toml").write_text(text.replace("count = 1000", "count = 1"))
        one, _, _ = _serve(root / "one.toml", days, root / "one.db")
        base = _rss_kib(one.pid)
        one.terminate()
        one.wait()
        proc, endpoint, startup = _serve(root / "fleet.toml", days, root / "fleet.db")
        try:
            rss = _rss_kib(proc.pid)
            print(f"serving: {meters} meters x {days:g} days of history, listening after {startup:.1f} s")
            print(
                f"  RSS {rss / 1024:.0f} MiB: {rss / meters:.0f} KiB per meter; marginal against a 1-meter fleet "
                f"({base / 1024:.0f} MiB): {(rss - base) / max(1, meters - 1):.0f} KiB per meter"
            )
            (root / "pw.txt").write_text("20261125\n")
            runs = [
                ("first poll, the whole P.01", _poll_with_probes(root, endpoint, meters, per_endpoint)),
                ("next poll, nothing new", _poll_with_probes(root, endpoint, meters, per_endpoint)),
            ]
            rss_after = _rss_kib(proc.pid)
        finally:
            proc.terminate()
            proc.wait()
    for name, (summary, read, wall, answers, failed) in runs:
        answers.sort()
        p = lambda q: answers[min(len(answers) - 1, int(q * len(answers)))]  # noqa: E731,B023
        print(
            f"  {name} (meterkit poll --per-endpoint {per_endpoint}, one multi-drop endpoint): {summary} in {wall:.1f} s"
        )
        print(f"    {read / wall:.2f} readouts/s (registers 1.8.0 and 1.6.0 and P.01 since the last stored interval)")
        print(
            f"    answer time of {len(answers)} sign-ons to random meters meanwhile: p50 {p(0.5):.3f} s, "
            f"p99 {p(0.99):.3f} s, max {answers[-1]:.3f} s (over t_r 1.5 s: {sum(a > 1.5 for a in answers)}; "
            f"failed connections: {failed})"
        )
    print(f"  RSS after the polls: {rss_after / 1024:.0f} MiB ({rss_after / meters:.0f} KiB per meter)")
    print(f"  (an answer waits at least the minimum reaction time t_r = {T_R} s)")


def _poll_with_probes(
    root: Path, endpoint: str, meters: int, per_endpoint: int
) -> tuple[str, int, float, list[float], int]:
    host, port = endpoint.split(":")
    last = 10000000 + meters - 1
    t0 = time.perf_counter()
    poll = subprocess.Popen(
        [
            *CLI,
            "poll",
            f"socket://{endpoint}",
            "--addresses",
            f"10000000-{last}",
            "--password-file",
            str(root / "pw.txt"),
            "--out",
            str(root / "data"),
            "--once",
            "--per-endpoint",
            str(per_endpoint),
            "--register",
            "1.8.0",
            "--register",
            "1.6.0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    answers: list[float] = []
    failed = 0

    def probes() -> None:
        nonlocal failed
        rng = random.Random(1)
        while poll.poll() is None:
            try:
                answers.append(_probe(str(rng.randint(10000000, last)), (host, int(port))))
            except OSError:
                failed += 1
            time.sleep(0.05)

    prober = threading.Thread(target=probes)
    prober.start()
    _, err = poll.communicate()
    wall = time.perf_counter() - t0
    prober.join()
    summary = next((line for line in err.splitlines() if line.startswith("meters read")), err.strip()[-200:])
    reasons = sorted({line.split(": ", 1)[-1] for line in err.splitlines() if line.startswith("failed ")})
    if reasons:
        summary += " (failures: " + "; ".join(reasons[:3]) + ")"
    read = int(summary.split("meters read: ")[1].split(",")[0]) if "meters read: " in summary else 0
    return summary, read, wall, answers or [float("nan")], failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=31.0)
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--served", type=int, default=20)
    ap.add_argument("--served-days", type=float, default=2.0)
    ap.add_argument("--serve-meters", type=int, default=1000)
    ap.add_argument("--serve-days", type=float, default=31.0)
    ap.add_argument("--per-endpoint", type=int, default=32)
    ap.add_argument("--only", choices=["history", "collector", "serving"])
    args = ap.parse_args()
    if args.only in (None, "history"):
        history(args.days, args.meters)
    if args.only in (None, "collector"):
        asyncio.run(collect(args.served, args.served_days))
    if args.only in (None, "serving"):
        serving(args.serve_meters, args.serve_days, args.per_endpoint)


if __name__ == "__main__":
    main()
