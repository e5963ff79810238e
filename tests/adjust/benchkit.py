"""An in-process production bench: the demo meter (unadjusted) on a simulated clock, its control channel and its
adjustment port, driven without sockets."""

from __future__ import annotations

from datetime import UTC, datetime

from meterkit.clock import SimulatedClock
from meterkit.meter.adjust_protocol import AdjustmentPort
from meterkit.meter.config import MeterConfig, load_config
from meterkit.meter.control import ControlChannel
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.storage import NvStore

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def demo_config(**replace: str) -> MeterConfig:
    """The demo meter with a live source (``old=new`` text replacements)."""
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return load_config(text=text)


class InProcessBench:
    def __init__(self, vm: VirtualMeter, clock: SimulatedClock) -> None:
        self.vm = vm
        self.clock = clock
        self.control = ControlChannel(vm)
        self.port = AdjustmentPort(vm)
        self.log: list[str] = []

    def apply(self, voltage_v: float, current_a: float, angle_deg: float) -> None:
        reply = self.control.handle(f"load {voltage_v!r} {current_a!r} {angle_deg!r}")
        assert reply.startswith("ok"), reply

    def adjust(self, line: str) -> str:
        reply = self.port.handle(line)
        self.log.append(f"{line} -> {reply}")
        return reply

    def dwell(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.vm.tick()


def demo_bench(store: NvStore | None = None, config: MeterConfig | None = None) -> InProcessBench:
    clock = SimulatedClock(START)
    vm = VirtualMeter(config or demo_config(), clock=clock, store=store)
    return InProcessBench(vm, clock)
