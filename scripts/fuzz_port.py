"""Byte-level fuzzer of the served meter (``make fuzz``): the demo meter on a TCP socket and a pty, fed at least
10**6 generated inputs (valid frames, mutated frames, noise, parity-bit bytes, split and joined writes).

Checks: no exception escapes a session (every failure the server logs is a finding), no level above 1 is reached
without a secret (no ``AUTH_OK``/``WRITE_OK`` in the security log, no level-2 register in an answer), and both
endpoints still answer a sign-on after every batch and at the end.  Bounded: ``--inputs`` and ``--seconds``.

The harness serves the meter with a reaction time of zero and without the uniform 1 s delay after a failed
authentication (:class:`Quick`; everything else as served), so a million inputs take minutes, not days.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import select
import socket
import sys
import threading
import time
import tty
from dataclasses import replace

from meterkit.iec62056_21.application import MeterPortSession, SessionReply
from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.events import MeterEvent
from meterkit.iec62056_21.meter import MeterPortConfig
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.transport.server import ConnectionLimits, start_server

SIGN_ON = b"/?!\r\n"
ADDRESSES = ["1.8.0", "0.9.1", "0.9.2", "C.60.1", "P.98", "P.99", "F.F", "1.6.0", "RELAY.CONNECT", "KEY.L3", "X" * 40]
LEVEL_2_ONLY = [b"1.6.0(", b"P.99("]


class Quick:
    """The virtual meter as served, answering at once: no reaction time, no settling delay after a baud switch, no
    uniform delay after a failed authentication (the delays are the only difference)."""

    def __init__(self, vm: VirtualMeter) -> None:
        self.vm = vm

    def port_config(self) -> MeterPortConfig:
        return replace(self.vm.port_config(), reaction_time=0.0, post_switch_delay=0.0)

    def open_session(self) -> MeterPortSession:
        return QuickSession(self.vm.open_session())


class QuickSession:
    def __init__(self, session: MeterPortSession) -> None:
        self.session = session

    def handle(self, event: MeterEvent) -> SessionReply:
        return replace(self.session.handle(event), delay=0.0)

    def close(self, reason: str) -> None:
        self.session.close(reason)


def frame(code: bytes, body: bytes) -> bytes:
    block = code + b"\x02" + body + b"\x03"
    return b"\x01" + block + bytes([bcc(block)])


def generate(rng: random.Random) -> bytes:
    """One input: a protocol message, a mutation of one, or noise."""
    pick = rng.random()
    if pick < 0.15:
        return rng.choice([SIGN_ON, b"/?12345!\r\n", b"\x06051\r\n", b"\x06050\r\n", b"\x06252\r\n", b"\x06\x15"])
    code = rng.choice([b"R1", b"R5", b"W1", b"E2", b"P1", b"P2", b"B0", b"B1", b"R2", b"W5"])
    address = rng.choice(ADDRESSES).encode()
    value = bytes(rng.choice(b"0123456789ABCDEF;-:. ()") for _ in range(rng.randrange(0, 40)))
    message = frame(code, address + b"(" + value + b")")
    if pick < 0.55:
        return message
    data = bytearray(message)
    if pick < 0.8:
        for _ in range(rng.randrange(1, 4)):  # bit flips, parity bits included
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        return bytes(data[: rng.randrange(1, len(data) + 1)])
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))


class PtyStalled(Exception):
    """The meter no longer reads the pty (its port is dead)."""


class Drain(threading.Thread):
    """Reads what the meter sends on one descriptor and keeps the tail for the checks."""

    def __init__(self, read: object, fileno: int) -> None:
        super().__init__(daemon=True)
        self.read, self.fileno = read, fileno
        self.got = bytearray()
        self.total = 0
        self.stop = False
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop:
            ready, _, _ = select.select([self.fileno], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = self.read()  # type: ignore[operator]
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.total += len(chunk)
                self.got += chunk
                del self.got[:-65536]

    def take(self) -> bytes:
        with self.lock:
            data = bytes(self.got)
            self.got.clear()
            return data


def signs_on(write: object, drain: Drain, timeout: float = 10.0) -> bool:
    """Once the meter has gone quiet (answers to earlier inputs are out), a break, then a sign-on: the
    identification comes back within ``timeout`` seconds."""
    quiet_since, seen = time.monotonic(), drain.total
    end = time.monotonic() + 60
    while time.monotonic() - quiet_since < 0.5 and time.monotonic() < end:
        time.sleep(0.05)
        if drain.total != seen:
            quiet_since, seen = time.monotonic(), drain.total
    drain.take()
    write(frame(b"B0", b"") + b"\r\n" * 2 + SIGN_ON)  # type: ignore[operator]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if b"/MKT" in drain.got:
            return True
        time.sleep(0.01)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--batch", type=int, default=20_000, help="inputs between two liveness checks")
    args = parser.parse_args(argv)

    failures: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                failures.append(record.getMessage())

    logging.getLogger("meterkit").addHandler(Collect())
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    vm = VirtualMeter(load_config(text=text), follow_clock=False)

    loop = asyncio.new_event_loop()
    box: dict[str, object] = {}
    ready = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        handle = await start_server(
            Quick(vm),
            ["tcp://127.0.0.1:0", "pty"],
            limits=ConnectionLimits(max_connections=8, idle_timeout=1e9),
        )
        box["endpoints"] = handle.endpoints
        ready.set()
        await stop.wait()
        await handle.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(10)
    endpoints: list[str] = box["endpoints"]  # type: ignore[assignment]
    host, port = next(e for e in endpoints if e.startswith("tcp://")).removeprefix("tcp://").rsplit(":", 1)
    pty_path = next(e for e in endpoints if e.startswith("pty ")).split(" ", 1)[1]
    pty_fd = os.open(pty_path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(pty_fd)
    pty_drain = Drain(lambda: os.read(pty_fd, 4096), pty_fd)
    pty_drain.start()

    os.set_blocking(pty_fd, False)

    def pty_write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            _, writable, _ = select.select([], [pty_fd], [], 10.0)
            if not writable:  # the meter stopped reading its port: a finding
                raise PtyStalled
            try:
                view = view[os.write(pty_fd, view) :]
            except BlockingIOError:
                continue

    rng = random.Random(args.seed)
    started = time.monotonic()
    sent = 0
    dead: list[str] = []
    leaked: list[bytes] = []
    tcp_checks = pty_checks = 0
    pty_dead = False
    answered = 0
    while sent < args.inputs and time.monotonic() - started < args.seconds:
        sock = socket.create_connection((host, int(port)), timeout=10)
        tcp_drain = Drain(lambda s=sock: s.recv(4096), sock.fileno())
        tcp_drain.start()
        for i in range(args.batch):
            data = generate(rng)
            try:
                (sock.sendall if i % 2 == 0 or pty_dead else pty_write)(data)
            except PtyStalled:
                dead.append(f"pty stopped reading after {sent} inputs")
                pty_dead = True
            except OSError:  # the meter closed the TCP connection: a finding (it never closes one for bytes)
                dead.append(f"tcp connection closed after {sent} inputs")
                break
            sent += 1
        for drain in (tcp_drain, pty_drain):
            tail = drain.take()
            leaked += [marker for marker in LEVEL_2_ONLY if marker in tail]
        try:
            if not signs_on(sock.sendall, tcp_drain):
                dead.append(f"tcp after {sent} inputs")
        except OSError:
            dead.append(f"tcp connection closed after {sent} inputs")
        tcp_checks += 1
        try:
            if not pty_dead and not signs_on(pty_write, pty_drain):
                dead.append(f"pty after {sent} inputs")
                pty_dead = True
        except PtyStalled:
            dead.append(f"pty stopped reading after {sent} inputs")
            pty_dead = True
        pty_checks += 1
        tcp_drain.stop = True
        answered += tcp_drain.total
        sock.close()
    elapsed = time.monotonic() - started
    # a fresh connection at the end
    sock = socket.create_connection((host, int(port)), timeout=10)
    final = Drain(lambda: sock.recv(4096), sock.fileno())
    final.start()
    if not signs_on(sock.sendall, final):
        dead.append("tcp at the end")
    sock.close()
    kinds = [e.kind for e in vm.security.log_entries()]
    granted = [k for k in kinds if k in ("AUTH_OK", "WRITE_OK", "KEY_CHANGED")]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    os.close(pty_fd)
    print(f"inputs sent:            {sent} in {elapsed:.0f} s ({sent / max(elapsed, 1e-9):.0f}/s), seed {args.seed}")
    print(f"bytes answered:         {answered} tcp, {pty_drain.total} pty")
    print(f"liveness checks:        {tcp_checks} tcp, {pty_checks} pty")
    print(f"stopped answering:      {len(dead)} {dead[:3]}")
    print(f"failures logged:        {len(failures)} {failures[:3]}")
    print(f"levels above 1 reached: {granted.count('AUTH_OK')} (writes {granted.count('WRITE_OK')})")
    print(f"level-2 data answered:  {len(leaked)}")
    print(f"security log entries:   {len(kinds)} ({', '.join(sorted(set(kinds)))})")
    return 1 if dead or failures or granted or leaked else 0


if __name__ == "__main__":
    sys.exit(main())
