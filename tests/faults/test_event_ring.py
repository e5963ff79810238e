"""Item 9 of #15: the event log ``P.98`` is a ring of the newest 500 events with a count of those dropped."""

from __future__ import annotations

from pathlib import Path

from meterkit.iec62056_21.events import AnswerReceived
from meterkit.meter.core import EVENT_LOG_CAPACITY
from meterkit.meter.virtual import VirtualMeter
from meterkit.storage import NvStore
from tests.meter.portkit import R, live_config, session


def test_the_event_log_keeps_the_newest_events_and_counts_the_dropped(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    vm = VirtualMeter(live_config(), store=NvStore(state))
    logged_before = len(vm.meter.events)
    for i in range(2000):
        vm.meter.log(6, f"refused request {i}")
    total = logged_before + 2000
    assert EVENT_LOG_CAPACITY == 500
    assert len(vm.meter.events) == 500 and vm.meter.events_dropped == total - 500
    assert vm.meter.events[-1].text == "refused request 1999" and vm.meter.events[0].text == "refused request 1500"
    assert vm.store.conn.execute("SELECT count(*) FROM event_log").fetchone()[0] == 500
    answer = session(vm).command(R("R5", "P.98"))
    assert isinstance(answer, AnswerReceived)
    header = answer.answer.datasets[0]
    assert [v.value for v in header.values] == ["500", str(total - 500)]
    assert len(answer.answer.datasets) == 501
    vm.store.close()
    again = VirtualMeter(live_config(), store=NvStore(state))  # the count survives a restart
    assert [e.code for e in again.meter.events[-3:]] == [1, 2, 10]  # power down, power up, self-test
    assert again.meter.events_dropped == total + 3 - 500
    assert again.meter.events[-4].text == "refused request 1999"
