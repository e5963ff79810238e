"""A deterministic in-memory harness: a meter and a client connection joined by a simulated line.

Used by the test suites of every layer (protocol, meter, security) to run whole sessions without sockets::

    pair = ConnectionPair.for_application(app)
    ident = pair.sign_on()
    operand = pair.programming()
    event = pair.command(CommandMessage(command="R", command_type="1", data_set=DataSet.single("1.8.0")))

Time only moves when something waits: ``Transmit.not_before`` and timers advance the simulated clock.  The pair
checks that both ends agree on the line settings whenever bytes cross (``line_mismatches``; tests call
:meth:`ConnectionPair.assert_lines_agree`), and records the sender's line of every frame (``Wire.lines``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..clock import SimulatedClock
from ..errors import LocalProtocolError
from .application import BinaryApplication, BinarySession, MeterApplication, MeterPortSession, SessionRunner
from .client import ClientConfig, ClientConnection
from .events import (
    BinaryModeRequested,
    ClientEvent,
    IdentificationReceived,
    MeterEvent,
    OperandReceived,
    ReadoutReceived,
    SetLine,
    Transmit,
)
from .messages import CommandMessage, DataMessage
from .meter import MeterConnection, MeterPortConfig
from .transitions import ClientState

__all__ = ["ConnectionPair", "Wire", "run_session"]


@dataclass
class Wire:
    """What crossed the simulated line, for assertions: ``(time, "meter"|"client", bytes)``."""

    frames: list[tuple[float, str, bytes]] = field(default_factory=list)
    #: The sender's line settings when each frame of ``frames`` crossed (same index).
    lines: list[SetLine] = field(default_factory=list)

    def sent_by(self, side: str) -> list[bytes]:
        return [data for _, who, data in self.frames if who == side]

    def bauds(self, side: str) -> list[tuple[bytes, int]]:
        """``(bytes, baud)`` of every frame ``side`` sent."""
        return [(data, line.baud) for (_, who, data), line in zip(self.frames, self.lines, strict=True) if who == side]


class ConnectionPair:
    """A :class:`MeterConnection` and a :class:`ClientConnection` talking through memory."""

    def __init__(
        self,
        meter: MeterConnection,
        client: ClientConnection,
        session: MeterPortSession | None = None,
        clock: SimulatedClock | None = None,
        *,
        session_factory: Callable[[], MeterPortSession] | None = None,
        binary_factory: Callable[[BinaryModeRequested], BinarySession | None] | None = None,
    ) -> None:
        self.client = client
        self.clock = clock or SimulatedClock()
        #: the same runner the asyncio server uses joins the meter connection to the application's sessions
        self.runner = SessionRunner(meter, session_factory, session=session, open_binary=binary_factory)
        self.client_events: list[ClientEvent] = []
        self.meter_events: list[MeterEvent] = []
        self.wire = Wire()
        self.meter_line = SetLine(baud=300)
        self.client_line = SetLine(baud=300)
        self.line_mismatches: list[tuple[SetLine, SetLine]] = []
        self._line_pairs: list[tuple[SetLine, SetLine]] = []
        #: True once :meth:`client_send_raw` bypassed the client (its line then follows nothing the meter knows).
        self.client_bypassed = False
        self._cursor = 0

    @classmethod
    def for_application(
        cls, app: MeterApplication, *, client_config: ClientConfig | None = None, clock: SimulatedClock | None = None
    ) -> ConnectionPair:
        config = app.port_config()
        if not isinstance(config, MeterPortConfig):
            raise LocalProtocolError("port_config() must return a MeterPortConfig")
        binary = app.open_binary_session if isinstance(app, BinaryApplication) else None
        return cls(
            MeterConnection(config),
            ClientConnection(client_config),
            clock=clock,
            session_factory=app.open_session,
            binary_factory=binary,
        )

    @property
    def meter(self) -> MeterConnection:
        return self.runner.connection

    @property
    def session(self) -> MeterPortSession | None:
        return self.runner.session

    @session.setter
    def session(self, session: MeterPortSession | None) -> None:
        self.runner.use_session(session)

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    # --- pumping --------------------------------------------------------------------------------------

    def pump(self) -> None:
        """Move bytes and events until nothing is left to do without time passing beyond the next message."""
        for _ in range(100_000):
            if not self._step():
                return
        raise LocalProtocolError("connection pair did not settle (endless exchange)")

    def _advance_to(self, t: float) -> None:
        if t > self.now:
            self.clock.advance(t - self.now)

    def _deliver(self, directives: list[Transmit | SetLine], sender: str) -> bool:
        moved = False
        for d in directives:
            moved = True
            if isinstance(d, SetLine):
                if sender == "meter":
                    self.meter_line = d
                else:
                    self.client_line = d
                continue
            self._advance_to(d.not_before)
            if self._line_key(self.meter_line) != self._line_key(self.client_line):
                self.line_mismatches.append((self.meter_line, self.client_line))
            self.wire.frames.append((self.now, sender, d.data))
            self.wire.lines.append(self.meter_line if sender == "meter" else self.client_line)
            self._line_pairs.append(
                (self.meter_line, self.client_line) if sender == "meter" else (self.client_line, self.meter_line)
            )
            if sender == "meter":
                self.client.receive_data(d.data, self.now)
            else:
                self.runner.receive_data(d.data, self.now)
        return moved

    @staticmethod
    def _line_key(line: SetLine) -> tuple[int, int, str]:
        return (line.baud, line.bytesize, line.parity)

    def assert_lines_agree(self) -> None:
        """Fail (AssertionError) if bytes ever crossed while the two ends had different line settings, and show
        the frames that did."""
        if not self.line_mismatches:
            return
        bad = [
            f"{who} {data[:24]!r} at {line.baud} Bd"
            for (_, who, data), line, other in self._frame_lines()
            if self._line_key(line) != self._line_key(other)
        ]
        raise AssertionError(f"{len(self.line_mismatches)} frame(s) crossed with mismatched lines: {bad}")

    def _frame_lines(self) -> list[tuple[tuple[float, str, bytes], SetLine, SetLine]]:
        return [(f, line, other) for f, (line, other) in zip(self.wire.frames, self._line_pairs, strict=True)]

    def _step(self) -> bool:
        moved = self._deliver(self.runner.outputs(), "meter")
        events = self.runner.process(self.now)
        if events:
            moved = True
            self.meter_events.extend(events)
        moved = self._deliver(self.client.outputs(), "client") or moved
        while (cevent := self.client.next_event()) is not None:
            moved = True
            self.client_events.append(cevent)
        return moved

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, firing every timer that falls due on the way."""
        end = self.now + seconds
        while True:
            self.pump()
            due = [t for t in (self.meter.deadline(), self.client.deadline()) if t is not None and t <= end]
            if not due:
                break
            self._advance_to(min(due))
            self.meter.handle_timer(self.now)
            self.client.handle_timer(self.now)
        self._advance_to(end)
        self.pump()

    def new_events(self) -> list[ClientEvent]:
        """Client events since the last call."""
        events = self.client_events[self._cursor :]
        self._cursor = len(self.client_events)
        return events

    def _wait_for(self, kinds: tuple[type, ...], limit: float = 30.0) -> ClientEvent:
        end = self.now + limit
        while True:
            self.pump()
            while self._cursor < len(self.client_events):
                event = self.client_events[self._cursor]
                self._cursor += 1
                if isinstance(event, kinds):
                    return event
            due = [t for t in (self.meter.deadline(), self.client.deadline()) if t is not None]
            if not due or min(due) > end:
                raise LocalProtocolError(f"no {', '.join(k.__name__ for k in kinds)} within {limit} s")
            self._advance_to(min(due))
            self.meter.handle_timer(self.now)
            self.client.handle_timer(self.now)

    def wait_for(self, *kinds: type, limit: float = 30.0) -> ClientEvent:
        """Run until the client reports one of ``kinds`` (firing timers as needed)."""
        return self._wait_for(tuple(kinds), limit)

    # --- conveniences ---------------------------------------------------------------------------------

    def sign_on(self) -> IdentificationReceived:
        self.client.sign_on(self.now)
        event = self.wait_for(IdentificationReceived)
        assert isinstance(event, IdentificationReceived)
        return event

    def readout(self) -> DataMessage:
        self.sign_on()
        if self.client.state is ClientState.IDENTIFIED:
            self.client.select_option(self.now, mode="0")
        event = self.wait_for(ReadoutReceived)
        assert isinstance(event, ReadoutReceived)
        return event.message

    def programming(self) -> str:
        """Sign on, select programming mode and return the P0 operand."""
        self.sign_on()
        self.client.select_option(self.now, mode="1")
        event = self.wait_for(OperandReceived)
        assert isinstance(event, OperandReceived)
        return event.operand

    def command(self, command: CommandMessage) -> ClientEvent:
        """Send a command and return the client's first event about its answer."""
        from .events import (
            AnswerReceived,
            BreakReceived,
            ErrorReceived,
            PositiveAck,
            RepeatRequested,
            ResponseTimeout,
        )

        self.client.send(command, self.now)
        return self.wait_for(
            AnswerReceived, ErrorReceived, PositiveAck, RepeatRequested, BreakReceived, ResponseTimeout
        )

    def sign_off(self) -> None:
        self.client.sign_off(self.now)
        self.pump()

    def push(self) -> DataMessage:
        """Mode D: let the meter push once (the client must be listening) and return what the client read."""
        self.meter.push(self.now)
        event = self.wait_for(ReadoutReceived)
        assert isinstance(event, ReadoutReceived)
        return event.message

    def client_send_raw(self, data: bytes) -> None:
        """Put bytes on the line from the client side, bypassing the client state machine (fuzzing)."""
        self.client_bypassed = True
        self.wire.frames.append((self.now, "client", data))
        self.wire.lines.append(self.client_line)
        self._line_pairs.append((self.client_line, self.client_line))
        self.runner.receive_data(data, self.now)
        self.pump()


def run_session(
    app: MeterApplication, *, client_config: ClientConfig | None = None, clock: SimulatedClock | None = None
) -> ConnectionPair:
    """A :class:`ConnectionPair` serving ``app`` (its ``port_config()``, a fresh ``open_session()`` per sign-on)."""
    return ConnectionPair.for_application(app, client_config=client_config, clock=clock)
