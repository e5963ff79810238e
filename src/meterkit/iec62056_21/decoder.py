"""Incremental decoder: bytes in, complete messages (or typed errors) out.

``Decoder(role).feed(data)`` returns a list whose items are messages or :class:`RemoteProtocolError` instances
(the decoder never raises on received bytes).  Rules:

* bytes are masked to 7 bits (the parity bit is line framing; 7E1 read as 8N1 sets bit 7);
* the BCC is the single byte after the ETX/EOT that ends a block, never searched for; a mismatch gives the
  message with ``bcc_ok=False`` in lenient mode (the connection decides: NAK, repeat) and an error in strict mode;
* bytes before a start character (``/``, SOH, STX, ACK, NAK) are skipped and reported once per run;
  NUL bytes (wake-up) are skipped silently;
* buffers are bounded: a message longer than ``max_message`` is dropped and reported;
* feeding byte by byte gives the same items as feeding everything at once, at a cost linear in the bytes fed: the
  search for the end of the message at the head of the buffer resumes where the previous ``feed`` stopped
  (:attr:`Decoder.scanned` counts the bytes examined);
* an STX block holding nothing but ``(text)`` whose text starts with one of ``error_prefixes`` is an
  :class:`ErrorAnswer` (the error message of §6.3.10: no address, no unit, ``ER`` by convention); any other
  STX block without ``!`` is a :class:`DataAnswer`.

The role decides what a message can be: a ``"meter"`` receives requests, option selects, commands, ACK and NAK;
a ``"client"`` receives identifications, readouts, mode D pushes, answers, P0/B0 commands, ACK and NAK.
A lone ACK is ambiguous with an option select (``ACK V Z Y CR LF``); the owning connection sets
:attr:`Decoder.expect_option_ack` while an ``ACK V Z Y`` is possible.
"""

from __future__ import annotations

from typing import Literal

from ..errors import LocalProtocolError, RemoteProtocolError
from .bcc import bcc
from .dataset import parse_datasets
from .messages import (
    Ack,
    AckOptionSelect,
    CommandMessage,
    DataAnswer,
    DataMessage,
    DataSet,
    ErrorAnswer,
    IdentificationMessage,
    Message,
    ModeDMessage,
    Nak,
    RequestMessage,
)

__all__ = ["DecodedItem", "Decoder", "parse_identification"]

DecodedItem = Message | RemoteProtocolError

_SOH, _STX, _ETX, _EOT, _ACK, _NAK = 0x01, 0x02, 0x03, 0x04, 0x06, 0x15
_LINE_LIMIT = 256
#: Strips the parity bit (7E1 read as 8N1).
_MASK7 = bytes(b & 0x7F for b in range(256))


def parse_identification(line: bytes) -> IdentificationMessage:
    """``/XXXZ[\\W]...ident`` (without CR LF) as an :class:`IdentificationMessage`; lenient about lengths."""
    text = line.decode("ascii", "replace")
    if not text.startswith("/") or len(text) < 5:
        raise RemoteProtocolError("identification is shorter than '/XXXZ'", line)
    manufacturer, z, rest = text[1:4], text[4], text[5:]
    enhanced: list[str] = []
    while len(rest) >= 2 and rest[0] == "\\":
        enhanced.append(rest[1])
        rest = rest[2:]
    try:
        return IdentificationMessage(manufacturer=manufacturer, baud_char=z, ident=rest, enhanced=tuple(enhanced))
    except LocalProtocolError as exc:
        raise RemoteProtocolError(f"invalid identification ({exc})", line) from exc


