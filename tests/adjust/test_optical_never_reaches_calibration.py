"""Nothing on the optical port - any level, any command, cover open or not - reads or writes the calibration.

The optical port is fuzzed after adjustment; the calibration record (corrections, seal, MAC in the NV memory) is
unchanged and no answer carries a correction value.  A planted bug, a catalogue register whose write rule writes a
correction, is caught by the same property.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterkit.iec62056_21.events import AnswerReceived
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.catalogue import Catalogue, Format, RegisterSpec, Settings, WriteRule, catalogue
from meterkit.meter.virtual import VirtualMeter

from ..meter.portkit import level3, session
from .benchkit import demo_bench

CORRECTIONS = (
    "set L1 vgain 0.997009",
    "set L2 igain 0.982318",
    "set L3 phase -0.3517",
    "set L1 ioffset 0.02113",
)
SECRET_TEXTS = ("0.997009", "0.982318", "-0.3517", "0.02113", "0.3517", "997009", "982318")
PLANTED = "C.99.9"


def _adjusted() -> VirtualMeter:
    bench = demo_bench()
    for line in CORRECTIONS:
        assert bench.adjust(line).startswith("ok"), line
    return bench.vm


def _addresses(cat: Catalogue) -> list[str]:
    found = [r.address for r in cat.registers] + [f.name for f in cat.functions]
    found += ["P.01", "P.98", "P.99", "KEY.L2", "KEY.L3", "TOU.SEASONS", "TOU.D.workday", "C.2.8", "0.2.8", "CAL"]
    return found


_VALUES = st.one_of(
    st.sampled_from(["", "1.0", "0.9", "1.1", "-0.3", "0.02", "fixed 15", "4711", "120000", "261101"]),
    st.floats(0.85, 1.15).map(lambda x: f"{x:.4f}"),
    st.text(alphabet="0123456789.-;:=ABCDEFabcdef ", max_size=12),
)
_CODES = st.sampled_from(["R1", "R2", "R5", "R6", "W1", "W2", "E1", "E2"])


def _record(vm: VirtualMeter) -> tuple[Any, ...]:
    row = vm.store.conn.execute("SELECT body, mac FROM calibration").fetchone()
    return (vm.calibration.record, tuple(row))


def optical_session_cannot_touch_calibration(
    vm: VirtualMeter, cat: Catalogue, level: int, value: str, extra: list[tuple[str, str, str]]
) -> None:
    """One session at ``level`` (3: with the terminal cover open): R1, W1 and E2 of every address with ``value``,
    then the ``extra`` commands; the calibration record is unchanged and no answer shows a correction."""
    before = _record(vm)
    pair: ConnectionPair = (
        session(vm, password=None) if level == 1 else session(vm) if level == 2 else level3(vm, cover=True)
    )
    sweep = [(code, address, value) for address in _addresses(cat) for code in ("R1", "W1", "E2")]
    for code, address, text in [*sweep, *extra]:
        event = pair.command(
            CommandMessage(command=code[0], command_type=code[1], data_set=DataSet.single(address, text))
        )
        if isinstance(event, AnswerReceived):
            shown = " ".join(v.value for ds in event.answer.datasets for v in ds.values)
            assert not any(secret in shown for secret in SECRET_TEXTS), (address, shown)
    assert _record(vm) == before


def _planted_bug(monkeypatch: pytest.MonkeyPatch) -> Catalogue:
    """A catalogue register whose write rule writes a correction (the bug the fuzz must catch), served by the
    optical session."""

    def write_correction(target: Settings, value: str) -> None:
        target.calibration.write(1, "igain", float(value))  # type: ignore[attr-defined]

    cat = catalogue()
    spec = RegisterSpec(
        address=PLANTED,
        description="planted bug",
        format=Format.TEXT,
        value=lambda m: "",
        write=WriteRule(level=3, apply=write_correction),
    )
    planted = Catalogue(
        registers=(*cat.registers, spec),
        areas=cat.areas,
        functions=cat.functions,
        by_address={**cat.by_address, PLANTED: spec},
    )
    monkeypatch.setattr("meterkit.meter.session.catalogue", lambda: planted)
    return planted


def _fuzz(vm: VirtualMeter, cat: Catalogue) -> None:
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        level=st.sampled_from([1, 2, 3, 3]),
        value=_VALUES,
        extra=st.lists(st.tuples(_CODES, st.sampled_from(_addresses(cat)), _VALUES), max_size=8),
    )
    def run(level: int, value: str, extra: list[tuple[str, str, str]]) -> None:
        optical_session_cannot_touch_calibration(vm, cat, level, value, extra)

    run()


def test_the_optical_port_fuzzed_at_every_level_with_the_cover_open_leaves_the_calibration_unchanged() -> None:
    vm = _adjusted()
    _fuzz(vm, catalogue())
    assert vm.calibration.corrections.value(1, "igain") == 0.982318


def test_the_fuzz_catches_a_catalogue_entry_that_writes_a_correction(monkeypatch: pytest.MonkeyPatch) -> None:
    vm = _adjusted()
    planted = _planted_bug(monkeypatch)
    with pytest.raises(AssertionError):
        _fuzz(vm, planted)
    assert vm.calibration.corrections.value(1, "igain") != 0.982318  # the planted register did write
