"""What a message field refuses: the precompiled check refuses exactly what the per-character check refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit.errors import LocalProtocolError
from meterkit.iec62056_21 import messages
from meterkit.iec62056_21.messages import DataSet, ErrorAnswer, IdentificationMessage, Value

_KINDS = [
    ("address", messages._FORBIDDEN_ADDRESS),
    ("value", messages._FORBIDDEN_VALUE),
    ("unit", messages._FORBIDDEN_UNIT),
    ("identification", messages._FORBIDDEN_IDENT),
    ("other", frozenset("#")),
    ("none", frozenset()),
]


def _outcome(check: object, kind: str, text: str, forbidden: frozenset[str]) -> str | None:
    assert callable(check)
    try:
        check(kind, text, forbidden)
    except LocalProtocolError as exc:
        return str(exc)
    return None


@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=40), which=st.sampled_from(_KINDS))
def test_fast_check_refuses_what_the_character_loop_refused_with_the_same_error(
    text: str, which: tuple[str, frozenset[str]]
) -> None:
    kind, forbidden = which
    assert _outcome(messages._check_chars, kind, text, forbidden) == _outcome(
        messages._check_chars_loop, kind, text, forbidden
    )


@given(
    text=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
    bad=st.sampled_from(["(", ")", "*", "/", "!", "\x00", "\x1f", "\r", "\n", "\x7f", "\x80", "é", "\u2028"]),
    cut=st.integers(min_value=0, max_value=20),
)
def test_a_value_holding_a_forbidden_or_non_printable_character_anywhere_is_refused(
    text: str, bad: str, cut: int
) -> None:
    clean = "".join(ch for ch in text if ch not in "()*/!")
    value = clean[:cut] + bad + clean[cut:]
    with pytest.raises(LocalProtocolError, match=r"forbidden|non-printable"):
        Value(value=value)


@given(text=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="()*/!")))
def test_printable_values_without_delimiters_are_accepted(text: str) -> None:
    assert Value(value=text, unit=text).value == text


def test_each_field_names_the_first_offending_character() -> None:
    with pytest.raises(LocalProtocolError, match=r"non-printable character '\\x01'"):
        Value(value="1\x01(")
    with pytest.raises(LocalProtocolError, match=r"forbidden character '\('"):
        Value(value="1(\x01")
    with pytest.raises(LocalProtocolError, match=r"forbidden character '\*'"):
        Value(unit="k", value="2*3")
    assert Value(unit="k*W").unit == "k*W"  # a unit may hold '*' (only the value is split on it)
    with pytest.raises(LocalProtocolError, match="address"):
        DataSet(address="1.8.0(")
    with pytest.raises(LocalProtocolError, match="identification"):
        IdentificationMessage(manufacturer="ABC", baud_char="5", ident="x!y")
    with pytest.raises(LocalProtocolError, match="error text"):
        ErrorAnswer(text="ER)")
