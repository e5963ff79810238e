"""The meter side of the optical port as a sans-IO state machine (see :mod:`.events` for the I/O contract)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from ..errors import LocalProtocolError, RemoteProtocolError
from .baud import INITIAL_BAUD, MODE_B_BAUD, MODE_C_BAUD, mode_from_baud_char, option_outcome
from .decoder import Decoder
from .events import (
    BinaryModeRequested,
    CommandReceived,
    IoDirective,
    MeterEvent,
    NextBlockRequested,
    ProgrammingRequested,
    ProtocolViolation,
    ReadoutRequested,
    SessionEnded,
    SetLine,
    SignOn,
    Transmit,
)
from .messages import (
    Ack,
    AckOptionSelect,
    CommandMessage,
    DataAnswer,
    DataMessage,
    IdentificationMessage,
    Message,
    ModeDMessage,
    Nak,
    RequestMessage,
)
from .timing import (
    INTER_CHAR_TIMEOUT,
    OPTION_SELECT_WAIT,
    REACTION_TIME,
    REACTION_TIME_FAST,
    char_time,
)
from .transitions import METER_SENDS, METER_TIMERS, MeterState

__all__ = ["MeterConnection", "MeterPortConfig", "addresses_match"]


def _normalise_address(address: str) -> str:
    return address.lstrip("0")


def addresses_match(requested: str, own: str) -> bool:
    """Device address rule (§6.3.1): an empty request is general; leading zeros are not evaluated."""
    if requested == "" or own == "":
        return True
    return _normalise_address(requested) == _normalise_address(own)


@dataclass(frozen=True, kw_only=True, slots=True)
class MeterPortConfig:
    """How a meter presents itself on the optical port.

    ``protocol_mode="D"`` makes a push-only meter: it never answers a request and sends its data (identification,
    blank line, data lines, ``!``; no STX/ETX/BCC) at the rate of its Z (``"3"``: 2400 Bd as the standard says;
    ``"5"``: 9600 Bd like German push meters) whenever :meth:`MeterConnection.push` is called, and every
    ``push_interval`` seconds when that is set (the first push is due at once).
    """

    manufacturer: str
    ident: str
    baud_char: str = "5"
    protocol_mode: Literal["A", "B", "C", "D"] = "C"
    device_address: str = ""
    enhanced: tuple[str, ...] = ()
    binary_mode: bool = False
    reaction_time: float | None = None
    option_select_wait: float = OPTION_SELECT_WAIT
    inactivity_timeout: float = 120.0
    repeat_window: float = 2.0
    max_repeats: int = 3
    accept_request_start: str = "?"
    #: Extra wait before the first message after a baud switch, so a hand-held's IR head has switched too
    #: (USB heads need 250-400 ms after the option select).
    post_switch_delay: float = 0.4
    #: Mode D: seconds between two pushes (None: push only when :meth:`MeterConnection.push` is called).
    push_interval: float | None = None

    def __post_init__(self) -> None:
        announced = mode_from_baud_char(self.baud_char)
        if self.protocol_mode == "D":
            if self.baud_char not in MODE_C_BAUD:
                raise LocalProtocolError("mode D baud character must be a digit 0-6 ('3' = 2400 Bd per the standard)")
            if self.binary_mode:
                raise LocalProtocolError("a mode D (push) meter has no binary mode")
            if self.push_interval is not None and self.push_interval <= 0:
                raise LocalProtocolError("push_interval must be positive")
        elif announced != self.protocol_mode:
            raise LocalProtocolError(
                f"baud character {self.baud_char!r} announces mode {announced}, not mode {self.protocol_mode}"
            )
        if self.protocol_mode == "B" and self.baud_char not in MODE_B_BAUD:
            raise LocalProtocolError(f"mode B baud character must be one of {''.join(MODE_B_BAUD)}")
        if self.protocol_mode == "C" and self.baud_char not in MODE_C_BAUD:
            raise LocalProtocolError(f"mode C baud character must be one of {''.join(MODE_C_BAUD)}")
        if "2" in self.enhanced and not self.binary_mode:
            raise LocalProtocolError(
                "enhanced identification \\2 announces binary mode (mode E); set binary_mode=True to accept it"
            )
        if not 60.0 <= self.inactivity_timeout <= 120.0:
            raise LocalProtocolError("inactivity time-out must be 60-120 s (IEC 62056-21 Annex A)")
        if self.max_repeats < 0:
            raise LocalProtocolError("max_repeats cannot be negative")
        IdentificationMessage(
            manufacturer=self.manufacturer, baud_char=self.baud_char, ident=self.ident, enhanced=self.enhanced
        ).to_bytes()

    @property
    def identification(self) -> IdentificationMessage:
        enhanced = self.enhanced
        if self.binary_mode and "2" not in enhanced:
            enhanced = ("2", *enhanced)
        return IdentificationMessage(
            manufacturer=self.manufacturer, baud_char=self.baud_char, ident=self.ident, enhanced=enhanced
        )

    @property
    def push_baud(self) -> int:
        """Mode D: the line rate of the pushes (Z read as a mode C character; ``3`` = 2400 Bd)."""
        return MODE_C_BAUD[self.baud_char] if self.protocol_mode == "D" else INITIAL_BAUD

    @property
    def effective_reaction_time(self) -> float:
        if self.reaction_time is not None:
            return self.reaction_time
        return REACTION_TIME_FAST if self.manufacturer[2].islower() else REACTION_TIME


def _send_key(message: Message) -> str:
    if isinstance(message, CommandMessage):
        return f"CommandMessage:{message.code}"
    return type(message).__name__


class MeterConnection:
    """One optical port of a meter.  Never raises on received bytes."""

    def __init__(self, config: MeterPortConfig) -> None:
        self.config = config
        self.identification = config.identification
        self.state = MeterState.IDLE
        self.baud = INITIAL_BAUD
        self._decoder = Decoder("meter")
        self._events: deque[tuple[int, MeterEvent]] = deque()
        # answers belong to a session: every end starts a new generation; an answer to an event of an ended
        # generation (a command and a break, or a new sign-on, in one write) is dropped, never sent into the next
        self._generation = 0
        self._answering = 0
        #: answers dropped because the session they belonged to had ended
        self.dropped_answers = 0
        self._out: list[IoDirective] = []
        self._timer: float | None = None
        self._last_rx = float("-inf")
        self._last_sent = b""
        #: when the last byte of the meter's last transmission has left the line (modelled: 10 bits per character
        #: at the rate it went out at, as on a real optical port)
        self._line_end = float("-inf")
        #: a message (or damaged bytes) arrived since the meter's last transmission (so the other end has answered it)
        self._heard = True
        self._repeats = 0
        self._reaction = config.effective_reaction_time
        self._switch_pending = False
        self._binary_request: BinaryModeRequested | None = None  # a mode E switch, reported with all leftover bytes
        if config.protocol_mode == "D" and config.push_interval is not None:
            self._timer = float("-inf")  # the first push is due at once (a past deadline means "now")

    # --- I/O contract ---------------------------------------------------------------------------------

    def next_event(self) -> MeterEvent | None:
        if not self._events:
            return None
        self._answering, event = self._events.popleft()
        return event

    def outputs(self) -> list[IoDirective]:
        out, self._out = self._out, []
        return out

    def deadline(self) -> float | None:
        char = self._last_rx + INTER_CHAR_TIMEOUT if self._decoder.buffered else None
        candidates = [t for t in (self._timer, char) if t is not None]
        return min(candidates) if candidates else None

    def receive_data(self, data: bytes, now: float) -> None:
        if self.state is MeterState.BINARY:  # the binary protocol owns the line; its end of stream ends mode E
            if not data:
                self._end("eof")
            return
        if not data:
            if self.state is not MeterState.IDLE:
                self._end("eof")
            return
        self._last_rx = now
        while data:
            if self.state is MeterState.AWAIT_OPTION and self.config.binary_mode:
                # up to the end of the option select only: after a mode E switch the rest belongs to the binary face
                cut = data.find(b"\n") + 1 or len(data)
                chunk, data = data[:cut], data[cut:]
            else:
                chunk, data = data, b""
            for item in self._decoder.feed(chunk):
                try:
                    self._on_item(item, now)
                except LocalProtocolError as exc:  # pragma: no cover - defensive: received bytes never raise
                    self._emit(ProtocolViolation(error=RemoteProtocolError(str(exc))))
            if self._binary_request is not None:
                request, self._binary_request = self._binary_request, None
                self._emit(BinaryModeRequested(baud=request.baud, leftover=request.leftover + data))
                return

    def handle_timer(self, now: float) -> None:
        if self._decoder.buffered and now >= self._last_rx + INTER_CHAR_TIMEOUT:
            dropped = self._decoder.reset()
            self._violation(RemoteProtocolError("inter-character time-out: incomplete message dropped", dropped))
        if self._timer is None or now < self._timer:
            return
        self._timer = None
        timer = METER_TIMERS[self.state]  # what runs out is the timer the table names for the state
        if timer == "push-interval" and self.config.protocol_mode == "D":
            self.push(now)
        elif timer == "option-select-wait":  # no option select: the data readout at 300 Bd (mode C fallback)
            self._decoder.expect(option_ack=False)
            self._readout(now, mode="C", baud=INITIAL_BAUD)
        elif timer == "repeat-window":
            self._end("readout-done")
        elif timer == "inactivity":
            self._end("inactivity")
            self._enter(MeterState.IDLE, now)  # a mode D meter with a push interval pushes again in one interval

    def send(self, message: Message, now: float, *, delay: float = 0.0) -> None:
        """Send the application's answer; raises LocalProtocolError when the state does not allow it.

        An answer to an event (the last one taken with :meth:`next_event`) of a session that has ended since is
        dropped and counted in :attr:`dropped_answers`: it never reaches the line nor the next session."""
        if self._answering != self._generation:
            self.dropped_answers += 1
            return
        key = _send_key(message)
        if key not in METER_SENDS[self.state]:
            raise LocalProtocolError(f"cannot send {key} in state {self.state.value}")
        if self.state is MeterState.PUSH_PENDING:
            self._send_push(message, now, delay)
            return
        data = message.to_bytes()
        self._transmit(data, now, delay)
        if isinstance(message, CommandMessage) and message.command == "B":
            self._end("break", announce=True)
            return
        # the state's timer (repeat window, inactivity) runs from when the message has left the line
        if isinstance(message, DataMessage):
            self._enter(MeterState.READOUT_SENT, self._line_end)
            self._repeats = 0
            if self.config.protocol_mode == "B":
                self._set_line(INITIAL_BAUD)  # §6.4.2.3: after the readout, commands come at 300 Bd
            return
        if isinstance(message, DataAnswer) and message.partial:
            self._enter(MeterState.PARTIAL_SENT, self._line_end)
            self._repeats = 0
        else:
            self._enter(MeterState.PROGRAMMING, self._line_end)

    def end_binary(self, reason: str = "binary-done") -> None:
        """Mode E: the binary protocol has finished; the port goes back to idle at 300 Bd 7E1 (``SessionEnded``)."""
        if self.state is not MeterState.BINARY:
            raise LocalProtocolError(f"no binary mode to end in state {self.state.value}")
        self._end(reason)

    def push(self, now: float) -> None:
        """Mode D: start a push.  Emits :class:`SignOn` (address ``""``) and ``ReadoutRequested(mode="D", baud)``;
        the application answers with ``send(DataMessage(...))`` (or a complete :class:`ModeDMessage`), which goes
        out as the mode D message; then :class:`SessionEnded` ``("push-done")``."""
        if self.config.protocol_mode != "D":
            raise LocalProtocolError(f"only a mode D meter pushes (this one is mode {self.config.protocol_mode})")
        if self.state is not MeterState.IDLE:
            raise LocalProtocolError(f"cannot push in state {self.state.value}")
        baud = self.config.push_baud
        self._set_line(baud)
        self._switch_pending = False  # nobody listens for an answer: no settling delay before a push
        self._enter(MeterState.PUSH_PENDING, now)
        self._emit(SignOn(address=""))
        self._emit(ReadoutRequested(mode="D", baud=baud))

    # --- internals ------------------------------------------------------------------------------------

    def _send_push(self, message: Message, now: float, delay: float) -> None:
        if isinstance(message, ModeDMessage):
            push = message
        else:
            assert isinstance(message, DataMessage)
            push = ModeDMessage(identification=self.identification, datasets=message.datasets)
        self._put(push.to_bytes(), now + delay)
        self._last_sent = b""
        self._enter(MeterState.IDLE, now + delay)
        self._emit(SessionEnded(reason="push-done"))

    def _transmit(self, data: bytes, now: float, delay: float = 0.0) -> None:
        """Send ``data`` t_r after the last received byte; when nothing was received since the meter's previous
        message started (mode A/B readout after the identification, the mode C fallback readout), t_r after that
        message has left the line.  After a baud switch (applied once the line is quiet), ``post_switch_delay``."""
        base = self._last_rx
        back_to_back = not self._heard
        if back_to_back:
            base = max(base, self._line_end)
        not_before = max(now, base + self._reaction) + delay
        if self._switch_pending:
            not_before = max(not_before, base + self.config.post_switch_delay)
            self._switch_pending = False
        self._put(data, not_before, gap=not_before - self._line_end if back_to_back else 0.0)
        self._last_sent = data

    def _put(self, data: bytes, not_before: float, *, gap: float = 0.0) -> None:
        """One transmission; records when it starts and when its last byte has left the line at the current rate."""
        self._out.append(Transmit(data=data, not_before=not_before, gap=gap))
        self._heard = False
        self._line_end = not_before + len(data) * char_time(self.baud)

    def _set_line(self, baud: int, *, bytesize: int = 7, parity: str = "E") -> None:
        if baud != self.baud or bytesize != 7:
            self._out.append(SetLine(baud=baud, bytesize=bytesize, parity=parity))
            self.baud = baud
            self._switch_pending = True

    def _timer_length(self, timer: str | None) -> float | None:
        """The length of a timer of :data:`~.transitions.METER_TIMERS` (None: it does not run)."""
        config = self.config
        if timer == "inactivity":
            return config.inactivity_timeout
        if timer == "option-select-wait":
            return config.option_select_wait
        if timer == "repeat-window":
            return self._reaction + config.repeat_window
        if timer == "push-interval" and config.protocol_mode == "D":
            return config.push_interval
        return None

    def _enter(self, state: MeterState, start: float | None) -> None:
        """Go to ``state`` and run the timer the table names for it, from ``start`` (None: no timer)."""
        self.state = state
        length = None if start is None else self._timer_length(METER_TIMERS[state])
        self._timer = None if length is None or start is None else start + length

    def _emit(self, event: MeterEvent) -> None:
        self._events.append((self._generation, event))

    def _violation(self, error: RemoteProtocolError) -> None:
        self._emit(ProtocolViolation(error=error))

    def _end(self, reason: str, *, announce: bool = True) -> None:
        was_active = self.state is not MeterState.IDLE
        self._enter(MeterState.IDLE, None)
        self._decoder.expect(option_ack=False)
        self._set_line(self.config.push_baud if self.config.protocol_mode == "D" else INITIAL_BAUD)
        if was_active and announce:
            self._emit(SessionEnded(reason=reason))
        if was_active:
            self._generation += 1

    def _readout(self, now: float, *, mode: str, baud: int) -> None:
        self._enter(MeterState.READOUT_PENDING, now)
        self._emit(ReadoutRequested(mode=mode, baud=baud))

    def _on_item(self, item: Message | RemoteProtocolError, now: float) -> None:
        self._heard = True
        if isinstance(item, RemoteProtocolError):
            self._violation(item)
            if self.state is MeterState.PROGRAMMING and item.data[:1] == b"\x01":
                self._nak_or_give_up(now)
            return
        if isinstance(item, RequestMessage):
            self._on_request(item, now)
        elif isinstance(item, AckOptionSelect):
            self._on_option(item, now)
        elif isinstance(item, CommandMessage):
            self._on_command(item, now)
        elif isinstance(item, Nak):
            self._on_nak(now)
        elif isinstance(item, Ack):
            if self.state is MeterState.PARTIAL_SENT:
                self._enter(MeterState.ANSWER_PENDING, now)
                self._emit(NextBlockRequested())
            else:
                self._violation(RemoteProtocolError(f"unexpected ACK in state {self.state.value}", b"\x06"))
        else:
            self._violation(RemoteProtocolError(f"unexpected {type(item).__name__} from a client"))

    def _on_request(self, request: RequestMessage, now: float) -> None:
        if self.config.protocol_mode == "D":
            # mode D has no request (§6.4.4): a push meter's port does not answer
            self._violation(RemoteProtocolError("mode D meter: requests are not answered", request.to_bytes()))
            return
        if request.start not in self.config.accept_request_start:
            self._violation(RemoteProtocolError(f"request start '/{request.start}' not accepted", request.to_bytes()))
            return
        if not addresses_match(request.address, self.config.device_address):
            if self.state is not MeterState.IDLE:
                self._end("other-address")
            return
        if self.state is not MeterState.IDLE:
            self._end("restart")
        self._set_line(INITIAL_BAUD)
        self._transmit(self.identification.to_bytes(strict=False), now)
        self._emit(SignOn(address=request.address))
        mode = self.config.protocol_mode
        if mode == "A":
            self._readout(now, mode="A", baud=INITIAL_BAUD)
        elif mode == "B":
            baud = MODE_B_BAUD[self.config.baud_char]
            self._set_line(baud)
            self._readout(now, mode="B", baud=baud)
        else:
            # t_t runs from the end of the identification (its last byte has left the line), not from its start
            self._enter(MeterState.AWAIT_OPTION, self._line_end)
            self._decoder.expect(option_ack=True)

    def _on_option(self, option: AckOptionSelect, now: float) -> None:
        if self.state is not MeterState.AWAIT_OPTION:
            self._violation(RemoteProtocolError("option select outside the sign-on", option.to_bytes()))
            return
        self._decoder.expect(option_ack=False)
        outcome = option_outcome(
            protocol=option.protocol,
            baud_char=option.baud_char,
            mode=option.mode,
            proposed=self.config.baud_char,
            binary=self.config.binary_mode,
        )
        baud = outcome.baud
        if outcome.action == "binary":
            self._set_line(baud)
            self._transmit(AckOptionSelect(protocol="2", baud_char=option.baud_char, mode="2").to_bytes(), now)
            self._set_line(baud, bytesize=8, parity="N")
            self._enter(MeterState.BINARY, now)
            self._binary_request = BinaryModeRequested(baud=baud, leftover=self._decoder.take_leftover())
            return
        if outcome.reason:
            # unsupported or inconsistent: data readout at 300 Bd, no programming (§6.4.5.2); reported for traces
            self._violation(RemoteProtocolError(f"option select not honoured ({outcome.reason})", option.to_bytes()))
        self._set_line(baud)
        if outcome.action == "programming":
            self._enter(MeterState.OPERAND_PENDING, now)
            self._emit(ProgrammingRequested(baud=baud))
            return
        self._readout(now, mode="C", baud=baud)

    def _on_command(self, command: CommandMessage, now: float) -> None:
        state = self.state
        if command.command == "B" and state is not MeterState.IDLE:
            if command.bcc_ok is False:
                # a damaged message is not known to be a break: NAK it in programming mode like any damaged
                # command (the hand-held repeats it), ignore it elsewhere (reported for traces)
                if state not in (MeterState.PROGRAMMING, MeterState.PARTIAL_SENT):
                    data = command.to_bytes(strict=False)
                    self._violation(RemoteProtocolError(f"BCC mismatch in {command.code}: ignored", data))
                    return
            else:
                if command.command_type == "1":
                    self._transmit(Ack().to_bytes(), now)
                self._end("break")
                return
        if state is MeterState.READOUT_SENT and self.config.protocol_mode in ("A", "B"):
            # §6.4.1.3 / §6.4.2.3: after a mode A or B readout any command message (a password command included)
            # starts programming mode; in mode B both ends are back at 300 Bd by then
            self._enter(MeterState.PROGRAMMING, now)
            state = self.state
        if state not in (MeterState.PROGRAMMING, MeterState.PARTIAL_SENT):
            self._violation(RemoteProtocolError(f"command {command.code} outside programming mode"))
            return
        if command.bcc_ok is False:
            self._violation(RemoteProtocolError(f"BCC mismatch in {command.code}", command.to_bytes(strict=False)))
            self._nak_or_give_up(now)
            return
        if command.command == "B":
            return
        self._repeats = 0
        self._enter(MeterState.ANSWER_PENDING, now)
        self._emit(CommandReceived(command=command))

    def _nak_or_give_up(self, now: float) -> None:
        self._repeats += 1
        if self._repeats > self.config.max_repeats:
            self._end("too-many-errors")
            return
        self._put(Nak().to_bytes(), max(now, self._last_rx + self._reaction))
        self._enter(self.state, now)

    def _on_nak(self, now: float) -> None:
        if self.state in (MeterState.READOUT_SENT, MeterState.PARTIAL_SENT, MeterState.PROGRAMMING) and self._last_sent:
            self._repeats += 1
            if self._repeats > self.config.max_repeats:
                self._end("too-many-repeats")
                return
            self._transmit(self._last_sent, now)
            self._enter(self.state, self._line_end)  # the repeat window again after a readout, else inactivity
            return
        self._violation(RemoteProtocolError(f"unexpected NAK in state {self.state.value}", b"\x15"))
