"""The hand-held unit's side of the optical port as a sans-IO state machine (see :mod:`.events`)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..errors import LocalProtocolError, RemoteProtocolError
from .baud import (
    INITIAL_BAUD,
    MODE_B_BAUD,
    MODE_C_BAUD,
    MODE_D_BAUD,
    baud_for,
    best_standard_char,
    mode_from_baud_char,
    option_outcome,
)
from .decoder import Decoder
from .events import (
    AnswerReceived,
    BinaryModeRequested,
    BreakReceived,
    ClientEvent,
    ErrorReceived,
    IdentificationReceived,
    IoDirective,
    OperandReceived,
    PositiveAck,
    ProtocolViolation,
    ReadoutReceived,
    RepeatRequested,
    ResponseTimeout,
    SetLine,
    Transmit,
)
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
from .timing import (
    HHU_RESPONSE_TIMEOUT,
    INTER_CHAR_TIMEOUT,
    REACTION_TIME,
    REACTION_TIME_FAST,
    WAKE_UP_NUL_DURATION,
    WAKE_UP_PAUSE,
    char_time,
)
from .transitions import CLIENT_TIMERS, ClientState

__all__ = ["ClientConfig", "ClientConnection", "is_error_answer"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ClientConfig:
    """How the hand-held unit talks to a meter."""

    device_address: str = ""
    request_start: str = "?"
    wake_up: bool = False
    #: No answer this long after our message has left the line is a time-out (HHU limit, Annex A note 4).
    response_timeout: float = HHU_RESPONSE_TIMEOUT
    readout_timeout: float = 10.0
    #: Inter-character time t_a: while a message is arriving, the time-out runs at least this long past the
    #: last received byte.
    char_timeout: float = INTER_CHAR_TIMEOUT
    max_repeats: int = 3
    baud_switch_delay: float = 0.25
    strict_bcc: bool = True
    error_prefixes: tuple[str, ...] = ("ER", "#")
    #: A readout that stops without ETX/BCC (the line closed or went quiet) is delivered with the data sets whose
    #: lines were complete (``ReadoutReceived(complete=False)``) instead of a time-out.
    lenient: bool = False

    def __post_init__(self) -> None:
        RequestMessage(address=self.device_address, start=self.request_start).to_bytes()
        if self.response_timeout <= 0 or self.readout_timeout <= 0 or self.char_timeout <= 0:
            raise LocalProtocolError("time-outs must be positive")
        if self.max_repeats < 0 or self.baud_switch_delay < 0:
            raise LocalProtocolError("max_repeats and baud_switch_delay cannot be negative")


def is_error_answer(answer: DataAnswer, prefixes: tuple[str, ...] = ("ER", "#")) -> str | None:
    """The error text if ``answer`` is an error message: one data set, no address, no unit, a value starting with
    one of ``prefixes`` (the standard recommends ``ER``; LIS-200 devices use ``#nnnn``)."""
    if len(answer.datasets) != 1:
        return None
    ds = answer.datasets[0]
    if ds.address or len(ds.values) != 1 or ds.unit:
        return None
    return ds.value if ds.value.startswith(prefixes) else None


class ClientConnection:
    """One hand-held unit talking to one meter.  Never raises on received bytes."""

    def __init__(self, config: ClientConfig | None = None) -> None:
        self.config = config or ClientConfig()
        self.state = ClientState.IDLE
        self.baud = INITIAL_BAUD
        self.identification: IdentificationMessage | None = None
        self._decoder = Decoder("client", lenient=True, error_prefixes=self.config.error_prefixes)
        self._events: deque[ClientEvent] = deque()
        self._out: list[IoDirective] = []
        self._timer: float | None = None
        self._timer_name: str | None = None
        self._timer_what = ""
        #: In ``await-repeat``: the state whose message is being repeated (what an arriving message is taken as).
        self._repeat_of = ClientState.IDLE
        self._last_rx = float("-inf")
        self._tx_end = float("-inf")
        self._reaction = REACTION_TIME
        self._last_command: CommandMessage | None = None
        self._last_sent = b""
        self._repeats = 0
        self._partial: list[DataSet] = []
        self._partial_ok = True
        self._blocks = 0
        self._max_blocks: int | None = None
        #: The last damaged message (bad BCC) while its repeat is awaited: delivered, flagged, if no repeat comes
        #: (a mode A meter has no repeat; some meters ignore NAK).
        self._damaged: DataMessage | DataAnswer | ErrorAnswer | CommandMessage | None = None
        self._mode_e_baud = INITIAL_BAUD
        #: True right after a mode A/B readout: a command may still start programming mode (§6.4.1.3, §6.4.2.3).
        self._programmable = False

    # --- I/O contract ---------------------------------------------------------------------------------

    def next_event(self) -> ClientEvent | None:
        return self._events.popleft() if self._events else None

    def outputs(self) -> list[IoDirective]:
        out, self._out = self._out, []
        return out

    def deadline(self) -> float | None:
        return self._timer

    @property
    def timer(self) -> str | None:
        """The name of the running timer (one of :data:`~.transitions.CLIENT_TIMERS`), None when none runs."""
        return self._timer_name if self._timer is not None else None

    def receive_data(self, data: bytes, now: float) -> None:
        if self.state is ClientState.BINARY:
            return
        if not data:
            if self.state is ClientState.LISTEN:  # the end of the stream: an unfinished telegram is reported
                for item in self._decoder.feed(b""):
                    self._on_item(item, now)
                return
            if self.state is not ClientState.IDLE:
                self._timer = None
                if not (self._deliver_damaged(now) or self._deliver_unterminated()):
                    self._timeout("data (the line was closed)")
            return
        self._last_rx = now
        for item in self._decoder.feed(data):
            self._on_item(item, now)
        if self._timer is not None and self._decoder.buffered:
            # a message is arriving: give it the inter-character time beyond the last byte
            self._timer = max(self._timer, now + self.config.char_timeout)

    def handle_timer(self, now: float) -> None:
        if self._timer is None or now < self._timer:
            return
        self._timer = None
        timer = CLIENT_TIMERS[self.state]  # what runs out is the timer the table names for the state
        if timer == "repeat" and self._deliver_damaged(now):
            return  # the meter did not repeat: the damaged message is handed over, flagged
        if timer == "readout" and self._deliver_unterminated():
            return
        if timer == "answer" and self._last_command is not None:
            self._decoder.reset()
            self._enter(ClientState.PROGRAMMING, now)
            self._events.append(ResponseTimeout(waiting_for=self._timer_what))
            return
        self._timeout(self._timer_what)

    # --- user actions ---------------------------------------------------------------------------------

    def sign_on(self, now: float) -> None:
        """Queue (wake-up NULs and) the request ``/?address!``."""
        if self.state not in (ClientState.IDLE, ClientState.LISTEN):
            raise LocalProtocolError(f"cannot sign on in state {self.state.value}")
        self._set_line(INITIAL_BAUD)
        self._decoder.reset()
        self._decoder.expect(mode_d=False)
        self.identification = None
        self._programmable = False
        start = now
        if self.config.wake_up:
            nuls = round(WAKE_UP_NUL_DURATION * INITIAL_BAUD / 10)
            self._out.append(Transmit(data=b"\x00" * nuls, not_before=now))
            start = now + WAKE_UP_NUL_DURATION + WAKE_UP_PAUSE
        request = RequestMessage(address=self.config.device_address, start=self.config.request_start)
        self._send_raw(request.to_bytes(), start)
        self._enter(ClientState.AWAIT_IDENT, start, what="identification")

    def listen(self, *, baud: int = MODE_D_BAUD, framing: str = "7E1") -> None:
        """Wait for mode D pushes (identification, blank line, data, ``!``) at ``baud`` (2400 per the standard;
        German push meters use 9600, DSMR P1 ports 115200 ``8N1``)."""
        if self.state is not ClientState.IDLE:
            raise LocalProtocolError(f"cannot listen in state {self.state.value}")
        if baud <= 0:
            raise LocalProtocolError(f"baud rate must be positive, got {baud}")
        if framing not in ("7E1", "8N1"):
            raise LocalProtocolError(f"framing must be 7E1 or 8N1, not {framing!r}")
        self._set_line(baud, bytesize=int(framing[0]), parity=framing[1])
        self._decoder.reset()
        self._decoder.expect(mode_d=True)
        self._programmable = False
        self._enter(ClientState.LISTEN, 0.0)

    def select_option(
        self, now: float, *, mode: str = "0", baud_char: str | None = None, protocol: str | None = None
    ) -> None:
        """Modes C/E: send ``ACK V Z Y``; ``mode`` "0" readout, "1" programming, "2" binary (mode E).

        ``baud_char`` defaults to the meter's proposal (or, for a non-standard proposal such as ``9``, the fastest
        standard rate below it).  A character that is not a standard rate (``0``-``6``) or is above the proposal is
        refused here, before anything is sent.  The line follows :func:`~.baud.option_outcome`, the rule the meter
        applies too: an option the meter cannot honour (binary mode without ``\\2``, a manufacturer-specific Y)
        is sent, the line stays at 300 Bd and a readout is awaited.
        """
        if self.state is not ClientState.IDENTIFIED or self.identification is None:
            raise LocalProtocolError(f"cannot select an option in state {self.state.value}")
        proposed = self.identification.baud_char
        best = best_standard_char(proposed)
        z = baud_char if baud_char is not None else best
        if z not in MODE_C_BAUD:
            hint = (
                f"; {proposed!r} reads as {baud_for(proposed)} Bd, not selectable"
                if proposed not in MODE_C_BAUD
                else ""
            )
            raise LocalProtocolError(
                f"baud character {z!r} is not a standard mode C/E rate; choose 0-{best} "
                f"(the meter proposes {proposed!r}{hint})"
            )
        if MODE_C_BAUD[z] > MODE_C_BAUD[best]:
            raise LocalProtocolError(
                f"baud character {z!r} ({MODE_C_BAUD[z]} Bd) is above the meter's proposal {proposed!r} "
                f"({MODE_C_BAUD[best]} Bd); choose 0-{best}"
            )
        v = protocol if protocol is not None else ("2" if mode == "2" else "0")
        option = AckOptionSelect(protocol=v, baud_char=z, mode=mode)
        outcome = option_outcome(
            protocol=v, baud_char=z, mode=mode, proposed=proposed, binary=self.identification.mode_e
        )
        self._send_raw(option.to_bytes(), now)
        baud = outcome.baud
        if outcome.action == "binary":
            self._mode_e_baud = baud
            self._set_line(baud, delay=self.config.baud_switch_delay)
            self._decoder.expect(option_ack=True)
            self._enter(ClientState.AWAIT_MODE_E, now, what="mode E confirmation")
            return
        self._set_line(baud, delay=self.config.baud_switch_delay)
        if outcome.action == "programming":
            self._enter(ClientState.AWAIT_OPERAND, now, what="P0 operand")
            return
        self._enter(ClientState.AWAIT_READOUT, now, what="readout")

    def send(self, command: CommandMessage, now: float, *, max_blocks: int | None = None) -> None:
        """Send a programming command (P1, P2, R.., W.., E2, B0, B1).

        Allowed in programming mode, and right after a mode A or B readout, where any command message (a password
        command included) starts programming mode (§6.4.1.3, §6.4.2.3; mode B: at 300 Bd).

        An answer in partial blocks (R3, R6…) is acknowledged block by block and reassembled; with ``max_blocks`` the
        client stops after that many blocks without acknowledging the last one (§6.4.7: the hand-held aborts by
        issuing a new command) and hands over what it has as ``DataAnswer(partial=True)``.  A partial write (W3) is
        one ``send`` per block (``CommandMessage(partial=True)``, only the first with the address), each answered by
        ACK; NAK repeats the block.
        """
        if max_blocks is not None and max_blocks < 1:
            raise LocalProtocolError(f"max_blocks must be at least 1, got {max_blocks}")
        if self.state is ClientState.IDLE and self._programmable:
            self._enter(ClientState.PROGRAMMING, now)
        if self.state is not ClientState.PROGRAMMING:
            raise LocalProtocolError(f"cannot send {command.code} in state {self.state.value}")
        self._programmable = False
        self._last_command = command
        self._repeats = 0
        self._partial = []
        self._partial_ok = True
        self._damaged = None
        self._blocks = 0
        self._max_blocks = max_blocks
        self._send_raw(command.to_bytes(), now)
        if command.command == "B" and command.command_type == "0":
            self._finish()
            return
        self._enter(ClientState.AWAIT_ANSWER, now, what=f"answer to {command.code}")

    def reset(self) -> None:
        """Forget the session (the meter ended it without a word, e.g. after its inactivity time-out): back to idle
        at 300 Bd, ready for a new :meth:`sign_on`."""
        self._decoder.reset()
        self._finish()
        self._damaged = None
        self._partial = []
        self._set_line(INITIAL_BAUD)

    def sign_off(self, now: float, *, battery: bool = False) -> None:
        """End the programming session with B0 (B1 for battery meters woken by fast wake-up)."""
        self.send(CommandMessage(command="B", command_type="1" if battery else "0"), now)

    def request_repeat(self, now: float) -> None:
        """Ask the meter to repeat its readout (NAK)."""
        if self.state is not ClientState.IDLE or self.identification is None:
            raise LocalProtocolError("a repeat can only be requested right after a readout")
        self._send_raw(Nak().to_bytes(), now)
        self._enter(ClientState.AWAIT_READOUT, now, what="repeated readout")

    # --- internals ------------------------------------------------------------------------------------

    def _send_raw(self, data: bytes, now: float) -> None:
        self._transmit(data, now)
        self._last_sent = data

    def _transmit(self, data: bytes, now: float) -> None:
        """Queue ``data`` no earlier than the meter's t_r; note when it will have left the line (at the current rate)."""
        not_before = max(now, self._last_rx + self._reaction)
        self._out.append(Transmit(data=data, not_before=not_before))
        self._tx_end = not_before + len(data) * char_time(self.baud)

    def _set_line(self, baud: int, *, bytesize: int = 7, parity: str = "E", delay: float = 0.0) -> None:
        if baud != self.baud or bytesize != 7:
            self._out.append(SetLine(baud=baud, bytesize=bytesize, parity=parity, delay=delay))
            self.baud = baud

    def _timer_length(self, timer: str) -> float:
        """The length of a timer of :data:`~.transitions.CLIENT_TIMERS`."""
        if timer == "readout":
            return self.config.readout_timeout
        if timer in ("identification", "operand", "answer", "mode-e-confirmation", "repeat"):
            # an answer starts within t_r (at most 1.5 s); while it arrives the time-out follows t_a
            return self.config.response_timeout
        raise LocalProtocolError(f"the client has no timer {timer!r}")

    def _enter(self, state: ClientState, now: float, *, what: str | None = None) -> None:
        """Go to ``state`` and run the timer the table names for it; it runs from the moment our last message has
        left the line.  ``what`` is the time-out's text (``ResponseTimeout.waiting_for``); by default the text of
        what was awaited so far (a repeat is the message asked for before)."""
        self.state = state
        if state is not ClientState.AWAIT_REPEAT:
            self._damaged = None  # a damaged message belongs to the wait for its repeat
        timer = CLIENT_TIMERS[state]
        self._timer_name = timer
        if what is not None:
            self._timer_what = what
        if timer is None:
            self._timer = None
            return
        self._timer = max(now, self._last_rx + self._reaction, self._tx_end) + self._timer_length(timer)

    def _finish(self) -> None:
        self._enter(ClientState.IDLE, 0.0)
        self._decoder.expect(option_ack=False)
        self._programmable = False

    def _timeout(self, what: str) -> None:
        self._decoder.reset()
        self._finish()
        self._events.append(ResponseTimeout(waiting_for=what))

    def _retry(self, now: float, reason: str, damaged: DataMessage | DataAnswer | ErrorAnswer | CommandMessage) -> bool:
        """Send NAK to ask for a repeat; False once the retry budget is spent.  ``damaged`` is kept: if the meter
        does not repeat (mode A has no repeat, some meters ignore NAK) it is delivered flagged, never lost."""
        self._repeats += 1
        if self._repeats > self.config.max_repeats:
            self._events.append(ProtocolViolation(error=RemoteProtocolError(f"{reason}; retries exhausted")))
            self._damaged = None
            return False
        self._events.append(ProtocolViolation(error=RemoteProtocolError(f"{reason}; asking for a repeat")))
        self._transmit(Nak().to_bytes(), now)
        if self.state is not ClientState.AWAIT_REPEAT:
            self._repeat_of = self.state
        # a readout in place of an option's answer (the mode C fallback, a meter without mode E) is what is awaited
        readout = self._repeat_of in (ClientState.IDENTIFIED, ClientState.AWAIT_MODE_E)
        self._enter(ClientState.AWAIT_REPEAT, now, what="readout" if readout else self._timer_what or "repeat")
        self._damaged = damaged
        return True

    def _deliver_damaged(self, now: float) -> bool:
        """The meter did not repeat a damaged message: hand it over, flagged (``bcc_ok=False``)."""
        damaged, self._damaged = self._damaged, None
        if damaged is None:
            return False
        self._decoder.reset()
        self._events.append(
            ProtocolViolation(error=RemoteProtocolError("the meter did not repeat the damaged message (NAK ignored)"))
        )
        self._repeats = self.config.max_repeats  # no more NAKs: take what we have
        self.state = self._repeat_of  # the message is taken as it would have been in the state it arrived in
        if isinstance(damaged, DataMessage):
            self._accept_readout(damaged, self.state)
        elif isinstance(damaged, CommandMessage):
            self._accept_operand(damaged)
        elif isinstance(damaged, ErrorAnswer):
            self._accept_error(damaged)
        else:
            self._on_answer(damaged, now, retry=False)
        return True

    def _deliver_unterminated(self) -> bool:
        """``lenient``: a readout that stopped without ETX/BCC gives its complete data sets."""
        if not self.config.lenient or self.state is not ClientState.AWAIT_READOUT:
            return False
        salvaged = self._decoder.salvage()
        if salvaged is None:
            return False
        datasets, errors, ended = salvaged
        for error in errors:
            self._events.append(ProtocolViolation(error=error))
        self._events.append(
            ProtocolViolation(
                error=RemoteProtocolError(
                    f"the readout ended without ETX/BCC{'' if ended else ' and without its end line'}; "
                    f"{len(datasets)} complete data sets kept"
                )
            )
        )
        self._accept_readout(DataMessage(datasets=datasets), self.state, complete=False)
        return True

    def _on_item(self, item: Message | RemoteProtocolError, now: float) -> None:
        # awaiting a repeat, a message is taken as in the state that asked for it
        state = self._repeat_of if self.state is ClientState.AWAIT_REPEAT else self.state
        if isinstance(item, RemoteProtocolError):
            self._events.append(ProtocolViolation(error=item))
            return
        if isinstance(item, IdentificationMessage):
            self._on_identification(item, now)
        elif isinstance(item, ModeDMessage):
            self.identification = item.identification
            self._events.append(IdentificationReceived(identification=item.identification))
            # a DSMR P1 telegram's CRC16 stands where a readout has its BCC
            self._events.append(
                ReadoutReceived(message=DataMessage(datasets=item.datasets, bcc_ok=item.crc_ok), push=item)
            )
        elif isinstance(item, DataMessage) and state in (
            ClientState.AWAIT_READOUT,
            ClientState.AWAIT_MODE_E,
            ClientState.IDENTIFIED,
        ):
            if item.bcc_ok is False and self.config.strict_bcc and self._retry(now, "readout BCC mismatch", item):
                return
            self._damaged = None
            self._accept_readout(item, state)
        elif isinstance(item, CommandMessage) and item.command == "P" and state is ClientState.AWAIT_OPERAND:
            if item.bcc_ok is False and self.config.strict_bcc and self._retry(now, "operand BCC mismatch", item):
                return  # a garbled challenge would only give a wrong answer: ask for it again
            self._accept_operand(item)
        elif isinstance(item, CommandMessage) and item.command == "B":
            self._finish()
            self._events.append(BreakReceived())
        elif isinstance(item, DataAnswer) and state is ClientState.AWAIT_ANSWER:
            self._on_answer(item, now)
        elif isinstance(item, ErrorAnswer) and state is ClientState.AWAIT_ANSWER:
            if item.bcc_ok is False and self.config.strict_bcc and self._retry(now, "error message BCC mismatch", item):
                return
            self._accept_error(item)
        elif isinstance(item, Ack) and state is ClientState.AWAIT_ANSWER:
            if self._last_command is not None and self._last_command.code == "B1":
                self._finish()
            else:
                self._enter(ClientState.PROGRAMMING, now)
            self._events.append(PositiveAck())
        elif isinstance(item, Nak) and state is ClientState.AWAIT_ANSWER and self._last_command is not None:
            self._repeats += 1
            if self._repeats > self.config.max_repeats:
                self._enter(ClientState.PROGRAMMING, now)
                self._events.append(RepeatRequested(retries=self._repeats - 1))
                return
            self._send_raw(self._last_command.to_bytes(), now)
            self._enter(ClientState.AWAIT_ANSWER, now)
        elif isinstance(item, AckOptionSelect) and state is ClientState.AWAIT_MODE_E:
            self._decoder.expect(option_ack=False)
            self._set_line(self._mode_e_baud, bytesize=8, parity="N")
            self._enter(ClientState.BINARY, now)
            self._events.append(BinaryModeRequested(baud=self._mode_e_baud, leftover=self._decoder.take_leftover()))
        else:
            self._events.append(
                ProtocolViolation(error=RemoteProtocolError(f"unexpected {type(item).__name__} in state {state.value}"))
            )

    def _on_identification(self, ident: IdentificationMessage, now: float) -> None:
        if self.state is ClientState.LISTEN:
            return
        if self.state is not ClientState.AWAIT_IDENT:
            self._events.append(ProtocolViolation(error=RemoteProtocolError("unexpected identification")))
            return
        self.identification = ident
        self._reaction = REACTION_TIME_FAST if ident.fast_reaction else REACTION_TIME
        self._events.append(IdentificationReceived(identification=ident))
        mode = mode_from_baud_char(ident.baud_char)
        if mode == "C":
            self._enter(ClientState.IDENTIFIED, now)
            return
        if mode == "B" and ident.baud_char in MODE_B_BAUD:
            self._set_line(baud_for(ident.baud_char))
        self._enter(ClientState.AWAIT_READOUT, now, what="readout")

    def _accept_readout(self, item: DataMessage, state: ClientState, *, complete: bool = True) -> None:
        self._decoder.expect(option_ack=False)
        self._finish()
        mode = mode_from_baud_char(self.identification.baud_char) if self.identification is not None else "C"
        if mode in ("A", "B") and state is ClientState.AWAIT_READOUT:
            self._set_line(INITIAL_BAUD)  # mode B: programming commands go at 300 Bd (§6.4.2.3)
            self._programmable = True
        self._events.append(ReadoutReceived(message=item, complete=complete))

    def _accept_operand(self, item: CommandMessage) -> None:
        self._damaged = None
        self._repeats = 0
        self._enter(ClientState.PROGRAMMING, 0.0)
        self._events.append(OperandReceived(operand=item.data_set.value if item.data_set else "", bcc_ok=item.bcc_ok))

    def _accept_error(self, item: ErrorAnswer) -> None:
        self._repeats = 0
        self._partial = []
        self._enter(ClientState.PROGRAMMING, 0.0)
        self._events.append(ErrorReceived(text=item.text, bcc_ok=item.bcc_ok))

    def _on_answer(self, answer: DataAnswer, now: float, *, retry: bool = True) -> None:
        if (
            answer.bcc_ok is False
            and self.config.strict_bcc
            and retry
            and self._retry(now, "answer BCC mismatch", answer)
        ):
            return
        self._repeats = 0
        self._damaged = None
        self._partial.extend(answer.datasets)
        self._partial_ok = self._partial_ok and answer.bcc_ok is not False
        self._blocks += 1
        aborted = answer.partial and self._max_blocks is not None and self._blocks >= self._max_blocks
        if answer.partial and not aborted:
            self._send_raw(Ack().to_bytes(), now)
            self._enter(ClientState.AWAIT_ANSWER, now)
            return
        ok: bool | None = answer.bcc_ok if self._partial_ok else False
        merged = DataAnswer(datasets=tuple(self._partial), partial=aborted, bcc_ok=ok)
        self._partial = []
        self._partial_ok = True
        self._enter(ClientState.PROGRAMMING, now)
        error = is_error_answer(merged, self.config.error_prefixes)
        if error is not None:
            self._events.append(ErrorReceived(text=error, bcc_ok=ok))
        else:
            self._events.append(AnswerReceived(answer=merged))
