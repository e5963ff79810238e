"""Incremental decoder: bytes in, complete messages (or typed errors) out.

``Decoder(role).feed(data)`` returns a list whose items are messages or :class:`RemoteProtocolError` instances
(the decoder never raises on received bytes).  Rules:

* bytes are masked to 7 bits (the parity bit is line framing; 7E1 read as 8N1 sets bit 7);
* the BCC is the single byte after the ETX/EOT that ends a block, never searched for; a mismatch gives the
  message with ``bcc_ok=False`` in lenient mode (the connection decides: NAK, repeat) and an error in strict mode;
* bytes before a start character (``/``, SOH, STX, ACK, NAK) are skipped and reported once per run (the report
  keeps the first 64 bytes and the count; a run is also reported every ``noise_report_every`` bytes, so a flood that
  never ends is reported as it goes); NUL bytes (wake-up) are skipped silently;
* a ``/`` line must end (LF) within 256 bytes, else its ``/`` counts as noise and the bytes after it are decoded
  again, so a message inside a long garbage line is found;
* buffers are bounded: a message that cannot end within ``max_message`` bytes is reported and those
  ``max_message + 1`` bytes are dropped (the buffer never holds more);
* feeding byte by byte gives the same items as feeding everything at once (every rule above is decided at a byte
  position, never at a chunk boundary), at a cost linear in the bytes fed: the
  search for the end of the message at the head of the buffer resumes where the previous ``feed`` stopped
  (:attr:`Decoder.scanned` counts the bytes examined);
* an STX block holding nothing but ``(text)`` whose text starts with one of ``error_prefixes`` is an
  :class:`ErrorAnswer` (the error message of §6.3.10: no address, no unit, ``ER`` by convention); any other
  STX block without ``!`` is a :class:`DataAnswer`.

* mode D (``expect_mode_d``): an identification starts a push that ends with a ``!`` line; what follows ``!`` is
  the telegram's check (DSMR P1: a CRC16, verified: ``ModeDMessage.crc_ok``); :meth:`Decoder.salvage` gives the
  complete data sets of a readout block that stopped without ETX/BCC;
* client role: after the mode E confirmation ``ACK 2 Z 2`` nothing more is decoded; the rest (with its 8th bit)
  waits for :meth:`Decoder.take_leftover`.

The role decides what a message can be: a ``"meter"`` receives requests, option selects, commands, ACK and NAK;
a ``"client"`` receives identifications, readouts, mode D pushes, answers, P0/B0 commands, ACK and NAK.
A lone ACK is ambiguous with an option select (``ACK V Z Y CR LF``); the owning connection sets
:attr:`Decoder.expect_option_ack` (through :meth:`Decoder.expect`) while an ``ACK V Z Y`` is possible.
"""

from __future__ import annotations

import re
from typing import Literal

from ..errors import LocalProtocolError, RemoteProtocolError
from .bcc import bcc, crc16
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


class _Skip:
    """Marker: the start character at the head of the buffer begins no message (counted as noise)."""


_SKIP = _Skip()
_STARTS = {"client": re.compile(rb"[/\x01\x02\x06\x15]"), "meter": re.compile(rb"[/\x01\x06\x15]")}
#: A run of noise is reported at the latest after this many bytes (a flood never ends its run).
NOISE_REPORT_EVERY = 1 << 16
_HEAD_KEPT = 64


