"""The virtual meter: a :class:`~meterkit.meter.core.Meter`, its load source, its NV memory and its optical port.

``load_virtual_meter`` is what ``meterkit serve`` runs.  With ``--state`` the meter's non-volatile memory lives in a
SQLite file.  What is committed when (see :mod:`.nvram`): every load-profile capture, billing reset, event, parameter
change and new maximum demand; in live serving also the end of every minute, so of every demand sub-period (at most
one commit a minute of meter time).  A restart after ``kill -9`` resumes from the last commit and logs the gap as a
power-down event (at the last commit) and a power-up event (now): nothing completed is lost, only the running
sub-period.  With ``--replay`` the meter runs through a load-profile file on a simulated clock as fast as possible
(resuming after the last committed interval when the state already holds part of the file), then holds its clock at
the end of the file.  A file whose peak is beyond the meter's measuring range is refused before anything runs.

Live inputs beyond the measuring range (``[metrology] max_current_a``, ``max_voltage_v``) saturate at the range, as a
real meter's measurement does: bit 3 of ``F.F`` is set while they do, and the start and end are logged (event 06).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

from ..clock import Clock, SimulatedClock, SystemClock
from ..errors import ConfigError
from ..headend import AlarmOutbox, AlarmSealer
from ..iec62056_21.application import BinarySession
from ..iec62056_21.events import BinaryModeRequested
from ..iec62056_21.meter import MeterPortConfig
from ..security import MeterIdentity, PortSecurity, SecurityConfig
from ..security.port import meter_alarm_key
from ..security.timebase import SecurityClock
from ..storage import NvSecurityStore, NvStore
from .calibration import Calibration, release_adopted_record
from .catalogue import Reading, catalogue
from .config import MeterConfig, load_config
from .core import Meter
from .legal import LegalWatch
from .metrology import PhaseInput, measure
from .nvram import NV_EVENT, MeterNv
from .session import MeterSession
from .sources import LiveSource, ReplayInterval, SyntheticSource, read_replay

__all__ = [
    "ERROR_BITS",
    "VirtualMeter",
    "check_readout",
    "check_replay_range",
    "demo_config_path",
    "load_virtual_meter",
]

logger = logging.getLogger(__name__)

#: NV key of the clock writes (the live clock's written offset and the meter time's total shift), JSON in seconds
CLOCK_WRITES_KEY = "clock.writes"
STEP_S = 1.0
#: live serving commits the state at the end of every minute of meter time (every demand sub-period is whole minutes,
#: so each sub-period end is committed), at most once a minute, once for a whole catch-up
LIVE_COMMIT_S = 60
#: the bits of the error register ``F.F``
ERROR_BITS = {0: "NV memory", 1: "clock", 2: "registers", 3: "input beyond the measuring range (saturated)"}
_RANGE_BIT = 0x08


def check_replay_range(config: MeterConfig, peak_mwh: int, step_s: float, where: str = "replay") -> None:
    """Refuse a replay whose highest interval is beyond the meter's measuring range (ConfigError naming the peak, the
    range and the settings that would take it)."""
    if peak_mwh <= 0 or step_s <= 0:
        return
    peak_kw = (Decimal(peak_mwh) * 3600 / (Decimal(str(step_s)) * 1_000_000)).quantize(Decimal("0.01"))
    pf = Decimal(str(config.source.replay_pf))
    peak_kva = (peak_kw / pf).quantize(Decimal("0.01"))
    metrology = config.metrology
    if peak_kva <= metrology.range_kw:
        return
    amps = math.ceil(float(peak_kva) * 1000 / (3 * metrology.voltage_limit_v))
    factor = 2 if metrology.va_method == "effective" else 1
    scale = config.demand.display_scale
    limits = {"W": Decimal("9.99999"), "kW": Decimal("9999.99"), "MW": Decimal("9999990")}
    fitting = next((s for s in ("W", "kW", "MW") if limits[s] >= peak_kva * factor), "MW")
    unit = "" if limits[scale] >= peak_kva * factor else f' and [demand] display_scale = "{fitting}"'
    raise ConfigError(
        f"{where}: the load peaks at {peak_kw} kW ({peak_kva} kVA at the replay power factor {pf}), beyond the meter's "
        f"measuring range of {metrology.describe_range()}; configure a bigger range: [metrology] max_current_a = "
        f"{amps} or more{unit}"
    )


def check_readout(config: MeterConfig) -> None:
    """Every register of the public readout must be in the register catalogue (ConfigError naming the others)."""
    unknown = [a for a in config.readout.public if catalogue().spec(a) is None]
    if unknown:
        raise ConfigError(f"[readout] public: no such register {', '.join(unknown)} (the registers: docs/registers.md)")


def demo_config_path() -> Path:
    """The packaged copy of ``examples/demo-meter.toml``."""
    return Path(str(resources.files("meterkit") / "data" / "demo-meter.toml"))


class VirtualMeter:
    """A meter application for the optical-port server (see :mod:`meterkit.iec62056_21.application`)."""

    def __init__(
        self,
        config: MeterConfig,
        *,
        clock: Clock | None = None,
        store: NvStore | None = None,
        start: datetime | None = None,
        follow_clock: bool = True,
        adopt_state: bool = False,
    ) -> None:
        """``adopt_state``: take over a state written by another meter identity or with other settings (logged);
        without it such a state is refused (DataError naming both)."""
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.store = store or NvStore(":memory:")
        self.follow_clock = follow_clock
        begin = start or (self.clock.now() if follow_clock else config.clock.start)
        self.meter = Meter(config, now=begin)
        self.nv = MeterNv(self.store, self.meter)
        adopted = self.nv.check_identity(adopt=adopt_state)
        restored = self.nv.has_snapshot()
        if restored:
            self.nv.load()
        self.nv.attach()
        identity = MeterIdentity(flag=config.identity.manufacturer, serial=config.identity.serial)
        released = None
        if adopted is not None and ("serial" in adopted or "manufacturer" in adopted):
            previous = MeterIdentity(
                flag=adopted.get("manufacturer", identity.flag), serial=adopted.get("serial", identity.serial)
            )
            released = release_adopted_record(self.store, previous, identity, config.adjustment)
        #: the factory adjustment (raw channel errors, corrections, seal); only the adjustment port writes it
        self.calibration = Calibration(self.store, self.meter, identity, config.adjustment, restored=restored)
        self.legal = LegalWatch(self.store, self.meter)
        self.nv.watch_disk()
        if adopted is not None:
            was = ", ".join(f"{k} {v}" for k, v in adopted.items())
            self.meter.log(NV_EVENT, f"state adopted from a meter with {was}")
            if released is not None:
                self.meter.log(5, released)
        self._saturated = False
        # a clock write moves the meter's time, never the security's (security.timebase); following a live clock the
        # meter's time is the clock's plus the written offset, so a write is O(1) (no catching up second by second).
        # Both are kept in NV memory: a meter set a year ahead is still a year ahead after a restart (not frozen
        # until the wall clock catches up), and the security's time does not jump by the written amount.
        self.clock_offset, self.clock_shift = self._stored_clock_writes() if restored else (timedelta(0), timedelta(0))
        if restored:
            alive = self.nv.last_alive()
            down = self.meter.now if alive is None else max(self.meter.now, alive)  # the last commit
            self.meter.power_down(down)
            up = max(down, self._clock_now()) if follow_clock else down
            self.meter.power_up(up)
        else:
            self.meter.log(2, "first power up")
            self.nv.save_snapshot()
        security_store, security_config = NvSecurityStore(self.store), SecurityConfig.from_dict(config.security)
        alarm_key = meter_alarm_key(security_config, security_store, identity)
        self.outbox = AlarmOutbox(self.store, AlarmSealer(flag=identity.flag, meter=identity.serial, key=alarm_key))
        self.frozen_at: float | None = None  # the clock's monotonic time when a replay ended
        self.security = PortSecurity(
            store=security_store,
            identity=identity,
            config=security_config,
            clock=SecurityClock(self._measured_time, self.clock.monotonic),
            alarms=self.outbox,
        )
        voltage = config.metrology.nominal_voltage_v
        self.live = LiveSource(voltage)
        self.source: SyntheticSource | LiveSource = (
            SyntheticSource(config.source, voltage, config.zone) if config.source.kind == "synthetic" else self.live
        )
        self.frozen = False
        self._binary_face: Callable[[BinaryModeRequested], BinarySession] | None = None
        self.self_test()

    # --- MeterApplication -----------------------------------------------------------------------------

    def port_config(self) -> MeterPortConfig:
        ident = self.config.identity
        mode = self.config.port.protocol_mode
        return MeterPortConfig(
            manufacturer=ident.manufacturer,
            ident=ident.ident,
            baud_char=self.meter.baud_char if mode == "C" else self.config.port.baud_char,
            protocol_mode=mode,
            device_address=self.meter.device_address,
            push_interval=self.config.port.push_interval_s,
            binary_mode=self._binary_face is not None,
        )

    def open_session(self) -> MeterSession:
        return MeterSession(self)

    def attach_binary_face(self, factory: Callable[[BinaryModeRequested], BinarySession] | None) -> None:
        """The binary protocol behind mode E (e.g. DLMS/HDLC): offered in the identification (``\\2``) once set."""
        if factory is not None and self.config.port.protocol_mode != "C":
            raise ConfigError(f"mode E (binary) needs a mode C port, this one is mode {self.config.port.protocol_mode}")
        self._binary_face = factory

    def open_binary_session(self, request: BinaryModeRequested) -> BinarySession | None:
        return None if self._binary_face is None else self._binary_face(request)

    def reading(self, address: str) -> Reading:
        """The typed value of a register of the catalogue (``1.8.0`` -> ``Quantity(Decimal("69.4"), "kWh")``;
        ``*NN`` for billing history); KeyError when there is no such register or period.  Protocol-neutral: what a
        web panel or a publisher reads."""
        return catalogue().reading(self.meter, address)

    # --- time -----------------------------------------------------------------------------------------

    def _measured_time(self) -> datetime:
        """The meter's time without the jumps of clock writes (what the security's clock follows); once a replay
        has ended and the meter's time is held, it goes on in monotonic time, so lockouts expire and write windows
        close while the meter is served."""
        held = 0.0 if self.frozen_at is None else max(0.0, self.clock.monotonic() - self.frozen_at)
        return self.meter.now - self.clock_shift + timedelta(seconds=held)

    def _clock_now(self) -> datetime:
        """The time a live meter follows: the clock's, moved by the clock writes."""
        return self.clock.now() + self.clock_offset

    def tick(self) -> None:
        """Bring the meter up to the clock (live serving); a replayed meter holds its clock.  Writes the disk refused
        before are tried again first."""
        self.store.flush()
        if self.follow_clock and not self.frozen:
            self.advance_to(self._clock_now())

    def advance_to(self, when: datetime, step_s: float = STEP_S) -> None:
        """Measure the source in steps of ``step_s`` up to ``when``.  Following the clock (live), the state is
        committed when a minute (so also any demand sub-period) has ended since the last commit."""
        meter = self.meter
        metrology = self.config.metrology
        imax, vmax, frequency = metrology.max_current_a, metrology.voltage_limit_v, metrology.frequency_hz
        step = timedelta(seconds=step_s)
        while meter.now + step <= when:
            phases = self.source.phases(meter.now)
            for ph in phases:
                if ph.current_a > imax or ph.voltage_v > vmax:
                    phases = self._saturate(phases, imax, vmax)
                    break
            else:
                if self._saturated:
                    self._saturation_ended()
            _raw, measured = self.calibration.measure_path(phases)  # the channels' raw values, corrected
            meter.set_phase_inputs(measured)
            meter.step(measure(measured, frequency), step_s, relay_closed=self.security.relay_connected)
        if self.follow_clock:
            epoch = int(meter.now.timestamp())
            if datetime.fromtimestamp(epoch - epoch % LIVE_COMMIT_S, UTC) > self.nv.snapshot_at:
                self.save()  # a minute (and with it any demand sub-period) ended after the last commit

    def _saturate(self, phases: tuple[PhaseInput, ...], imax: float, vmax: float) -> tuple[PhaseInput, ...]:
        """Inputs beyond the measuring range are measured at the range (F.F bit 3, logged when it starts)."""
        if not self._saturated:
            self._saturated = True
            self.meter.set_error_bits(_RANGE_BIT, mask=_RANGE_BIT)
            worst = ", ".join(f"L{i} {ph.voltage_v:g} V {ph.current_a:g} A" for i, ph in enumerate(phases, start=1))
            self.meter.log(
                6,
                f"input beyond the measuring range ({worst}; range {vmax:g} V {imax:g} A per phase): "
                "measured at the range",
            )
        return tuple(
            PhaseInput(voltage_v=min(ph.voltage_v, vmax), current_a=min(ph.current_a, imax), angle_deg=ph.angle_deg)
            for ph in phases
        )

    def _saturation_ended(self) -> None:
        self._saturated = False
        self.meter.set_error_bits(0, mask=_RANGE_BIT)
        self.meter.log(6, "input back within the measuring range")

    def set_phases(self, phases: tuple[PhaseInput, ...]) -> None:
        """Live control: the load from now on (switches the meter to the live source)."""
        self.live.set(phases)
        self.source = self.live

    def set_frequency(self, hz: float) -> None:
        """Live control: the mains frequency of the measurements from now on."""
        metrology = self.config.metrology.model_copy(update={"frequency_hz": hz})
        self.config = self.config.model_copy(update={"metrology": metrology})

    def set_clock(self, when: datetime) -> None:
        """A clock write: O(1) (the meter jumps; a live meter follows its clock from the written time on)."""
        when = when.astimezone(UTC)
        self.clock_shift += when - self.meter.now
        self.meter.set_clock(when)
        if isinstance(self.clock, SimulatedClock):
            self.clock.set(when)
        elif self.follow_clock:
            self.clock_offset = when - self.clock.now()
        self.store.set_value(
            CLOCK_WRITES_KEY,
            json.dumps({"offset_s": self.clock_offset.total_seconds(), "shift_s": self.clock_shift.total_seconds()}),
        )

    def _stored_clock_writes(self) -> tuple[timedelta, timedelta]:
        """The written offset of a live clock and the total shift of the meter's time by clock writes, as stored
        (zero for a state written before they were kept, or an unreadable value: the meter then runs as before)."""
        text = self.store.get_value(CLOCK_WRITES_KEY)
        if text is None:
            return timedelta(0), timedelta(0)
        try:
            doc = json.loads(text)
            return timedelta(seconds=float(doc["offset_s"])), timedelta(seconds=float(doc["shift_s"]))
        except (ValueError, KeyError, TypeError, OverflowError):
            logger.warning("meter %s: stored clock offset %r unreadable, ignored", self.config.identity.serial, text)
            return timedelta(0), timedelta(0)

    def press_button(self) -> None:
        """The sealed billing-reset button (the meter first catches up with the clock when it follows it)."""
        self.tick()
        self.meter.billing_reset("button")

    def power_down(self) -> None:
        """The supply fails now: the meter logs the outage, stops measuring and commits its memory."""
        self.tick()
        self.meter.power_down(self.meter.now)
        self.security.power_down()
        self.save()

    def power_up(self, *, cover_open: bool) -> None:
        """The supply returns (at the clock's time, or at the held time of a replayed meter).  ``cover_open``: the
        cover switch as latched while unpowered; an opening found now is a tamper event."""
        at = self._clock_now() if self.follow_clock and not self.frozen else self.meter.now
        self.meter.power_up(at)
        self.security.power_up(cover_open=cover_open)
        self.save()

    def open_cover(self) -> None:
        """The terminal cover is opened (a tamper event unless a level-3 session authorised it)."""
        self.security.cover_opened()

    def close_cover(self) -> None:
        self.security.cover_closed()

    def self_test(self) -> str:
        """Check the NV memory, the clock and the registers; sets the bits of the error register ``F.F``:
        bit 0 NV memory, bit 1 clock, bit 2 registers (bit 3, input beyond the measuring range, is kept as it is).
        Returns ``OK`` or ``ERR <bits>``."""
        bits = self.meter.error_register & _RANGE_BIT
        try:
            ok = self.store.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        except Exception:
            ok = False
        if not ok or self.store.fault is not None:
            bits |= 1
        if self.follow_clock and abs((self._clock_now() - self.meter.now).total_seconds()) > 86400:
            bits |= 2
        regs = self.meter.registers.total
        if (
            any(v < 0 for v in regs.values())
            or sum(r.get("A+", 0) for r in self.meter.registers.tariffs.values()) != regs["A+"]
        ):
            bits |= 4
        result = "OK" if bits == 0 else f"ERR {bits:02X}"
        self.meter.set_error_bits(bits)
        self.meter.set_self_test_result(result)
        self.meter.log(10, f"self-test {result}")
        self.save()
        return result

    def save(self) -> None:
        self.nv.save_snapshot()
        self.legal.check()  # a change of a legally relevant parameter is logged when it is committed

    def clear_profile(self) -> None:
        """Forget the load profile, in memory and in the NV memory."""
        self.meter.clear_profile()
        self.nv.clear_profile()

    def connect_relay(self) -> None:
        self.security.connect_relay()

    # --- replay ---------------------------------------------------------------------------------------

    def replay(self, path: Path) -> int:
        """Run through a load-profile file; returns the number of intervals applied.  A file beyond the measuring
        range is refused (ConfigError) before anything runs."""
        step, intervals = read_replay(path)
        if intervals:
            check_replay_range(self.config, max(iv.a_plus_mwh for iv in intervals), step, str(path))
        return self.replay_intervals(intervals)

    def replay_intervals(self, intervals: Iterable[ReplayInterval]) -> int:
        """Run through replayed intervals in time order (the range is the caller's to check, see
        :func:`check_replay_range`), then hold the clock; returns the number of intervals applied."""
        pf = self.config.source.replay_pf
        add = self.meter.add_interval
        applied = 0
        for iv in intervals:
            if iv.end <= self.meter.now:
                continue  # already in the NV memory (resumed replay)
            add(iv.end, iv.a_plus_mwh, pf=pf)
            applied += 1
        self.nv.save_snapshot()
        self.frozen = True
        self.frozen_at = self.clock.monotonic()
        return applied


