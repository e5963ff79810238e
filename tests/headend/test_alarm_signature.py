"""The signed alarm message and the head-end's verifier, without a broker: canonical form, the worked example of
docs/security.md, tampering of any field, replays, foreign keys, key files, and where the meter's alarm key comes
from."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit.errors import ConfigError, DataError, SecurityError
from meterkit.headend import AlarmOutbox, AlarmSealer
from meterkit.headend.message import canonical
from meterkit.headend.verify import (
    AlarmVerifier,
    ForgedAlarm,
    MalformedAlarm,
    ReplayedAlarm,
    UnknownMeter,
    load_alarm_keys,
    write_alarm_keys,
)
from meterkit.security.keys import MeterIdentity, alarm_key, derive_meter_key
from meterkit.security.port import SecurityConfig, meter_alarm_key
from meterkit.security.state import MemorySecurityStore
from meterkit.storage import NvStore
from tests.faces.meters import live_meter

DEMO_MASTER = bytes.fromhex("6d657465726b69742d64656d6f2d6d61737465722d6b65792d6e6f742d736563")
DEMO = MeterIdentity("MKT", "12345678")
#: the demo meter's alarm key (docs/security.md, "Head-end alarms")
DEMO_ALARM_KEY = bytes.fromhex("8c8e01679c27ef244bfdc816b54b60c843439a3e21c340ec8f65fd2232574541")
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
#: the worked example of docs/security.md, byte for byte
EXAMPLE = (
    b'{"at":"2026-11-02T09:00:00+00:00","details":{"event":"COVER_OPEN_UNAUTH","relay":"open"},"flag":"MKT",'
    b'"id":"0123456789abcdef0123456789abcdef","kind":"TAMPER",'
    b'"mac":"da4df3ec8500ee273e371048f31134757794b01f24078c5df509ecffb03bbf11","meter":"12345678","seq":7,"v":1}'
)


def demo_message(seq: int = 7, key: bytes = DEMO_ALARM_KEY, kind: str = "TAMPER", serial: str = "12345678") -> bytes:
    sealer = AlarmSealer(flag="MKT", meter=serial, key=key)
    details = {"event": "COVER_OPEN_UNAUTH", "relay": "open"}
    return sealer.message(alarm_id="0123456789abcdef0123456789abcdef", seq=seq, kind=kind, at=AT, details=details)


def _hkdf_by_hand(ikm: bytes, info: bytes) -> bytes:
    """RFC 5869 with the standard library only (no salt: a zero-filled one), 32 bytes."""
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def test_the_alarm_key_is_hkdf_of_the_master_with_its_own_label() -> None:
    key = alarm_key(DEMO_MASTER, DEMO)
    assert key == DEMO_ALARM_KEY
    assert key == _hkdf_by_hand(DEMO_MASTER, b"OP2v1-alarm" + b"MKT" + b"12345678".ljust(16, b"\x00"))
    # not a key that opens the port, and another meter's differs
    assert key not in {derive_meter_key(DEMO_MASTER, DEMO, level, 1) for level in (2, 3)}
    assert alarm_key(DEMO_MASTER, MeterIdentity("MKT", "12345679")) != key


def test_worked_example_of_the_message_format() -> None:
    assert demo_message() == EXAMPLE
    fields = json.loads(EXAMPLE)
    mac = fields.pop("mac")
    signed = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    assert mac == hmac.new(DEMO_ALARM_KEY, signed, hashlib.sha256).hexdigest()
    alarm = AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY}).verify(EXAMPLE, "meterkit/alarms/12345678")
    assert (alarm.meter, alarm.seq, alarm.kind, alarm.at, alarm.missed) == ("MKT:12345678", 7, "TAMPER", AT, 0)
    assert alarm.details == {"event": "COVER_OPEN_UNAUTH", "relay": "open"}


def test_canonical_form_sorts_keys_has_no_spaces_and_escapes_non_ascii() -> None:
    assert canonical({"b": 1, "a": {"z": "ä", "y": "x"}}) == b'{"a":{"y":"x","z":"\\u00e4"},"b":1}'


_VALUES = st.one_of(st.text(max_size=12), st.integers(-5, 10**6), st.none(), st.booleans())


@given(field=st.sampled_from(["v", "id", "flag", "meter", "seq", "kind", "at", "details", "mac"]), value=_VALUES)
def test_any_change_of_any_field_is_refused(field: str, value: Any) -> None:
    doc = json.loads(EXAMPLE)
    if doc[field] == value:
        return
    doc[field] = value
    with pytest.raises(SecurityError):
        AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY}).verify(json.dumps(doc).encode())


@given(name=st.text(min_size=1, max_size=10), value=st.text(max_size=10))
def test_any_change_of_the_details_is_refused(name: str, value: str) -> None:
    doc = json.loads(EXAMPLE)
    if doc["details"].get(name) == value:
        return
    doc["details"][name] = value
    with pytest.raises(ForgedAlarm):
        AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY}).verify(json.dumps(doc).encode())


@given(position=st.integers(0, len(EXAMPLE) - 1), byte=st.integers(0, 255))
def test_any_changed_byte_is_refused_or_means_the_same(position: int, byte: int) -> None:
    changed = EXAMPLE[:position] + bytes([byte]) + EXAMPLE[position + 1 :]
    verifier = AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY})
    try:
        alarm = verifier.verify(changed)
    except SecurityError:
        return
    # only a change JSON does not see (e.g. white space, an escape of the same character) may pass
    assert json.loads(changed) == json.loads(EXAMPLE) and alarm.seq == 7


def test_replayed_and_reordered_alarms_are_refused_and_gaps_are_counted() -> None:
    verifier = AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY})
    assert verifier.verify(demo_message(seq=3)).missed == 0
    with pytest.raises(ReplayedAlarm, match="seq 3 is not above the last accepted \\(3\\)"):
        verifier.verify(demo_message(seq=3))
    assert verifier.verify(demo_message(seq=6)).missed == 2
    with pytest.raises(ReplayedAlarm):
        verifier.verify(demo_message(seq=5))  # older than the last one: reordered or replayed
    assert verifier.last_seq == {"MKT:12345678": 6}
    resumed = AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY}, verifier.last_seq)
    with pytest.raises(ReplayedAlarm):
        resumed.verify(demo_message(seq=6))


def test_another_meters_key_an_unknown_meter_and_an_unsigned_alarm_are_refused() -> None:
    other = alarm_key(DEMO_MASTER, MeterIdentity("MKT", "87654321"))
    verifier = AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY, "MKT:87654321": other})
    with pytest.raises(ForgedAlarm, match="does not match"):
        verifier.verify(demo_message(key=other))  # names 12345678, signed by 87654321
    with pytest.raises(UnknownMeter, match="MKT:55555555"):
        verifier.verify(demo_message(serial="55555555"))
    with pytest.raises(ForgedAlarm, match="unsigned"):
        verifier.verify(AlarmSealer("MKT", "12345678", None).message(alarm_id="x", seq=9, kind="T", at=AT, details={}))
    assert verifier.last_seq == {}  # nothing rejected moved the sequence


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"v": 2}', "format v=2"),
        (b'{"v": true}', "format v=True"),
        (EXAMPLE[:-1] + b',"extra":1}', "unknown field"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(payload: bytes, message: str) -> None:
    with pytest.raises(MalformedAlarm, match=message):
        AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY}).verify(payload)


def test_a_genuine_alarm_on_another_meters_topic_is_refused() -> None:
    with pytest.raises(MalformedAlarm, match="the topic of another meter"):
        AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY}).verify(EXAMPLE, "meterkit/alarms/87654321")


def test_the_head_end_key_file_is_private_and_refuses_to_be_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "headend-keys.json"
    write_alarm_keys(path, {"MKT:12345678": DEMO_ALARM_KEY})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_alarm_keys(path) == {"MKT:12345678": DEMO_ALARM_KEY}
    with pytest.raises(DataError, match="exists"):
        write_alarm_keys(path, {})
    path.write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="not a head-end key file"):
        load_alarm_keys(path)


def test_the_meters_alarm_key_is_configured_or_derived_from_its_master() -> None:
    store = MemorySecurityStore()
    demo = SecurityConfig.from_dict({"master_key": DEMO_MASTER.hex()})
    assert meter_alarm_key(demo, store, DEMO) == DEMO_ALARM_KEY
    injected = SecurityConfig.from_dict({"level2_key": "11" * 32, "level3_key": "22" * 32, "alarm_key": "33" * 32})
    assert meter_alarm_key(injected, store, DEMO) == bytes.fromhex("33" * 32)
    levels_only = SecurityConfig.from_dict({"level2_key": "11" * 32, "level3_key": "22" * 32})
    assert meter_alarm_key(levels_only, store, DEMO) is None
    generated = meter_alarm_key(SecurityConfig(), store, DEMO)  # from the master generated into the state
    assert generated == alarm_key(bytes.fromhex(str(store.get("master_key"))), DEMO)
    with pytest.raises(ConfigError, match="either master_key"):
        SecurityConfig.from_dict({"master_key": DEMO_MASTER.hex(), "alarm_key": "33" * 32})


def test_the_demo_meters_tamper_alarm_is_signed_and_numbered_by_its_outbox() -> None:
    vm, _clock = live_meter()
    vm.security.cover_opened()
    vm.security.cover_closed()
    vm.security.cover_opened()
    assert vm.outbox.sealer is not None
    verifier = AlarmVerifier({"MKT:12345678": DEMO_ALARM_KEY})
    alarms = [verifier.verify(a.message(vm.outbox.sealer)) for a in vm.outbox.pending()]
    assert [(a.kind, a.seq) for a in alarms] == [("TAMPER", 1), ("TAMPER", 2)]


def test_sequence_numbers_keep_growing_across_restarts_and_delivered_alarms(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    outbox = AlarmOutbox(NvStore(state))
    outbox.raise_alarm("TAMPER", {}, AT)
    outbox.raise_alarm("TAMPER", {}, AT)
    for alarm in outbox.pending():
        outbox.delivered(alarm.id)
    outbox.store.close()
    again = AlarmOutbox(NvStore(state))
    again.raise_alarm("SEC_BRUTE_FORCE", {}, AT)
    assert [a.seq for a in again.pending()] == [3]
