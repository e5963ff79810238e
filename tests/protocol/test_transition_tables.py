"""The transition tables are what the meter connection runs on, and the docs' tables are generated from them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from meterkit.docgen import main as docgen_main
from meterkit.iec62056_21 import transitions
from meterkit.iec62056_21.events import ReadoutRequested, SessionEnded
from meterkit.iec62056_21.meter import MeterConnection, MeterPortConfig
from meterkit.iec62056_21.transitions import METER_TIMERS, MeterState, states_markdown, with_states

ROOT = Path(__file__).parents[2]
CONFIG = MeterPortConfig(manufacturer="MKT", ident="T1", baud_char="5")


def test_docs_protocol_md_holds_the_generated_state_tables() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert states_markdown() in text, "stale state tables: run python -m meterkit.docgen"
    assert with_states(text) == text


def test_docgen_rewrites_both_generated_pages(tmp_path: Path) -> None:
    (tmp_path / "protocol.md").write_text(
        "# p\n\n" + states_markdown().replace("| inactivity |", "| stale |") + "\n\nafter\n", encoding="utf-8"
    )
    assert docgen_main([str(tmp_path)]) == 0
    assert (tmp_path / "protocol.md").read_text(encoding="utf-8") == "# p\n\n" + states_markdown() + "\n\nafter\n"
    assert (tmp_path / "registers.md").read_text(encoding="utf-8").startswith("# The virtual meter's registers")
    with pytest.raises(ValueError, match="no generated block"):
        with_states("no markers here")


def test_the_meter_arms_the_timer_its_table_names(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = MeterConnection(replace(CONFIG, option_select_wait=3.0))
    conn.receive_data(b"/?!\r\n", 10.0)
    assert conn.state is MeterState.AWAIT_OPTION
    ident = len(conn.identification.to_bytes()) * 10 / 300  # the identification's time on a 300 Bd line
    assert conn.deadline() == pytest.approx(10.0 + 0.2 + ident + 3.0)  # option-select-wait after the identification
    # the table is read: a state whose timer the table drops runs none
    monkeypatch.setitem(transitions.METER_TIMERS, MeterState.AWAIT_OPTION, None)
    other = MeterConnection(CONFIG)
    other.receive_data(b"/?!\r\n", 10.0)
    assert other.state is MeterState.AWAIT_OPTION and other.deadline() is None


def test_what_a_timer_does_follows_its_name_in_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = MeterConnection(CONFIG)
    conn.receive_data(b"/?!\r\n", 0.0)
    conn.receive_data(b"\x06050\r\n", 0.5)  # readout at 9600 Bd
    while conn.next_event() is not None:
        pass
    assert conn.state is MeterState.READOUT_PENDING and METER_TIMERS[conn.state] == "inactivity"
    monkeypatch.setitem(transitions.METER_TIMERS, MeterState.READOUT_PENDING, "option-select-wait")
    deadline = conn.deadline()
    assert deadline is not None
    conn.handle_timer(deadline)  # acts as the table now says: the mode C fallback readout at 300 Bd
    assert conn.next_event() == ReadoutRequested(mode="C", baud=300)
    monkeypatch.setitem(transitions.METER_TIMERS, MeterState.READOUT_PENDING, "inactivity")
    deadline = conn.deadline()
    assert deadline is not None
    conn.handle_timer(deadline)
    assert conn.next_event() == SessionEnded(reason="inactivity")