def load_virtual_meter(
    config: Path | None,
    state: Path | None,
    *,
    replay: Path | None = None,
    clock: Clock | None = None,
    config_text: str | None = None,
    adopt_state: bool = False,
) -> VirtualMeter:
    """The meter ``meterkit serve`` runs: the demo meter when no config is given, in-memory NV without a state.
    ``adopt_state``: take over another meter's state (see :class:`VirtualMeter`)."""
    cfg = load_config(text=config_text) if config_text is not None else load_config(config or demo_config_path())
    check_readout(cfg)
    if replay is not None:
        step, intervals = read_replay(replay)
        if not intervals:
            raise ConfigError(f"{replay}: nothing to replay")
        check_replay_range(cfg, max(iv.a_plus_mwh for iv in intervals), step, str(replay))
        first_start = intervals[0].end - timedelta(seconds=step)
        store = NvStore(state) if state is not None else NvStore(":memory:")
        sim = clock if isinstance(clock, SimulatedClock) else SimulatedClock(first_start)
        vm = VirtualMeter(cfg, clock=sim, store=store, start=first_start, follow_clock=False, adopt_state=adopt_state)
        vm.replay_intervals(intervals)
        if isinstance(sim, SimulatedClock):
            sim.set(vm.meter.now)
        return vm
    store = NvStore(state) if state is not None else NvStore(":memory:")
    return VirtualMeter(cfg, clock=clock, store=store, follow_clock=True, adopt_state=adopt_state)