class Decoder:
    """Turns a byte stream into IEC 62056-21 messages for one side of the link."""

    def __init__(
        self,
        role: Literal["client", "meter"],
        *,
        max_message: int | None = None,
        lenient: bool = True,
        error_prefixes: tuple[str, ...] = ("ER", "#"),
        noise_report_every: int = NOISE_REPORT_EVERY,
    ) -> None:
        self.role = role
        self.max_message = max_message if max_message is not None else (4 << 20 if role == "client" else 4096)
        if self.max_message < 16 or noise_report_every < 1:
            raise LocalProtocolError("max_message must be at least 16 and noise_report_every positive")
        self.lenient = lenient
        self.error_prefixes = error_prefixes
        self.noise_report_every = noise_report_every
        #: Bytes examined while looking for message ends (for tests of the linear cost; cheap to keep).
        self.scanned = 0
        #: Noise bytes skipped so far (NULs included), for callers that account for what they discard.
        self.skipped_total = 0
        #: Where the search for the end of the message at the head of the buffer resumes (mode D: the start of the
        #: first data line not yet looked at; ``_line_scan``: where the search for that line's end resumes).
        self._scan = 0
        self._line_scan = 0
        #: The head of the buffer is known to hold no LF before this index (kept across a dropped '/').
        self._lf_free = 0
        #: Set by the connection while an ``ACK V Z Y CR LF`` may arrive (meter: after its identification;
        #: client: while waiting for the mode E confirmation).  Otherwise ACK is a single byte.
        self.expect_option_ack = False
        self._buf = bytearray()
        self._start_re = _STARTS[role]
        #: The current run of noise: its first bytes (NULs left out), how many non-NUL bytes, how many in all.
        self._skipped = bytearray()
        self._skipped_count = 0
        self._noise_run = 0
        self._reports: list[RemoteProtocolError] = []
        #: Client role: the identification of a mode D push waiting for its data lines.
        self._pending_ident: IdentificationMessage | None = None
        self._pending_raw = b""
        #: Client role: a mode E confirmation ``ACK 2 Z 2`` arrived; what follows is binary and waits, undecoded,
        #: for :meth:`take_leftover`.
        self._binary = False
        #: Client role: identifications start a mode D push (blank line, data lines, ``!`` line).
        self.expect_mode_d = False

    def expect(self, *, option_ack: bool | None = None, mode_d: bool | None = None) -> None:
        """Tell the decoder what the owning connection's state allows: an ``ACK V Z Y`` (``option_ack``) and mode D
        pushes (``mode_d``); ``None`` leaves a setting as it is."""
        if option_ack is not None:
            self.expect_option_ack = option_ack
        if mode_d is not None:
            self.expect_mode_d = mode_d

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete message (never more than ``max_message``)."""
        return len(self._buf)

    def reset(self) -> bytes:
        """Drop any partial message (inter-character time-out); returns what was dropped."""
        dropped = bytes(self._buf)
        self._buf.clear()
        self._scan = self._line_scan = self._lf_free = 0
        self._pending_ident = None
        return dropped

    def take_leftover(self) -> bytes:
        """Hand the unparsed bytes to another protocol (mode E switch); decoding resumes for later bytes."""
        rest = bytes(self._buf)
        self._buf.clear()
        self._binary = False
        self._scan = self._line_scan = self._lf_free = 0
        return rest

    def salvage(self) -> tuple[tuple[DataSet, ...], list[RemoteProtocolError], bool] | None:
        """A readout block that stopped without ETX/BCC: its data sets on complete lines, the damaged ones reported,
        and whether its ``!`` end line arrived; the buffer is emptied.  None if no STX block is buffered."""
        buf = self._buf
        if not buf or buf[0] != _STX:
            return None
        body = bytes(buf[1:])
        self.reset()
        cut = max(body.rfind(b"\n"), body.rfind(b"\r"))
        complete, tail = body[: cut + 1], body[cut + 1 :]
        lines = complete.replace(b"\r", b"\n").split(b"\n")
        ended = tail.strip() == b"!" or any(line.strip() == b"!" for line in lines)
        kept = []
        for line in lines:
            if line.strip() == b"!":
                break
            kept.append(line)
        datasets, errors = parse_datasets(b"\n".join(kept).decode("ascii", "replace"), lenient=True)
        return datasets, errors, ended

    def feed(self, data: bytes) -> list[DecodedItem]:
        """Add received bytes; return every complete message and error they finish.

        ``b""`` means the end of the stream: an unfinished message still buffered is dropped and reported.
        """
        if not data:
            return self._end_of_stream()
        if self._binary:  # 8-bit binary bytes after a mode E switch: kept as they came, not decoded
            self._buf += data
            if len(self._buf) > self.max_message:  # nobody took them over: bounded all the same
                self._binary = False
                return [self._too_long()]
            return []
        self._buf += data.translate(_MASK7)
        out: list[DecodedItem] = []
        while self._step(out):
            pass
        if self._binary and 0 < len(self._buf) <= len(data):
            # what follows the confirmation came in this chunk: hand it over with its 8th bit, not masked
            self._buf[:] = data[len(data) - len(self._buf) :]
        return out

    # --- internals ------------------------------------------------------------------------------------

    def _step(self, out: list[DecodedItem]) -> bool:
        """Decode what the head of the buffer allows; False when more bytes are needed."""
        item: DecodedItem | _Skip | None
        if self._pending_ident is not None:
            item = self._mode_d_block()
        else:
            report = self._skip_noise()
            if report is not None:
                out.append(report)
                return True
            if not self._buf:
                return False
            first = self._buf[0]
            if first != ord("/") and not (first == _ACK and self.expect_option_ack):
                # this start character surely begins a message (or an error): the noise run before it ends here
                noise = self._flush_skipped()
                if noise is not None:
                    out.append(noise)
            item = self._head()
        if item is None:
            return False
        if isinstance(item, _Skip):
            report = self._add_noise(1)
            if report is not None:
                out.append(report)
            return True
        noise = self._flush_skipped()
        if noise is not None:
            out.append(noise)
        out.extend(self._reports)  # damaged data sets skipped inside this message (lenient mode)
        self._reports.clear()
        out.append(item)
        if self.role == "client" and isinstance(item, AckOptionSelect) and (item.protocol, item.mode) == ("2", "2"):
            self._binary = True  # the mode E confirmation: the rest of the stream belongs to the binary protocol
            return False
        return True

    def _skip_noise(self) -> RemoteProtocolError | None:
        """Drop the bytes before the next start character (a report once a long run reaches the report size)."""
        m = self._start_re.search(self._buf)
        n = m.start() if m is not None else len(self._buf)
        while n:
            step = min(n, self.noise_report_every - self._noise_run)
            report = self._add_noise(step)
            n -= step
            if report is not None:
                return report
        return None

    def _add_noise(self, n: int) -> RemoteProtocolError | None:
        """Count the first ``n`` buffered bytes as noise and drop them; the run's report when it is long enough."""
        segment = bytes(self._buf[:n]).replace(b"\x00", b"")  # NUL (wake-up) bytes are skipped silently
        self._consume(n)
        self.skipped_total += n
        self._noise_run += n
        self._skipped_count += len(segment)
        if len(self._skipped) < _HEAD_KEPT:
            self._skipped += segment[: _HEAD_KEPT - len(self._skipped)]
        if self._noise_run >= self.noise_report_every:
            return self._flush_skipped()
        return None

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
        self._noise_run = 0
        if not self._skipped_count:
            return None
        err = RemoteProtocolError(f"skipped {self._skipped_count} bytes of noise", bytes(self._skipped))
        self._skipped.clear()
        self._skipped_count = 0
        return err

    def _consume(self, n: int) -> None:
        """Drop ``n`` bytes from the head of the buffer; the next message's end search starts afresh."""
        del self._buf[:n]
        self._scan = self._line_scan = 0
        self._lf_free = max(0, self._lf_free - n)

    def _too_long(self) -> RemoteProtocolError:
        """Drop the first ``max_message + 1`` bytes: the message at the head cannot end within the limit.  (Fed
        byte by byte, that is exactly the buffer at the moment it outgrows the limit, so chunking does not matter.)"""
        n = self.max_message + 1
        dropped = bytes(self._buf[:n])
        self._consume(n)
        self._pending_ident = None
        return RemoteProtocolError(f"message longer than {self.max_message} bytes dropped", dropped[:64])

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

    def _head(self) -> DecodedItem | _Skip | None:
        first = self._buf[0]
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

    def _line_message(self) -> DecodedItem | _Skip | None:
        """A ``/`` line: its LF must come within ``_LINE_LIMIT`` bytes, else the ``/`` starts nothing (noise) and
        the bytes after it are looked at again (a message inside a long garbage line is still found)."""
        buf = self._buf
        limit = min(_LINE_LIMIT, self.max_message)
        start = max(1, self._lf_free)
        end = buf.find(b"\n", start, limit + 1)
        if end < 0:
            searched = min(len(buf), limit + 1)
            self.scanned += max(0, searched - start)
            self._lf_free = max(start, searched)
            return _SKIP if len(buf) > limit else None
        self.scanned += end + 1 - start
        raw = bytes(buf[:end])
        self._pending_raw = bytes(buf[: end + 1])
        self._consume(end + 1)
        self._lf_free = 0
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
            if nl < 0 or nl >= self.max_message:
                if nl >= 0 or len(buf) > self.max_message:
                    return self._too_long()
                self.scanned += len(buf) - resume
                self._line_scan = len(buf)  # the next feed looks only at the new bytes
                return None
            self.scanned += nl + 1 - resume
            line = bytes(buf[pos:nl]).rstrip(b"\r")
            if line.startswith(b"!"):
                text = bytes(buf[:pos]).decode("ascii", "replace")
                body = bytes(buf[:pos])
                self._consume(nl + 1)
                self._pending_ident = None
                try:
                    datasets, errors = parse_datasets(text, lenient=self.lenient)
                except RemoteProtocolError as exc:
                    return exc
                self._reports.extend(errors)
                check = line[1:].decode("ascii", "replace").strip()
                crc_ok = None
                if check:  # DSMR P1: CRC16 (ARC) over everything from '/' up to and including '!'
                    telegram = self._pending_raw + body + b"!"
                    crc_ok = check.upper() == f"{crc16(telegram):04X}"
                    if not crc_ok and not self.lenient:
                        return RemoteProtocolError("telegram CRC mismatch", telegram[-64:] + line)
                raw = self._pending_raw + body + bytes(line) + b"\r\n"
                try:
                    return ModeDMessage(identification=ident, datasets=datasets, check=check, crc_ok=crc_ok, raw=raw)
                except LocalProtocolError as exc:
                    return RemoteProtocolError(f"unreadable text after '!' ({exc})", bytes(line))
            self._scan = self._line_scan = nl + 1

    def _ack(self) -> DecodedItem | _Skip | None:
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
            return _SKIP if len(buf) > 8 else None  # no line end: the ACK byte starts nothing
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

    def _block_end(self) -> int | RemoteProtocolError | None:
        """Index of the ETX/EOT ending the block at the head (its BCC has arrived too); None while incomplete; the
        error (and the bytes dropped) when the block cannot end within ``max_message`` bytes."""
        end = self._find_end(1, b"\x03\x04")
        if end is None or end + 1 >= len(self._buf):
            return self._too_long() if len(self._buf) > self.max_message else None
        if end + 2 > self.max_message:
            return self._too_long()
        return end

    def _soh_block(self) -> DecodedItem | None:
        buf = self._buf
        end = self._block_end()
        if end is None or isinstance(end, RemoteProtocolError):
            return end
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
        end = self._block_end()
        if end is None or isinstance(end, RemoteProtocolError):
            return end
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