class Decoder:
    """Turns a byte stream into IEC 62056-21 messages for one side of the link."""

    def __init__(
        self,
        role: Literal["client", "meter"],
        *,
        max_message: int | None = None,
        lenient: bool = True,
        error_prefixes: tuple[str, ...] = ("ER", "#"),
    ) -> None:
        self.role = role
        self.max_message = max_message if max_message is not None else (4 << 20 if role == "client" else 4096)
        self.lenient = lenient
        self.error_prefixes = error_prefixes
        #: Bytes examined while looking for message ends (for tests of the linear cost; cheap to keep).
        self.scanned = 0
        #: Where the search for the end of the message at the head of the buffer resumes (mode D: the start of the
        #: first data line not yet looked at; ``_line_scan``: where the search for that line's end resumes).
        self._scan = 0
        self._line_scan = 0
        #: Set by the connection while an ``ACK V Z Y CR LF`` may arrive (meter: after its identification;
        #: client: while waiting for the mode E confirmation).  Otherwise ACK is a single byte.
        self.expect_option_ack = False
        self._buf = bytearray()
        self._skipped = bytearray()
        self._reports: list[RemoteProtocolError] = []
        #: Client role: the identification of a mode D push waiting for its data lines.
        self._pending_ident: IdentificationMessage | None = None
        #: Client role: identifications start a mode D push (blank line, data lines, ``!`` line).
        self.expect_mode_d = False

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buf)

    def reset(self) -> bytes:
        """Drop any partial message (inter-character time-out); returns what was dropped."""
        dropped = bytes(self._buf)
        self._buf.clear()
        self._scan = self._line_scan = 0
        self._pending_ident = None
        return dropped

    def take_leftover(self) -> bytes:
        """Hand the unparsed bytes to another protocol (mode E switch)."""
        rest = bytes(self._buf)
        self._buf.clear()
        self._scan = self._line_scan = 0
        return rest

    def feed(self, data: bytes) -> list[DecodedItem]:
        """Add received bytes; return every complete message and error they finish.

        ``b""`` means the end of the stream: an unfinished message still buffered is dropped and reported.
        """
        if not data:
            return self._end_of_stream()
        self._buf += data.translate(_MASK7)
        out: list[DecodedItem] = []
        while True:
            item = self._next()
            if item is None:
                break
            out.extend(self._reports)  # damaged data sets skipped inside this message (lenient mode)
            self._reports.clear()
            out.append(item)
        if len(self._buf) > self.max_message:
            dropped = self.reset()
            out.append(RemoteProtocolError(f"message longer than {self.max_message} bytes dropped", dropped[:64]))
        return out

    # --- internals ------------------------------------------------------------------------------------

    def _end_of_stream(self) -> list[DecodedItem]:
        out: list[DecodedItem] = []
        noise = self._flush_skipped()
        if noise is not None:
            out.append(noise)
        if self._buf or self._pending_ident is not None:
            dropped = self.reset()
            out.append(RemoteProtocolError("stream ended inside an unfinished message", dropped[:64]))
        return out

    def _flush_skipped(self) -> RemoteProtocolError | None:
        if not self._skipped:
            return None
        err = RemoteProtocolError(f"skipped {len(self._skipped)} bytes of noise", bytes(self._skipped[:64]))
        self._skipped.clear()
        return err

    def _starts(self) -> bytes:
        if self.role == "meter":
            return b"/\x01\x06\x15"
        return b"/\x01\x02\x06\x15"

    def _consume(self, n: int) -> None:
        """Drop ``n`` bytes from the head of the buffer; the next message's end search starts afresh."""
        del self._buf[:n]
        self._scan = self._line_scan = 0

    def _find_end(self, start: int, terminators: bytes) -> int | None:
        """First index >= ``start`` holding one of ``terminators``, resuming the search where the last call for
        the same head message stopped; None (and the position remembered) if there is none yet."""
        buf = self._buf
        pos = max(start, self._scan)
        hits = [i for i in (buf.find(t, pos) for t in terminators) if i >= 0]
        if hits:
            end = min(hits)
            self.scanned += end + 1 - pos
            self._scan = end
            return end
        self.scanned += max(0, len(buf) - pos)
        self._scan = max(pos, len(buf))
        return None

    def _next(self) -> DecodedItem | None:
        buf = self._buf
        if self._pending_ident is not None:
            return self._mode_d_block()
        starts = self._starts()
        # skip noise up to the next start character
        i = 0
        while i < len(buf) and buf[i] not in starts:
            if buf[i] != 0:
                self._skipped.append(buf[i])
            i += 1
        if i:
            self._consume(i)
        if not buf:
            return None
        noise = self._flush_skipped()
        if noise is not None:
            return noise
        first = buf[0]
        if first == ord("/"):
            return self._line_message()
        if first == _ACK:
            return self._ack()
        if first == _NAK:
            self._consume(1)
            return Nak()
        if first == _SOH:
            return self._soh_block()
        return self._stx_block()

    def _line_message(self) -> DecodedItem | None:
        buf = self._buf
        end = self._find_end(0, b"\n")
        if end is None:
            if len(buf) > _LINE_LIMIT:
                dropped = bytes(buf[:_LINE_LIMIT])
                self._consume(1)
                return RemoteProtocolError("'/' line without line end", dropped)
            return None
        raw = bytes(buf[:end])
        self._consume(end + 1)
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if self.role == "meter":
            return self._request(line)
        try:
            ident = parse_identification(line)
        except RemoteProtocolError as exc:
            return exc
        if self.expect_mode_d:
            # mode D: a blank line follows the identification, then data lines without STX/ETX/BCC
            self._pending_ident = ident
            return self._mode_d_block()
        return ident

    def _request(self, line: bytes) -> DecodedItem:
        text = line.decode("ascii", "replace")
        if len(text) < 3 or text[1] not in "?#" or not text.endswith("!"):
            return RemoteProtocolError("malformed request (expected '/?address!')", line)
        try:
            return RequestMessage(address=text[2:-1], start=text[1])
        except LocalProtocolError as exc:
            return RemoteProtocolError(f"malformed request ({exc})", line)

    def _mode_d_block(self) -> DecodedItem | None:
        ident = self._pending_ident
        assert ident is not None
        buf = self._buf
        # the block ends with a line starting with '!' (DSMR adds a CRC after it); self._scan is the start of the
        # first line not yet looked at
        while True:
            pos = self._scan
            resume = max(pos, self._line_scan)
            nl = buf.find(b"\n", resume)
            if nl < 0:
                self.scanned += len(buf) - resume
                self._line_scan = len(buf)  # the next feed looks only at the new bytes
                return None
            self.scanned += nl + 1 - resume
            line = bytes(buf[pos:nl]).rstrip(b"\r")
            if line.startswith(b"!"):
                text = bytes(buf[:pos]).decode("ascii", "replace")
                self._consume(nl + 1)
                self._pending_ident = None
                try:
                    datasets, errors = parse_datasets(text, lenient=self.lenient)
                except RemoteProtocolError as exc:
                    return exc
                self._reports.extend(errors)
                return ModeDMessage(identification=ident, datasets=datasets)
            self._scan = self._line_scan = nl + 1

    def _ack(self) -> DecodedItem | None:
        buf = self._buf
        if not self.expect_option_ack:
            self._consume(1)
            return Ack()
        if len(buf) < 2:
            return None
        if not (0x30 <= buf[1] <= 0x39):
            self._consume(1)
            return Ack()
        end = buf.find(b"\n", 0, 9)
        if end < 0:
            if len(buf) > 8:
                dropped = bytes(buf[:8])
                self._consume(1)
                return RemoteProtocolError("option select without line end", dropped)
            return None
        raw = bytes(buf[: end + 1])
        self._consume(end + 1)
        body = raw[1:].rstrip(b"\r\n")
        if len(body) != 3:
            return RemoteProtocolError("option select must be ACK V Z Y CR LF", raw)
        text = body.decode("ascii", "replace")
        try:
            return AckOptionSelect(protocol=text[0], baud_char=text[1], mode=text[2])
        except LocalProtocolError as exc:
            return RemoteProtocolError(f"malformed option select ({exc})", raw)

    def _block_end(self, start: int) -> int | None:
        """Index of the ETX/EOT ending the block that starts at ``start``; None if incomplete."""
        return self._find_end(start, b"\x03\x04")

    def _soh_block(self) -> DecodedItem | None:
        buf = self._buf
        end = self._block_end(1)
        if end is None or end + 1 >= len(buf):
            return None
        frame = bytes(buf[: end + 2])
        self._consume(end + 2)
        body = frame[1:-1]
        ok = bcc(body) == frame[-1]
        if not ok and not self.lenient:
            return RemoteProtocolError("BCC mismatch", frame)
        if len(body) < 3:
            return RemoteProtocolError("command too short", frame)
        command, ctype = chr(body[0]), chr(body[1])
        partial = body[-1] == _EOT
        try:
            if body[2] == _ETX and len(body) == 3:
                msg = CommandMessage(command=command, command_type=ctype, bcc_ok=ok)
            elif body[2] == _STX:
                text = body[3:-1].decode("ascii")
                datasets, _ = parse_datasets(text, lenient=False)
                if len(datasets) != 1:
                    raise RemoteProtocolError(f"a command carries exactly one data set, got {len(datasets)}", frame)
                msg = CommandMessage(
                    command=command, command_type=ctype, data_set=datasets[0], partial=partial, bcc_ok=ok
                )
            else:
                return RemoteProtocolError("command without STX before its data set", frame)
        except RemoteProtocolError as exc:
            return RemoteProtocolError(str(exc).split(" (bytes:")[0], frame)
        except (LocalProtocolError, UnicodeDecodeError) as exc:
            return RemoteProtocolError(f"malformed command ({exc})", frame)
        return msg

    def _stx_block(self) -> DecodedItem | None:
        buf = self._buf
        end = self._block_end(1)
        if end is None or end + 1 >= len(buf):
            return None
        frame = bytes(buf[: end + 2])
        self._consume(end + 2)
        body = frame[1:-1]
        ok = bcc(body) == frame[-1]
        if not ok and not self.lenient:
            return RemoteProtocolError("BCC mismatch", frame)
        partial = body[-1] == _EOT
        text = body[:-1].decode("ascii", "replace")
        stripped = text.rstrip("\r\n")
        readout = stripped.endswith("!") and not partial
        if readout:
            text = stripped[:-1]
        try:
            datasets, errors = parse_datasets(text, lenient=self.lenient)
        except RemoteProtocolError as exc:
            return RemoteProtocolError(str(exc).split(" (bytes:")[0], frame)
        self._reports.extend(errors)
        if readout:
            return DataMessage(datasets=datasets, bcc_ok=ok)
        error = self._error_text(text, datasets, partial)
        if error is not None:
            return ErrorAnswer(text=error, bcc_ok=ok)
        return DataAnswer(datasets=datasets, partial=partial, bcc_ok=ok)

    def _error_text(self, text: str, datasets: tuple[DataSet, ...], partial: bool) -> str | None:
        """The text of an error message ``(e..e)``: the whole block is one parenthesised value without address or
        unit that starts with an error prefix; None for anything else."""
        if (
            partial
            or not self.error_prefixes
            or len(datasets) != 1
            or not (text.startswith("(") and text.endswith(")"))
        ):
            return None
        ds = datasets[0]
        if ds.address or len(ds.values) != 1 or "*" in text:
            return None
        return ds.value if ds.value.startswith(self.error_prefixes) else None
