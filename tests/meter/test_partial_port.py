"""R3 and W3 (IEC 62056-21 §6.4.7 partial blocks) on the virtual meter's port, driven by the client's core."""

from __future__ import annotations

from datetime import UTC, datetime

from meterkit.iec62056_21.events import AnswerReceived, ErrorReceived, PositiveAck
from meterkit.iec62056_21.messages import EOT, ETX, CommandMessage, DataSet
from meterkit.meter.session import W3_VALUE_MAX
from meterkit.meter.tou import port_read

from .portkit import R, balanced, level3, live_config, live_meter, refused, run, session, values

WEEK = "mon=offpeak;tue=workday;wed=workday;thu=workday;fri=workday;sat=offpeak;sun=offpeak"


def W3(address: str, value: str, *, partial: bool) -> CommandMessage:
    return CommandMessage(command="W", command_type="3", data_set=DataSet.single(address, value), partial=partial)


def blocks(value: str, size: int) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)]


def test_r3_answers_the_profile_in_acknowledged_blocks_like_r6() -> None:
    vm, clock = live_meter(live_config(capture_min="capture_min = 1             # one-minute profile"))
    vm.set_phases(balanced(10))
    run(vm, clock, datetime(2026, 11, 2, 9, 40, tzinfo=UTC), tick_s=30)
    pair = session(vm)
    whole = pair.command(R("R5", "P.01", "2611020901;2611020940"))
    sent = len(pair.wire.sent_by("meter"))
    partial = pair.command(R("R3", "P.01", "2611020901;2611020940"))
    assert isinstance(whole, AnswerReceived) and isinstance(partial, AnswerReceived)
    assert partial.answer.datasets == whole.answer.datasets and len(whole.answer.datasets) == 41
    assert [f[-2:-1] for f in pair.wire.sent_by("meter")[sent:]] == [EOT, EOT, ETX]
    assert pair.wire.sent_by("client")[-2:] == [b"\x06", b"\x06"]  # each partial block acknowledged
    assert values(pair, "0.0.0") == ("12345678",)  # an ordinary answer again after the blocks


def test_r3_of_a_single_register_is_one_ordinary_answer() -> None:
    vm, _clock = live_meter()
    pair = session(vm)
    sent = len(pair.wire.sent_by("meter"))
    event = pair.command(R("R3", "0.0.0"))
    assert isinstance(event, AnswerReceived) and event.answer.datasets[0].value == "12345678"
    assert [f[-2:-1] for f in pair.wire.sent_by("meter")[sent:]] == [ETX]


def test_w3_collects_the_blocks_acknowledges_each_and_writes_on_the_last() -> None:
    vm, _clock = live_meter()
    pair = level3(vm)
    before = port_read(vm.meter.calendar, "TOU.W.standard")
    chunks = blocks(WEEK, 20)
    assert len(chunks) == 5
    for i, chunk in enumerate(chunks):
        if i == len(chunks) - 1:
            assert port_read(vm.meter.calendar, "TOU.W.standard") == before  # nothing written before the last
        event = pair.command(W3("TOU.W.standard" if i == 0 else "", chunk, partial=i < len(chunks) - 1))
        assert isinstance(event, PositiveAck), event
    assert values(pair, "TOU.W.standard") == (WEEK,) != (before,)
    assert vm.meter.events[-1].text == f"TOU.W.standard changed from {before} to {WEEK}"
    frames = [f for f in pair.wire.sent_by("client") if f.startswith(b"\x01W3")]
    assert [f[-2:-1] for f in frames] == [EOT, EOT, EOT, EOT, ETX]
    assert frames[0].startswith(b"\x01W3\x02TOU.W.standard(") and frames[1].startswith(b"\x01W3\x02(")


def test_another_command_drops_the_collected_w3_blocks() -> None:
    vm, _clock = live_meter()
    pair = level3(vm)
    before = values(pair, "TOU.W.standard")
    chunks = blocks(WEEK, 30)
    for i, chunk in enumerate(chunks[:-1]):
        assert isinstance(pair.command(W3("TOU.W.standard" if i == 0 else "", chunk, partial=True)), PositiveAck)
    assert values(pair, "0.0.0") == ("12345678",)  # another command: the collected blocks are dropped
    last = pair.command(W3("", chunks[-1], partial=False))
    assert refused(last, "ER04")  # taken as a first block, which needs the address
    assert values(pair, "TOU.W.standard") == before


def test_w3_to_an_unknown_register_is_refused_at_the_first_block() -> None:
    vm, _clock = live_meter()
    pair = level3(vm)
    assert refused(pair.command(W3("9.9.9", "ABC", partial=True)), "ER01")
    assert values(pair, "C.91.0")[2:] == ("W3 9.9.9", "no register 9.9.9")


def test_w3_refusals_of_the_whole_value_name_w3() -> None:
    vm, _clock = live_meter()
    pair = level3(vm)
    assert isinstance(pair.command(W3("C.60.1", "sliding ", partial=True)), PositiveAck)
    event = pair.command(W3("", "30 3", partial=False))
    assert isinstance(event, ErrorReceived) and event.text == "ER03"
    assert values(pair, "C.91.0")[2] == "W3 C.60.1"
    assert values(pair, "C.60.1") == ("sliding 15 1",)


def test_w3_without_the_level_is_refused_after_the_last_block_and_writes_nothing() -> None:
    vm, _clock = live_meter()
    low = session(vm)  # level 2
    assert isinstance(low.command(W3("C.60.2", "1", partial=True)), PositiveAck)
    assert refused(low.command(W3("", "5", partial=False)), "ER02")
    assert values(low, "C.60.2") != ("15",)


def test_w3_longer_than_the_limit_is_refused_and_dropped() -> None:
    vm, _clock = live_meter()
    pair = level3(vm)
    assert isinstance(pair.command(W3("TOU.W.standard", "x" * 100, partial=True)), PositiveAck)
    event = None
    for _ in range(W3_VALUE_MAX // 100):
        event = pair.command(W3("", "x" * 100, partial=True))
        if not isinstance(event, PositiveAck):
            break
    assert refused(event, "ER03")  # type: ignore[arg-type]
    assert "longer than 1024" in "".join(values(pair, "C.91.0")[3:])
