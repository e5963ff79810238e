"""A scripted meter on loopback TCP: it answers what a test tells it to, byte for byte (real meters' quirks that our
virtual meter does not have: ignoring NAK, a readout without ETX, pushes, a mode E switch)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Step:
    """Wait until the received bytes contain ``expect`` (``b""``: at once), then send ``reply``; ``close`` ends the
    connection after the reply."""

    expect: bytes
    reply: bytes = b""
    close: bool = False


@dataclass
class Script:
    steps: Sequence[Step]
    #: after the steps, send back whatever arrives (a tiny binary "face" behind mode E)
    echo: bool = False
    received: bytearray = field(default_factory=bytearray)
    connections: int = 0


def _serve(conn: socket.socket, script: Script) -> None:
    seen = bytearray()
    with conn:
        for step in script.steps:
            while step.expect not in seen:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                seen += data
                script.received += data
            if step.expect:
                del seen[: seen.index(step.expect) + len(step.expect)]
            if step.reply:
                conn.sendall(step.reply)
            if step.close:
                return
        conn.settimeout(5.0)
        try:
            while data := conn.recv(65536):
                script.received += data
                if script.echo:
                    conn.sendall(data)
        except OSError:
            return


@contextmanager
def scripted_meter(*steps: Step, echo: bool = False) -> Iterator[tuple[str, Script]]:
    """``(socket://127.0.0.1:PORT, script)``; every connection plays the steps from the start."""
    script = Script(steps, echo=echo)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            script.connections += 1
            threading.Thread(target=_serve, args=(conn, script), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"socket://127.0.0.1:{server.getsockname()[1]}", script
    finally:
        stop.set()
        thread.join(2)
        server.close()
