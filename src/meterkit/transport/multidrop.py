"""Many meters behind one optical endpoint, addressed by device address: the RS-485 multi-drop way.

On a bus every meter hears every sign-on request ``/?ADDRESS!``; the addressed meter answers and all others stay
silent.  :class:`MultiDropBus` is one application for the server that holds many meters by their device address;
each connection to the endpoint gets a :class:`MultiDropRunner`, which listens for a sign-on request while the line
is idle, hands the line (with that request) to the addressed meter's own :class:`SessionRunner` and takes it back
when that meter's session has ended.  The rules:

* an address is matched as the meter matches it (leading zeros are not evaluated, IEC 62056-21 §6.3.1);
* ``/?!`` (no address) gets no answer: on a bus every meter would answer at once;
* an unknown address gets no answer, and bytes outside a session that are not a sign-on request are dropped;
* a sign-on request for another meter during a session ends that session (the other meter answers), as on a bus.

Sans-IO like the rest of the protocol: the runner takes bytes and times and hands out the addressed meter's
directives; the server drives it exactly as it drives a single meter's runner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..iec62056_21.application import MeterApplication, SessionRunner
from ..iec62056_21.events import IoDirective, MeterEvent
from ..iec62056_21.meter import MeterConnection, MeterPortConfig
from ..iec62056_21.transitions import MeterState

__all__ = ["MultiDropBus", "MultiDropRunner", "bus_address"]

#: a sign-on request (parity bits stripped); the address may be empty
_REQUEST = re.compile(rb"/([?#])([0-9A-Za-z ]{0,32})!\r\n")
#: the longest tail kept while waiting for the rest of a request
_KEEP = 40


def bus_address(address: str) -> str:
    """The form an address is matched in (leading zeros are not evaluated)."""
    return address.lstrip("0")


class MultiDropBus:
    """Meters on one line by device address (``{"10000042": meter, ...}``)."""

    def __init__(self, meters: Mapping[str, MeterApplication]) -> None:
        if not meters:
            raise ValueError("a multi-drop bus needs at least one meter")
        self.meters: dict[str, MeterApplication] = {}
        for address, meter in meters.items():
            key = bus_address(address)
            if not key or key in self.meters:
                raise ValueError(f"device address {address!r}: empty or used twice on the bus")
            self.meters[key] = meter
        self._first = next(iter(self.meters.values()))

    def port_config(self) -> MeterPortConfig:
        """The line's idle settings (every meter starts at 300 Bd 7E1)."""
        config = self._first.port_config()
        assert isinstance(config, MeterPortConfig)
        return config

    def meter(self, address: str) -> MeterApplication | None:
        return self.meters.get(bus_address(address)) if address else None

    def open_line(self) -> MultiDropRunner:
        """The runner of one connection to the bus."""
        return MultiDropRunner(self)


class MultiDropRunner(SessionRunner):
    """One line of a :class:`MultiDropBus`: a :class:`SessionRunner` whose connection is the addressed meter's while
    it has the line (an idle connection that never answers otherwise)."""

    def __init__(self, bus: MultiDropBus) -> None:
        super().__init__(MeterConnection(bus.port_config()))
        self.bus = bus
        self._idle = self.connection
        self._active: SessionRunner | None = None
        self._owner: MeterApplication | None = None  # the meter whose runner is active
        self._heard = b""

    @property
    def active(self) -> SessionRunner | None:
        """The runner of the meter that has the line."""
        return self._active

    def receive_data(self, data: bytes, now: float) -> None:
        if not data:  # end of stream
            if self._active is not None:
                self._active.receive_data(data, now)
            return
        if self._active is not None:
            other = _REQUEST.search(bytes(b & 0x7F for b in data))
            if other is None or self.bus.meter(other.group(2).decode("ascii")) is self._owner:
                self._active.receive_data(data, now)
                return
            self._release("other-address")  # another meter is addressed: this one falls silent
        self._listen(data, now)

    def _listen(self, data: bytes, now: float) -> None:
        self._heard = (self._heard + bytes(b & 0x7F for b in data))[-4096:]
        while (found := _REQUEST.search(self._heard)) is not None:
            rest = self._heard[found.end() :]
            self._heard = b""
            meter = self.bus.meter(found.group(2).decode("ascii"))
            if meter is None:  # "/?!" or an address nobody has: silence
                self._heard = rest
                continue
            config = meter.port_config()
            assert isinstance(config, MeterPortConfig)
            self._active = SessionRunner.for_application(MeterConnection(config), meter)
            self._owner = meter
            self.connection = self._active.connection
            self._active.receive_data(found.group(0) + rest, now)
            return
        self._heard = self._heard[-_KEEP:]

    def process(self, now: float) -> list[MeterEvent]:
        return [] if self._active is None else self._active.process(now)

    def outputs(self) -> list[IoDirective]:
        if self._active is None:
            return []
        out = self._active.outputs()
        if self._active.connection.state is MeterState.IDLE and self._active.binary is None:
            self._release("idle")
        return out

    def close(self, reason: str) -> None:
        self._release(reason)

    def restart(self, connection: MeterConnection, reason: str) -> None:
        self._release(reason)

    def _release(self, reason: str) -> None:
        if self._active is not None:
            self._active.close(reason)
        self._active = None
        self._owner = None
        self.connection = self._idle
