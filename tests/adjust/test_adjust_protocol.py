"""The adjustment port's protocol: one reply line for every line, errors as values, replies that parse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.errors import MeterkitError
from meterkit.meter.adjust_protocol import parse_reply

from .benchkit import demo_bench

BENCH = demo_bench()
WORDS = st.sampled_from(["id", "read", "cal", "set", "clear", "energy", "seal", "help", "L1", "L4", "igain", "phase"])


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(WORDS | st.text(max_size=8), max_size=5).map(" ".join)))
def test_any_line_gets_exactly_one_reply_line_and_never_an_exception(line: str) -> None:
    if [w.lower() for w in line.split()[:1]] == ["seal"]:
        line = "help"  # sealing would end the fuzz's writes; the seal has its own tests
    reply = BENCH.port.handle(line)
    assert "\n" not in reply
    assert reply.startswith(("ok", "error: ")), reply
    assert not reply.startswith("error: internal error"), (line, reply)


def test_errors_are_one_line_reasons() -> None:
    bench = demo_bench()
    assert bench.adjust("set L4 igain 1") == "error: set L1|L2|L3 vgain|igain|phase|ioffset VALUE"
    assert bench.adjust("set L1 igain 1.5") == "error: igain must be between 0.8 and 1.2, got 1.5"
    assert bench.adjust("set L1 igain nan") == "error: 'nan' is not a finite number"
    assert bench.adjust("frobnicate") == "error: unknown command 'frobnicate' (try help)"
    assert bench.adjust("id now") == "error: id takes no arguments (try help)"
    bench.control.handle("power down")
    assert bench.adjust("read") == "error: the meter is powered down"


def test_replies_parse_into_fields() -> None:
    bench = demo_bench()
    fields = parse_reply(bench.adjust("id"))
    assert fields["serial"] == "12345678" and fields["sealed"] == "no" and fields["class"] == "1"
    assert fields["iref"] == "40.0" and fields["imax"] == "400.0" and fields["un"] == "230.0"
    with pytest.raises(MeterkitError, match="unknown command"):
        parse_reply(bench.adjust("nope"))
    energy = parse_reply(bench.adjust("energy"))
    assert int(energy["ap"]) >= 0 and energy["t"].startswith("2026-11-02T09:00")
