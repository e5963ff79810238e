"""Refusals aggregated per cause and minute never evict authentication, write, key or tamper entries; the event log
P.98 is a capped ring with an overflow counter (issue #14 item 9)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from meterkit.iec62056_21.events import ErrorReceived, PositiveAck
from meterkit.meter.core import EVENT_LOG_CAPACITY
from meterkit.security.seclog import CAPACITY, SecurityLog
from meterkit.security.state import MemorySecurityStore, SecurityStore
from meterkit.storage import NvSecurityStore, NvStore

from .test_port_security import R, meter, signed_in, tag_for


def _flood_refused_writes(n: int, vm_store: NvStore | None = None) -> tuple[object, list[tuple[str, str, str]]]:
    vm = meter(vm_store)
    vm.open_cover()
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)
    assert isinstance(pair.command(R("W1", "C.60.1", "fixed 15")), PositiveAck)
    kinds = {e.kind for e in vm.security.log_entries()}
    assert {"AUTH_OK", "WRITE_OK"} <= kinds
    for i in range(n):
        if i % 200 == 0:
            vm.advance_to(vm.meter.now + timedelta(seconds=61), step_s=60)
            attacker, _ = signed_in(vm)
        reply = attacker.command(R("W1", "C.60.1", "fixed 30"))
        assert isinstance(reply, ErrorReceived) and reply.text == "ER02"
    return vm, [(e.at.isoformat(), e.kind, e.detail) for e in vm.security.log_entries()]


def test_550_refused_writes_keep_every_authentication_and_write_entry(tmp_path: Path) -> None:
    _vm, rows = _flood_refused_writes(550, NvStore(tmp_path / "m.sqlite"))
    kinds = [kind for _at, kind, _d in rows]
    assert "AUTH_OK" in kinds and "WRITE_OK" in kinds
    refusals = [(at, d) for at, kind, d in rows if kind == "WRITE_DENIED_LEVEL"]
    assert [int(d.split()[0]) for _at, d in refusals] == [200, 200, 150]  # one entry per minute, counted
    assert all(d.endswith("last C.60.1") for _at, d in refusals)


def test_refusal_entries_are_bounded_on_their_own() -> None:
    vm = meter()
    session = vm.security.open_session()
    session.authenticate("1", vm.security.read_password or "")
    for minute in range(CAPACITY["refusal"] + 20):
        vm.security.log.add(vm.meter.now + timedelta(minutes=minute), "WRITE_DENIED_LEVEL", "C.60.1")
    kinds = [e.kind for e in vm.security.log_entries()]
    assert kinds.count("WRITE_DENIED_LEVEL") == CAPACITY["refusal"]
    assert vm.security.log.overflow("refusal") == 20
    assert "AUTH_OK" in kinds and vm.security.log.overflow("access") == 0


def test_the_event_log_is_a_capped_ring_with_an_overflow_counter(tmp_path: Path) -> None:
    store = NvStore(tmp_path / "m.sqlite")
    vm = meter(store)
    for i in range(EVENT_LOG_CAPACITY + 50):
        vm.meter.log(6, f"event {i}")
    events = vm.meter.events
    assert len(events) == EVENT_LOG_CAPACITY and events[-1].text == f"event {EVENT_LOG_CAPACITY + 49}"
    overflow = vm.meter.events_dropped
    assert overflow >= 50
    rows = store.conn.execute("SELECT count(*) FROM event_log").fetchone()[0]
    assert rows == EVENT_LOG_CAPACITY
    vm.save()
    again = meter(store)
    assert len(again.meter.events) <= EVENT_LOG_CAPACITY
    assert again.meter.events_dropped >= overflow


def _numbered_store_rows(store: SecurityStore) -> list[tuple[int, str, str, str]]:
    for i in range(5):
        store.append_log(at=f"2026-11-02T09:0{i}:00+00:00", klass="access", kind="AUTH_FAIL", detail=str(i), capacity=3)
    store.count_refusal(minute="2026-11-02T09:05:00+00:00", kind="WRITE_DENIED_LEVEL", last="C.60.1", capacity=3)
    store.count_refusal(minute="2026-11-02T09:05:00+00:00", kind="WRITE_DENIED_LEVEL", last="C.60.2", capacity=3)
    return store.numbered_log_rows()


def test_log_entries_keep_their_numbers_when_older_ones_are_evicted(tmp_path: Path) -> None:
    in_memory = _numbered_store_rows(MemorySecurityStore())
    in_nv = _numbered_store_rows(NvSecurityStore(NvStore(tmp_path / "s.sqlite")))
    assert (
        in_memory
        == in_nv
        == [
            (3, "2026-11-02T09:02:00+00:00", "AUTH_FAIL", "2"),
            (4, "2026-11-02T09:03:00+00:00", "AUTH_FAIL", "3"),
            (5, "2026-11-02T09:04:00+00:00", "AUTH_FAIL", "4"),
            (6, "2026-11-02T09:05:00+00:00", "WRITE_DENIED_LEVEL", "2 refused, last C.60.2"),  # counted in place
        ]
    )
    log = SecurityLog(MemorySecurityStore())
    _numbered_store_rows(log.store)
    assert [(e.seq, e.kind) for e in log.entries(after=4)] == [(5, "AUTH_FAIL"), (6, "WRITE_DENIED_LEVEL")]
    assert log.entries(after=6) == []


def test_the_port_security_hands_out_log_entries_after_a_number() -> None:
    vm = meter()
    vm.open_cover()
    entries = vm.security.log_entries()
    assert entries and [e.seq for e in entries] == sorted({e.seq for e in entries})
    last = entries[-1].seq
    vm.close_cover()
    new = vm.security.log_entries(after=last)
    assert [e.kind for e in new] == ["COVER_CLOSE"] and new[0].seq > last
