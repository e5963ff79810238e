"""The virtual meter: a :class:`~meterkit.meter.core.Meter`, its load source, its NV memory and its optical port.

``load_virtual_meter`` is what ``meterkit serve`` runs.  With ``--state`` the meter's non-volatile memory lives in a
SQLite file: a restart after ``kill -9`` resumes from the last committed load-profile interval, logging the gap as a
power-down/power-up pair.  With ``--replay`` the meter runs through a load-profile file on a simulated clock as fast
as possible (resuming after the last committed interval when the state already holds part of the file), then holds
its clock at the end of the file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from ..clock import Clock, SimulatedClock, SystemClock
from ..errors import ConfigError
from ..headend import AlarmOutbox
from ..iec62056_21.meter import MeterPortConfig
from ..security import MeterIdentity, PortSecurity, SecurityConfig
from ..storage import NvStore
from .config import MeterConfig, load_config
from .core import Meter
from .metrology import PhaseInput, measure
from .nvram import MeterNv
from .session import MeterSession
from .sources import LiveSource, SyntheticSource, read_replay

__all__ = ["VirtualMeter", "demo_config_path", "load_virtual_meter"]

STEP_S = 1.0


def demo_config_path() -> Path:
    """The packaged copy of ``examples/demo-meter.toml``."""
    return Path(str(resources.files("meterkit") / "data" / "demo-meter.toml"))


class _MeterTime:
    """The security's clock is the meter's own time (simulated during a replay)."""

    def __init__(self, vm: VirtualMeter) -> None:
        self.vm = vm

    def now(self) -> datetime:
        return self.vm.meter.now

    def monotonic(self) -> float:
        return self.vm.clock.monotonic()


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
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.store = store or NvStore(":memory:")
        self.follow_clock = follow_clock
        begin = start or (self.clock.now() if follow_clock else config.clock.start)
        self.meter = Meter(config, now=begin)
        self.nv = MeterNv(self.store, self.meter)
        restored = self.nv.has_snapshot()
        if restored:
            self.nv.load()
        self.nv.attach()
        if restored:
            down = self.meter.now
            self.meter.power_down(down)
            up = max(down, self.clock.now()) if follow_clock else down
            self.meter.power_up(up)
        else:
            self.meter.log(2, "first power up")
            self.nv.save_snapshot()
        self.outbox = AlarmOutbox(self.store)
        self.security = PortSecurity(
            store=self.store,
            identity=MeterIdentity(flag=config.identity.manufacturer, serial=config.identity.serial),
            config=SecurityConfig.from_dict(config.security),
            clock=_MeterTime(self),
            alarms=self.outbox,
        )
        voltage = config.metrology.nominal_voltage_v
        self.live = LiveSource(voltage)
        self.source: SyntheticSource | LiveSource = (
            SyntheticSource(config.source, voltage, config.zone) if config.source.kind == "synthetic" else self.live
        )
        self.frozen = False
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
        )

    def open_session(self) -> MeterSession:
        return MeterSession(self)

    # --- time -----------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Bring the meter up to the clock (live serving); a replayed meter holds its clock."""
        if self.follow_clock and not self.frozen:
            self.advance_to(self.clock.now())

    def advance_to(self, when: datetime, step_s: float = STEP_S) -> None:
        meter = self.meter
        while meter.now + timedelta(seconds=step_s) <= when:
            phases = self.source.phases(meter.now)
            meter.phase_inputs = phases
            meter.step(
                measure(phases, self.config.metrology.frequency_hz), step_s, relay_closed=self.security.relay_connected
            )

    def set_phases(self, phases: tuple[PhaseInput, ...]) -> None:
        """Live control: the load from now on (switches the meter to the live source)."""
        self.live.set(phases)
        self.source = self.live

    def set_clock(self, when: datetime) -> None:
        self.meter.set_clock(when.astimezone(UTC))
        if isinstance(self.clock, SimulatedClock):
            self.clock.set(when)

    def press_button(self) -> None:
        """The sealed billing-reset button."""
        self.meter.billing_reset("button")

    def open_cover(self) -> None:
        """The terminal cover is opened (a tamper event unless a level-3 session authorised it)."""
        self.security.cover_opened()

    def close_cover(self) -> None:
        self.security.cover_closed()

    def self_test(self) -> str:
        """Check the NV memory, the clock and the registers; sets the bits of the error register ``F.F``:
        bit 0 NV memory, bit 1 clock, bit 2 registers.  Returns ``OK`` or ``ERR <bits>``."""
        bits = 0
        try:
            ok = self.store.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        except Exception:
            ok = False
        if not ok:
            bits |= 1
        if self.follow_clock and abs((self.clock.now() - self.meter.now).total_seconds()) > 86400:
            bits |= 2
        regs = self.meter.registers.total
        if (
            any(v < 0 for v in regs.values())
            or sum(r.get("A+", 0) for r in self.meter.registers.tariffs.values()) != regs["A+"]
        ):
            bits |= 4
        self.meter.error_register = bits
        self.meter.self_test_result = "OK" if bits == 0 else f"ERR {bits:02X}"
        self.meter.log(10, f"self-test {self.meter.self_test_result}")
        self.save()
        return self.meter.self_test_result

    def save(self) -> None:
        self.nv.save_snapshot()

    def clear_profile(self) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM load_profile")

    # --- replay ---------------------------------------------------------------------------------------

    def replay(self, path: Path) -> int:
        """Run through a load-profile file; returns the number of intervals applied."""
        _step, intervals = read_replay(path)
        pf = self.config.source.replay_pf
        applied = 0
        for iv in intervals:
            if iv.end <= self.meter.now:
                continue  # already in the NV memory (resumed replay)
            self.meter.add_interval(iv.end, iv.a_plus_mwh, pf=pf)
            applied += 1
        self.nv.save_snapshot()
        self.frozen = True
        return applied


def load_virtual_meter(
    config: Path | None,
    state: Path | None,
    *,
    replay: Path | None = None,
    clock: Clock | None = None,
    config_text: str | None = None,
) -> VirtualMeter:
    """The meter ``meterkit serve`` runs: the demo meter when no config is given, in-memory NV without a state."""
    cfg = load_config(text=config_text) if config_text is not None else load_config(config or demo_config_path())
    store = NvStore(state) if state is not None else NvStore(":memory:")
    if replay is not None:
        from .sources import read_replay as _read

        _step, intervals = _read(replay)
        if not intervals:
            raise ConfigError(f"{replay}: nothing to replay")
        first_start = intervals[0].end - timedelta(seconds=_step)
        sim = clock if isinstance(clock, SimulatedClock) else SimulatedClock(first_start)
        vm = VirtualMeter(cfg, clock=sim, store=store, start=first_start, follow_clock=False)
        vm.replay(replay)
        if isinstance(sim, SimulatedClock):
            sim.set(vm.meter.now)
        return vm
    return VirtualMeter(cfg, clock=clock, store=store, follow_clock=True)
