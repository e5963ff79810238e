"""Integrity of a protected session (OP2v1-MAC): every request and every answer after ``P2`` carries a MAC.

Negotiation: the hand-held offers integrity by adding the value group ``(MAC1)`` to its ``P2`` data set
(``P2(answer)(MAC1)``).  A meter that speaks it derives the MAC key from the session key of the exchange
(:func:`~meterkit.security.answer_crypto.session_key`): ``K_mac = HKDF-SHA256(IKM = session key, info =
"OP2v1-mac")`` and answers the ``P2`` not with a bare ACK but with the protected ACK of answer counter 1, which proves
that it knows the key (a fake meter cannot make it).  A meter that does not speak it answers ACK and ignores the extra
value group; the hand-held then carries on as before unless it requires encryption (``--require-encryption``): then it
stops before sending anything further.  An encrypting meter refuses a ``P2`` without the offer.

Tag = ``HMAC-SHA256(K_mac, direction ‖ counter(4, big-endian) ‖ text)[:16]``, 32 hex digits; direction ``0x01``
hand-held to meter, ``0x02`` meter to hand-held; each direction counts from 1 and a receiver accepts exactly the next
counter (a replayed, dropped or reordered message is refused).

* Request: the command's data set gets one more value group ``(M`` counter (8 hex) tag ``)``; text =
  ``code ‖ "|" ‖ data set without that value group``  (``W1 C.60.1(fixed 15)(M00000001…)``).
* Answer (every one: data, ACK, error): a data message whose last data set is ``MAC(`` kind counter (8 hex) tag
  ``)``, kind ``D`` data (the data sets before it), ``A`` acknowledgement (no other data set), ``E`` error (one data
  set ``ERR(code)``); text = kind ‖ the data sets before it, each followed by CR LF.  An answer in partial blocks
  (``R3``/``R6``) ends every block with its own ``MAC`` data set (the next counter each).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import SecurityError
from .events import AnswerReceived, ClientEvent, ErrorReceived, PositiveAck
from .messages import Ack, CommandMessage, DataAnswer, DataSet, ErrorAnswer, Message, Value

__all__ = ["MAC_ADDRESS", "OFFER", "HandheldIntegrity", "MeterIntegrity", "offered"]

MAC_ADDRESS = "MAC"
ERROR_ADDRESS = "ERR"
#: the value group the hand-held adds to its P2 to offer integrity
OFFER = "MAC1"
_TO_METER = b"\x01"
_TO_HHU = b"\x02"
_TAG_HEX = 32
_MAX_COUNTER = 0xFFFFFFFF


def offered(command: CommandMessage) -> bool:
    """Whether a P2 offers integrity (its data set's last value group is :data:`OFFER`)."""
    ds = command.data_set
    return ds is not None and len(ds.values) > 1 and ds.values[-1].value == OFFER


class _Mac:
    def __init__(self, session_key: bytes) -> None:
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"OP2v1-mac").derive(session_key)

    def tag(self, direction: bytes, counter: int, text: str) -> str:
        data = direction + counter.to_bytes(4, "big") + text.encode("ascii")
        return hmac.new(self._key, data, sha256).hexdigest()[:_TAG_HEX].upper()

    def check(self, direction: bytes, counter: int, text: str, tag: str) -> bool:
        return hmac.compare_digest(self.tag(direction, counter, text), tag.upper())


def _request_text(command: CommandMessage, ds: DataSet | None) -> str:
    body = ds.to_text(strict=False) if ds is not None else ""
    return f"{command.code}{'+' if command.partial else ''}|{body}"


def _answer_text(kind: str, datasets: tuple[DataSet, ...]) -> str:
    return kind + "".join(ds.to_text(strict=False) + "\r\n" for ds in datasets)


def _split(value: str) -> tuple[int, str]:
    """``counter(8 hex) tag(32 hex)`` -> (counter, tag); SecurityError if malformed."""
    if len(value) != 8 + _TAG_HEX:
        raise SecurityError("malformed MAC")
    try:
        return int(value[:8], 16), value[8:]
    except ValueError as exc:
        raise SecurityError("malformed MAC") from exc


