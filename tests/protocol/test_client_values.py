"""What the hand-held makes of values and refusals before and after the wire."""

from __future__ import annotations

import pytest

from meterkit.client.refusals import MEANINGS, MeterRefusal, meaning
from meterkit.client.values import wire_value


@pytest.mark.parametrize(
    ("address", "typed", "wire"),
    [
        ("C.60.1", "sliding 15/1", "sliding 15 1"),
        ("C.60.1", "Sliding 30 / 5", "sliding 30 5"),
        ("C.60.1", "fixed 15", "fixed 15"),
        ("C.60.1*01", "sliding 15/1", "sliding 15 1"),
        ("C.60.1", "sliding 15/x", "sliding 15/x"),  # not the demand spelling: left for the value check to refuse
        ("1.8.2", "000002.000", "000002.000"),
    ],
)
def test_the_configuration_spelling_becomes_the_wire_form(address: str, typed: str, wire: str) -> None:
    assert wire_value(address, typed) == wire


def test_a_refusal_says_what_its_code_means_the_reason_and_a_damaged_code() -> None:
    refusal = MeterRefusal("W1 C.60.1", "ER06", reason="cover closed", bcc_ok=False)
    text = str(refusal)
    assert text.startswith("the meter refused W1 C.60.1: ER06 (terminal cover closed")
    assert "; the meter says: cover closed" in text and "may be garbled" in text
    assert (refusal.code, refusal.command) == ("ER06", "W1 C.60.1")
    assert str(MeterRefusal("R1 X", "ER99")) == "the meter refused R1 X: ER99"
    assert meaning(" ER02 ") == MEANINGS["ER02"] and meaning("#0201") == "wrong password (LIS-200)"
