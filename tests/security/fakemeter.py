"""A scripted fake meter on a loopback socket: it says what the test wants and records every byte a hand-held sends."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType

from meterkit.iec62056_21.messages import (
    ETX,
    CommandMessage,
    DataAnswer,
    DataMessage,
    DataSet,
    IdentificationMessage,
)
from meterkit.security.challenge import operand_text

CHALLENGE = bytes.fromhex("01000000070123456789ABCDEF012345")


def op2_operand(serial: str = "12345678", challenge: bytes = CHALLENGE) -> str:
    """An OP2-HMAC P0 value (key versions 1 and 1)."""
    return operand_text(challenge, {2: 1, 3: 1}, serial)


class FakeMeter:
    """Answers one connection at a time: the identification ``ident``; then in mode C (``ident.baud_char`` a digit)
    the P0 ``operand`` after the option select; in mode B (a letter) a data readout straight away.  Every P1/P2 gets
    an ACK and every R1 the data set ``1.8.0(000001.000*kWh)``, so a hand-held that gives its secret away does so on
    the wire, where ``received`` holds it.  ``on_sign_on`` runs when the sign-on request arrives."""

    def __init__(
        self,
        ident: IdentificationMessage,
        operand: str = "",
        *,
        on_sign_on: Callable[[], None] | None = None,
    ) -> None:
        self.ident = ident
        self.operand = operand
        self.on_sign_on = on_sign_on
        self.received = b""
        self.commands: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"socket://{host}:{port}"

    def __enter__(self) -> FakeMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.2)
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        buf, stage = b"", "sign-on"
        mode_c = self.ident.baud_char.isdigit()
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            if not data:
                return
            self.received += data
            buf += data
            if stage == "sign-on" and buf.endswith(b"!\r\n"):
                if self.on_sign_on is not None:
                    self.on_sign_on()
                conn.sendall(self.ident.to_bytes())
                if mode_c:
                    stage = "option"
                else:
                    conn.sendall(DataMessage(datasets=(DataSet.single("1.8.0", "000001.000", "kWh"),)).to_bytes())
                    stage = "commands"
                buf = b""
            elif stage == "option" and buf.startswith(b"\x06") and buf.endswith(b"\r\n"):
                p0 = CommandMessage(command="P", command_type="0", data_set=DataSet.single("", self.operand))
                conn.sendall(p0.to_bytes())
                stage, buf = "commands", b""
            elif stage == "commands":
                while ETX in buf and len(buf) > buf.index(ETX) + 1:
                    end = buf.index(ETX) + 2
                    frame, buf = buf[:end], buf[end:]
                    self.commands.append(frame)
                    code = frame[1:3]
                    if code in (b"P1", b"P2"):
                        conn.sendall(b"\x06")
                    elif code == b"R1":
                        answer = DataAnswer(datasets=(DataSet.single("1.8.0", "000001.000", "kWh"),))
                        conn.sendall(answer.to_bytes())
                    elif code.startswith(b"B"):
                        return
