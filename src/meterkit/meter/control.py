"""The control channel of a served virtual meter: the physical inputs a tester operates while the meter runs.

Sans-IO: :meth:`ControlChannel.handle` takes one line of text and returns one reply line (``ok ...`` or
``error: ...``); nothing raises out of it.  ``meterkit serve --control tcp://127.0.0.1:PORT`` puts it on a loopback TCP
line server (:mod:`meterkit.transport.control`); ``meterkit control URL COMMAND...`` sends one command.

Whoever reaches the control channel has physical access to the meter: they can open the terminal cover, press the
sealed button and cut the supply.

Commands (case-insensitive)::

    cover open | cover close          the terminal cover switch
    button                            the sealed button: the next session within the write window gets level 3
    reset-button                      the billing-reset button (refused within the reset lock-out)
    power down                        supply off: the port is dead, the meter logs the outage
    power up [cover-open|cover-closed]
                                      supply back; the cover as found at power-up (default: as it is now); an opening
                                      while unpowered is a tamper event at power-up
    load [L1|L2|L3] V I [ANGLE] ... [f HZ]
                                      the live load: per phase volts, amperes and the angle (degrees) by which the
                                      current lags; without a phase name for all three phases; ``f`` the frequency
    status                            power, cover, relay, button, load, the meter's time
    help
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import MeterkitError
from .metrology import PhaseInput, measure

if TYPE_CHECKING:
    from ..security.seclog import SecurityLogEntry
    from .virtual import VirtualMeter

__all__ = [
    "Button",
    "ControlChannel",
    "ControlCommand",
    "ControlError",
    "Cover",
    "Help",
    "Load",
    "Power",
    "ResetButton",
    "Status",
    "parse_command",
]

MAX_LINE = 1024
PHASES = ("L1", "L2", "L3")
HELP = (
    "commands: cover open|close; button; reset-button; power down; power up [cover-open|cover-closed]; "
    "load [L1|L2|L3] V I [ANGLE] ... [f HZ]; status; help"
)


class ControlError(MeterkitError):
    """A control command that cannot be carried out (bad syntax, a value out of range, the wrong state)."""


@dataclass(frozen=True, slots=True)
class Cover:
    open: bool


@dataclass(frozen=True, slots=True)
class Button:
    pass


@dataclass(frozen=True, slots=True)
class ResetButton:
    pass


@dataclass(frozen=True, slots=True)
class Power:
    up: bool
    #: at power-up: True cover found open, False found closed, None as it is now
    cover_open: bool | None = None


@dataclass(frozen=True, slots=True)
class Load:
    #: phase index (0-2) -> (volts, amperes, angle in degrees)
    phases: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    frequency_hz: float | None = None


@dataclass(frozen=True, slots=True)
class Status:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    pass


ControlCommand = Cover | Button | ResetButton | Power | Load | Status | Help


def _number(token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ControlError(f"{what}: {token!r} is not a number") from None
    if not math.isfinite(value):
        raise ControlError(f"{what}: {token!r} is not a finite number")
    return value


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _parse_load(args: list[str]) -> Load:
    if not args:
        raise ControlError("load needs V I [ANGLE], per phase as L1 V I [ANGLE] ..., and/or f HZ")
    phases: dict[int, tuple[float, float, float]] = {}
    frequency: float | None = None
    i = 0
    while i < len(args):
        head = args[i].upper()
        if head in ("F", "FREQ", "FREQUENCY"):
            if i + 1 >= len(args):
                raise ControlError("load: f needs a frequency in Hz")
            frequency = _number(args[i + 1], "frequency")
            i += 2
            continue
        if head in PHASES:
            targets = [PHASES.index(head)]
            i += 1
            label = head
        elif i == 0 and _is_number(args[0]):
            targets = [0, 1, 2]
            label = "load"
        else:
            raise ControlError(f"load: expected L1, L2, L3 or f, got {args[i]!r}")
        numbers: list[float] = []
        while i < len(args) and len(numbers) < 3 and args[i].upper() not in (*PHASES, "F", "FREQ", "FREQUENCY"):
            numbers.append(_number(args[i], f"{label} {('voltage', 'current', 'angle')[len(numbers)]}"))
            i += 1
        if len(numbers) < 2:
            raise ControlError(f"{label}: give the voltage and the current (and optionally the angle)")
        volts, amps = numbers[0], numbers[1]
        angle = numbers[2] if len(numbers) == 3 else 0.0
        for index in targets:
            if index in phases:
                raise ControlError(f"load: {PHASES[index]} given twice")
            phases[index] = (volts, amps, angle)
    return Load(phases=phases, frequency_hz=frequency)


def parse_command(line: str) -> ControlCommand:
    """One command line -> a command; raises :class:`ControlError` with a one-line message."""
    if len(line) > MAX_LINE:
        raise ControlError(f"line too long ({len(line)} characters, at most {MAX_LINE})")
    words = line.split()
    if not words:
        raise ControlError("empty command (try help)")
    verb, args = words[0].lower(), words[1:]
    lowered = [a.lower() for a in args]
    if verb == "cover":
        if lowered in (["open"], ["close"], ["closed"]):
            return Cover(open=lowered[0] == "open")
        raise ControlError("cover open | cover close")
    if verb == "button" and not args:
        return Button()
    if verb == "reset-button" and not args:
        return ResetButton()
    if verb == "power":
        if lowered == ["down"]:
            return Power(up=False)
        if lowered[:1] == ["up"] and len(lowered) <= 2:
            if len(lowered) == 1:
                return Power(up=True)
            if lowered[1] in ("cover-open", "cover-closed"):
                return Power(up=True, cover_open=lowered[1] == "cover-open")
        raise ControlError("power down | power up [cover-open|cover-closed]")
    if verb == "load":
        return _parse_load(args)
    if verb == "status" and not args:
        return Status()
    if verb in ("help", "?") and not args:
        return Help()
    if verb in ("cover", "button", "reset-button", "power", "load", "status", "help"):
        raise ControlError(f"{verb} takes no arguments like {' '.join(args)!r} (try help)")
    raise ControlError(f"unknown command {words[0]!r} (try help)")


def _one_line(text: str) -> str:
    return " ".join(text.split())


class ControlChannel:
    """Operates one :class:`~meterkit.meter.virtual.VirtualMeter`'s physical inputs through its public methods."""

    def __init__(self, meter: VirtualMeter) -> None:
        self.vm = meter
        #: the cover switch as it physically is (the meter only learns about it while powered)
        self.cover_physically_open = meter.security.cover_open
        self._opened_unpowered = False

    @property
    def powered(self) -> bool:
        """Whether the meter has supply (what the server's ``powered`` hook asks)."""
        return bool(self.vm.meter.powered)

    def handle(self, line: str) -> str:
        """One line in, one reply line out: ``ok ...`` or ``error: ...``; never raises."""
        try:
            return _one_line(self.execute(parse_command(line)))
        except MeterkitError as exc:
            return "error: " + _one_line(str(exc))
        except Exception as exc:  # a bug here must not take the server down
            return f"error: internal error: {type(exc).__name__}: {_one_line(str(exc))}"

    def execute(self, command: ControlCommand) -> str:
        if isinstance(command, Help):
            return "ok " + HELP
        if isinstance(command, Status):
            return "ok " + self.status()
        if isinstance(command, Load):
            return self._load(command)
        if isinstance(command, Power):
            return self._power_up(command.cover_open) if command.up else self._power_down()
        if isinstance(command, Cover):
            return self._cover(command.open)
        self._need_power(command)
        if isinstance(command, Button):
            self.vm.security.button_pressed()
            until = self.vm.security.button_until
            return f"ok button: level 3 for the next session until {until.isoformat() if until else '?'}"
        self.vm.tick()
        self.vm.press_button()
        return f"ok billing reset, count {self.vm.meter.reset_count}"

    # --- inputs -----------------------------------------------------------------------------------------------

    def _need_power(self, command: ControlCommand) -> None:
        if not self.powered:
            name = "button" if isinstance(command, Button) else "reset-button"
            raise ControlError(f"{name}: the meter is powered down")

    def _cover(self, open_: bool) -> str:
        state = "open" if open_ else "closed"
        if not self.powered:
            if open_ == self.cover_physically_open:
                raise ControlError(f"the cover is already {state}")
            self.cover_physically_open = open_
            self._opened_unpowered |= open_
            return f"ok cover={state} (the meter is powered down: it finds out at power-up)"
        security = self.vm.security
        if open_ == security.cover_open:
            raise ControlError(f"the cover is already {state}")
        self.vm.tick()
        mark = self._log_mark()
        if open_:
            self.vm.open_cover()
        else:
            self.vm.close_cover()
        self.cover_physically_open = open_
        relay = "closed" if security.relay_connected else "open"
        return f"ok cover={state} relay={relay} events={','.join(self._events_since(mark)) or '-'}"

    def _power_down(self) -> str:
        if not self.powered:
            raise ControlError("the meter is already powered down")
        vm = self.vm
        vm.power_down()
        self._opened_unpowered = False
        return f"ok power=down at {vm.meter.now.isoformat()}"

    def _power_up(self, cover_open: bool | None) -> str:
        if self.powered:
            raise ControlError("the meter is already powered up")
        vm = self.vm
        if cover_open is not None:
            self._opened_unpowered |= cover_open and not self.cover_physically_open
            self.cover_physically_open = cover_open
        mark = self._log_mark()
        # the cover switch latches while unpowered: an opening found at power-up is a tamper event
        vm.power_up(cover_open=self.cover_physically_open or self._opened_unpowered)
        if vm.security.cover_open and not self.cover_physically_open:
            vm.close_cover()
        self._opened_unpowered = False
        events = ",".join(self._events_since(mark)) or "-"
        cover = "open" if vm.security.cover_open else "closed"
        relay = "closed" if vm.security.relay_connected else "open"
        return f"ok power=up at {vm.meter.now.isoformat()} cover={cover} relay={relay} events={events}"

    def _load(self, command: Load) -> str:
        vm = self.vm
        metrology = vm.config.metrology
        frequency = metrology.frequency_hz if command.frequency_hz is None else command.frequency_hz
        if not 0 < frequency <= 1000:
            raise ControlError(f"frequency {frequency:g} Hz is outside 0-1000 Hz")
        current = list(vm.live.phases(vm.meter.now))
        while len(current) < 3:
            current.append(PhaseInput(voltage_v=metrology.nominal_voltage_v, current_a=0.0))
        for index, (volts, amps, angle) in sorted(command.phases.items()):
            name = PHASES[index]
            if not 0 <= volts <= 1000:
                raise ControlError(f"{name}: voltage {volts:g} V is outside 0-1000 V")
            if not 0 <= amps <= metrology.max_current_a:
                raise ControlError(f"{name}: current {amps:g} A is outside 0-{metrology.max_current_a:g} A")
            if not -360 <= angle <= 360:
                raise ControlError(f"{name}: angle {angle:g} is outside -360..360 degrees")
            current[index] = PhaseInput(voltage_v=volts, current_a=amps, angle_deg=angle)
        phases = tuple(current)
        total = measure(phases, frequency)
        vm.tick()  # the time so far under the old load
        if command.frequency_hz is not None and command.frequency_hz != metrology.frequency_hz:
            vm.set_frequency(command.frequency_hz)
        vm.set_phases(phases)
        return f"ok load {_phases_text(phases)} f={frequency:g}Hz P={total.p_w / 1000:.3f}kW"

    # --- reading -----------------------------------------------------------------------------------------------

    def status(self) -> str:
        vm = self.vm
        security = vm.security
        now = vm.meter.now
        until = security.button_until
        button = f"armed-until-{until.isoformat()}" if until is not None and now <= until else "idle"
        live = vm.source is vm.live
        phases = vm.live.phases(now) if live else vm.meter.phase_inputs
        parts = [
            f"power={'up' if self.powered else 'down'}",
            f"cover={'open' if (security.cover_open if self.powered else self.cover_physically_open) else 'closed'}",
            f"relay={'closed' if security.relay_connected else 'open'}",
            f"button={button}",
            f"source={'live' if live else 'synthetic'}",
            f"f={vm.config.metrology.frequency_hz:g}Hz",
        ]
        if phases:
            parts.append(_phases_text(tuple(phases)))
        parts.append(f"time={now.isoformat()}")
        return " ".join(parts)

    def _log_mark(self) -> SecurityLogEntry | None:
        entries = self.vm.security.log_entries()
        return entries[-1] if entries else None

    def _events_since(self, mark: SecurityLogEntry | None) -> list[str]:
        """Kinds of the security-log entries after ``mark`` (numbers stay put when the log evicts old entries)."""
        return [e.kind for e in self.vm.security.log_entries(mark.seq if mark is not None else 0)]


def _phases_text(phases: tuple[PhaseInput, ...]) -> str:
    return " ".join(
        f"{name}={p.voltage_v:g}V/{p.current_a:g}A/{p.angle_deg:g}deg" for name, p in zip(PHASES, phases, strict=False)
    )