class MeterIntegrity:
    """The meter's side: checks requests, protects answers."""

    def __init__(self, session_key: bytes) -> None:
        self._mac = _Mac(session_key)
        self._received = 0
        self._sent = 0

    def check_request(self, command: CommandMessage) -> CommandMessage:
        """The command without its MAC value group; SecurityError if it has none, a wrong one or a stale counter."""
        ds = command.data_set
        if ds is None or len(ds.values) < 2 or not ds.values[-1].value.startswith("M"):
            raise SecurityError("request without MAC in a protected session")
        counter, tag = _split(ds.values[-1].value[1:])
        stripped = replace(ds, values=ds.values[:-1])
        if counter != self._received + 1 or not self._mac.check(
            _TO_METER, counter, _request_text(command, stripped), tag
        ):
            raise SecurityError("request failed its integrity check (altered, replayed or out of order)")
        self._received = counter
        return replace(command, data_set=stripped)

    def protect_data(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        """A data answer's data sets followed by their MAC data set (for an answer sent in partial blocks)."""
        protected = self.protect(DataAnswer(datasets=datasets))
        assert isinstance(protected, DataAnswer)
        return protected.datasets

    def protect(self, message: Message) -> Message:
        """The protected form of an answer (ACK, error or data); other messages pass unchanged."""
        datasets: tuple[DataSet, ...]
        if isinstance(message, Ack):
            kind, datasets = "A", ()
        elif isinstance(message, ErrorAnswer):
            kind, datasets = "E", (DataSet.single(ERROR_ADDRESS, message.text),)
        elif isinstance(message, DataAnswer):
            kind, datasets = "D", message.datasets
        else:
            return message
        if self._sent >= _MAX_COUNTER:
            raise SecurityError("answer counter exhausted; sign on again")
        self._sent += 1
        tag = self._mac.tag(_TO_HHU, self._sent, _answer_text(kind, datasets))
        mac = DataSet.single(MAC_ADDRESS, f"{kind}{self._sent:08X}{tag}")
        return DataAnswer(datasets=(*datasets, mac))


class HandheldIntegrity:
    """The hand-held's side: protects requests once the meter proved the key, checks every answer."""

    def __init__(self, session_key: bytes, *, required: bool) -> None:
        self._mac = _Mac(session_key)
        self.required = required
        self.active = False  # the meter proved the key (its answer to P2)
        self._pending = True  # the answer to the P2 is still to come
        self._sent = 0
        self._received = 0

    def protect(self, command: CommandMessage) -> CommandMessage:
        if not self.active:
            return command
        ds = command.data_set if command.data_set is not None else DataSet.single("")
        self._sent += 1
        tag = self._mac.tag(_TO_METER, self._sent, _request_text(command, ds))
        return replace(command, data_set=replace(ds, values=(*ds.values, Value(value=f"M{self._sent:08X}{tag}"))))

    def check(self, event: ClientEvent) -> ClientEvent:
        """The answer as it was before protection; SecurityError if it is unauthenticated, altered or replayed."""
        if self._pending:
            self._pending = False
            if isinstance(event, ErrorReceived):  # the P2 was refused: nothing was protected
                return event
            if isinstance(event, PositiveAck):  # a meter that does not speak integrity (or a fake one)
                if self.required:
                    raise SecurityError(
                        "the meter did not prove that it knows the key (no protected answer to P2): refused "
                        "(a fake meter or a man in the middle?)"
                    )
                return event
            checked = self._open(event)
            self.active = True
            return checked
        if not self.active:
            return event
        return self._open(event)

    def _open(self, event: ClientEvent) -> ClientEvent:
        if not isinstance(event, AnswerReceived) or not event.answer.datasets:
            raise SecurityError("the meter sent an unauthenticated answer in a protected session")
        segments: list[tuple[str, tuple[DataSet, ...]]] = []  # one per block of a partial-block answer
        body: list[DataSet] = []
        for ds in event.answer.datasets:
            if ds.address != MAC_ADDRESS:
                body.append(ds)
                continue
            kind, counter, tag = ds.value[:1], *_split(ds.value[1:])
            text = _answer_text(kind, tuple(body))
            if counter != self._received + 1 or not self._mac.check(_TO_HHU, counter, text, tag):
                raise SecurityError("the answer failed its integrity check (altered, replayed or out of order)")
            self._received = counter
            segments.append((kind, tuple(body)))
            body = []
        if body or not segments:
            raise SecurityError("the meter sent an unauthenticated answer in a protected session")
        if len(segments) == 1:
            kind, only = segments[0]
            if kind == "A" and not only:
                return PositiveAck()
            if kind == "E" and len(only) == 1 and only[0].address == ERROR_ADDRESS:
                return ErrorReceived(text=only[0].value, bcc_ok=event.answer.bcc_ok)
        if all(kind == "D" for kind, _ in segments):
            data = tuple(ds for _, part in segments for ds in part)
            return AnswerReceived(answer=replace(event.answer, datasets=data))
        raise SecurityError("malformed protected answer")
