"""What anyone who may publish on the alarm topic can send the head-end: whatever the bytes, the verifier answers
with a VerifiedAlarm or an AlarmRejected, and a rejected message changes nothing."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit.headend import AlarmSealer
from meterkit.headend.verify import MAX_ALARM_BYTES, AlarmRejected, AlarmVerifier, MalformedAlarm

from .test_alarm_signature import AT, DEMO_ALARM_KEY, EXAMPLE, demo_message

KEYS = {"MKT:12345678": DEMO_ALARM_KEY}
TOPIC = "meterkit/alarms/12345678"


def _verify_or_rejected(payload: bytes, topic: str | None = TOPIC) -> None:
    with contextlib.suppress(AlarmRejected):
        AlarmVerifier(KEYS).verify(payload, topic)


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000,  # more than any alarm
        b"[" * 3_000,  # within the size, deeper than the parser goes
        b'{"":' * 1_000,
        b"{" + EXAMPLE[1:-1].replace(b'"details":{', b'"details":{"x":' + b"[" * 3_000) + b"}",
    ],
)
def test_a_message_nested_too_deeply_is_malformed_not_a_crash(payload: bytes) -> None:
    with pytest.raises(MalformedAlarm, match=r"more than the 4096 bytes of any alarm|nested too deeply"):
        AlarmVerifier(KEYS).verify(payload, TOPIC)


@pytest.mark.parametrize("depth", [100, 500, 900, 990, 1_200])
def test_deeply_nested_details_of_a_known_meter_are_rejected_not_a_crash(depth: int) -> None:
    doc = json.loads(EXAMPLE)
    text = json.dumps({k: v for k, v in doc.items() if k != "details"})
    payload = (text[:-1] + ',"details":{"x":' + "[" * depth + "]" * depth + "}}").encode()
    assert len(payload) <= MAX_ALARM_BYTES
    verifier = AlarmVerifier(KEYS)
    with pytest.raises(AlarmRejected):
        verifier.verify(payload, TOPIC)
    assert verifier.last_seq == {}


def test_a_message_larger_than_any_alarm_is_refused_unread() -> None:
    at_limit = EXAMPLE[:-1] + b" " * (MAX_ALARM_BYTES - len(EXAMPLE)) + b"}"
    assert len(at_limit) == MAX_ALARM_BYTES
    assert AlarmVerifier(KEYS).verify(at_limit, TOPIC).seq == 7  # white space JSON ignores: the genuine alarm
    verifier = AlarmVerifier(KEYS)
    with pytest.raises(MalformedAlarm, match="4097 bytes, more than the 4096 bytes of any alarm"):
        verifier.verify(EXAMPLE[:-1] + b" " * (MAX_ALARM_BYTES + 1 - len(EXAMPLE)) + b"}", TOPIC)
    assert verifier.last_seq == {}


def test_the_largest_alarm_a_meter_makes_is_a_tenth_of_the_limit() -> None:
    sealer = AlarmSealer(flag="MKT", meter="A" * 16, key=DEMO_ALARM_KEY)  # serials have at most 16 characters
    largest = sealer.message(
        alarm_id="f" * 32,
        seq=2**63 - 1,
        kind="SEC_BRUTE_FORCE",
        at=datetime(2026, 11, 2, 9, 0, 0, 999_999, tzinfo=timezone(-timedelta(hours=9, minutes=30))),
        details={"event": "TAMPER_AT_POWER_UP", "relay": "closed", "failures": "9" * 10},
    )
    assert len(largest) < 400
    assert 10 * len(largest) <= MAX_ALARM_BYTES


_NESTED = st.builds(
    lambda opening, depth, tail: opening * depth + tail,
    st.sampled_from([b"[", b'{"":', b'{"details":']),
    st.integers(0, 5_000),
    st.binary(max_size=16),
)


@given(payload=st.binary(max_size=MAX_ALARM_BYTES + 16) | _NESTED)
def test_any_bytes_are_verified_or_rejected_never_another_error(payload: bytes) -> None:
    _verify_or_rejected(payload)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@given(field=st.sampled_from(sorted(json.loads(EXAMPLE))), value=_JSON, topic=st.none() | st.text(max_size=20))
def test_any_json_in_any_field_is_verified_or_rejected_never_another_error(
    field: str, value: Any, topic: str | None
) -> None:
    doc = json.loads(EXAMPLE)
    doc[field] = value
    _verify_or_rejected(json.dumps(doc).encode(), topic)


def test_a_signed_alarm_without_kind_is_rejected_and_leaves_the_sequence_alone() -> None:
    verifier = AlarmVerifier(KEYS)
    no_kind = AlarmSealer("MKT", "12345678", DEMO_ALARM_KEY).message(
        alarm_id="0123456789abcdef0123456789abcdef", seq=7, kind="", at=AT, details={}
    )
    with pytest.raises(MalformedAlarm, match="field 'kind' must be a non-empty string"):
        verifier.verify(no_kind, TOPIC)
    assert verifier.last_seq == {}
    assert verifier.verify(demo_message(seq=7), TOPIC).seq == 7  # the genuine alarm of that number still counts


def test_a_signed_alarm_without_id_is_rejected_and_leaves_the_sequence_alone() -> None:
    verifier = AlarmVerifier(KEYS, {"MKT:12345678": 3})
    no_id = AlarmSealer("MKT", "12345678", DEMO_ALARM_KEY).message(alarm_id="", seq=7, kind="TAMPER", at=AT, details={})
    with pytest.raises(MalformedAlarm, match="field 'id' must be a non-empty string"):
        verifier.verify(no_id, TOPIC)
    assert verifier.last_seq == {"MKT:12345678": 3}
