"""Byte-level fuzzing of the meter's command handler, known answers for the OP2 key and tag functions, and the
remaining cases of the notes' §6.5 (modes, readout-mode P2, P2 after B0, window expiry, challenge uniqueness)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.events import ErrorReceived, PositiveAck
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.security.challenge import answer_tag, make_challenge, parse_operand
from meterkit.security.keys import MeterIdentity, derive_meter_key, password_key, work_order_key

from .keyfix import IDENT, MASTER, START

SOH, STX, ETX = b"\x01", b"\x02", b"\x03"


def meter(extra: str = "") -> VirtualMeter:
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    text = text.replace('start = "2026-11-01T00:00:00+00:00"', f'start = "{START.isoformat()}"')
    if extra:
        key = extra.split("=")[0].strip()
        line = next((ln for ln in text.splitlines() if ln.startswith(key + " ")), None)
        text = text.replace(line, extra) if line else text.replace("[security]\n", f"[security]\n{extra}\n", 1)
    return VirtualMeter(load_config(text=text), follow_clock=False)


def frame(code: bytes, body: bytes) -> bytes:
    block = code + STX + body + ETX
    return SOH + block + bytes([bcc(block)])


def R(code: str, address: str = "", value: str = "") -> CommandMessage:
    return CommandMessage(command=code[0], command_type=code[1], data_set=DataSet.single(address, value))


def tag_for(operand: str, level: int) -> str:
    challenge, serial = parse_operand(operand)
    ident = MeterIdentity("MKT", serial)
    return answer_tag(derive_meter_key(MASTER, ident, level, 1), ident, level, challenge).hex().upper()


# --- known answers for our own functions (independent re-computation + pinned values) ------------------------


def _hkdf_sha256(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 written out with hmac, independent of the library used by meterkit."""
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def test_meter_key_derivation_matches_rfc5869_written_out_and_a_pinned_value() -> None:
    info = b"OP2v1-kdf" + b"MKT" + b"12345678".ljust(16, b"\x00") + bytes([3, 1])
    key = derive_meter_key(MASTER, IDENT, 3, 1)
    assert key == _hkdf_sha256(MASTER, info)
    assert key.hex() == PINNED_L3_KEY


def test_answer_tag_matches_the_documented_hmac_layout_and_a_pinned_value() -> None:
    key = derive_meter_key(MASTER, IDENT, 3, 1)
    challenge = bytes.fromhex("01000000070123456789ABCDEF012345")
    message = b"OP2v1" + b"\x01" + b"MKT" + b"12345678".ljust(16, b"\x00") + bytes([3]) + challenge
    tag = answer_tag(key, IDENT, 3, challenge)
    assert tag == hmac.new(key, message, hashlib.sha256).digest()[:16]
    assert tag.hex().upper() == PINNED_TAG


def test_work_order_key_matches_rfc5869_and_password_key_the_documented_scrypt_written_out() -> None:
    meter_key = derive_meter_key(MASTER, IDENT, 3, 1)
    info = b"OP2v1-wo" + b"HHU-1".ljust(16, b"\x00") + (1_800_000_000).to_bytes(4, "big")
    assert work_order_key(meter_key, "HHU-1", 1_800_000_000) == _hkdf_sha256(meter_key, info)
    salt_pw = b"OP2v2-pw" + b"MKT" + b"12345678".ljust(16, b"\x00")
    scrypt = hashlib.scrypt(b"20261125", salt=salt_pw, n=2**15, r=8, p=1, maxmem=64 * 2**20, dklen=32)
    assert password_key("20261125", IDENT) == scrypt
    assert scrypt.hex() == PINNED_PASSWORD_KEY


PINNED_L3_KEY = "989d59a087663c14a99fa9727c31ef4d1751515b5914972810c0e80c7afa4196"
PINNED_TAG = "8BA545E7955C1DD2E18F2D5FB08F37D1"
PINNED_PASSWORD_KEY = "9143e04a04615a9c28be6e866342c6428c9dfdcd37b2e7847799b2256d0514c2"


# --- fuzzing the command handler with raw bytes ---------------------------------------------------------------

_CODES = [f"{c}{t}".encode() for c in "PRWEB" for t in "0123456789"]
_hex = st.text(alphabet="0123456789ABCDEF", min_size=32, max_size=32)
_value = st.one_of(
    st.binary(max_size=140).map(lambda b: bytes(x & 0x7F for x in b)),
    _hex.map(str.encode),  # well-formed P2 tags (wrong ones)
    st.builds(
        lambda t, e, h: (t + e + h).encode(),
        _hex,
        st.text("0123456789ABCDEF", min_size=8, max_size=8),
        st.sampled_from(["HHU-1", "X", "A" * 16]),
    ),  # well-formed work-order answers
    st.text(alphabet="0123456789", min_size=8, max_size=8).map(str.encode),  # password-shaped
)
_well_formed = st.builds(
    lambda code, address, value: frame(code, address + b"(" + value + b")"),
    st.sampled_from(_CODES),
    st.sampled_from([b"", b"1.8.0", b"P.01", b"P.99", b"C.60.1", b"KEY.L3", b"TOU.SPECIAL", b"BILLING.RESET"]),
    _value,
)
_frames = st.lists(st.one_of(_well_formed, st.binary(max_size=80)), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frames)
def test_no_byte_sequence_reaches_level_2_without_the_secret(frames: list[bytes]) -> None:
    vm = meter()
    pair = ConnectionPair.for_application(vm)
    pair.programming()
    for data in frames:
        if b"20261125" in data:  # the demo read password is the one secret a random string could contain
            continue
        pair.client_send_raw(data)
        pair.advance(2.0)
    assert not [e for e in vm.security.log_entries() if e.kind == "AUTH_OK"]
    pair.client_send_raw(frame(b"R1", b"1.6.0()"))
    pair.advance(2.0)
    assert not any(b"1.6.0(" in data for _, who, data in pair.wire.frames if who == "meter")
    assert str(vm.meter.demand_config) == "sliding 15/1"  # and nothing was written


# --- the remaining §6.5 cases ----------------------------------------------------------------------------------


def test_case_10_p2_in_readout_mode_or_after_b0_is_refused() -> None:
    vm = meter()
    pair = ConnectionPair.for_application(vm)
    pair.sign_on()
    pair.client_send_raw(frame(b"P2", b"(" + b"0" * 32 + b")"))  # no programming mode: not a command at all
    pair.advance(3.0)
    assert not [e for e in vm.security.log_entries() if e.kind == "AUTH_OK"]
    pair2 = ConnectionPair.for_application(vm)
    operand = pair2.programming()
    pair2.sign_off()  # B0 wipes the challenge
    pair2.client_send_raw(frame(b"P2", b"(" + tag_for(operand, 3).encode() + b")"))
    pair2.advance(3.0)
    assert not [e for e in vm.security.log_entries() if e.kind == "AUTH_OK"]


def test_case_15_p1_is_refused_when_no_level_takes_a_password() -> None:
    vm = meter("password_levels = []")
    pair = ConnectionPair.for_application(vm)
    pair.programming()
    event = pair.command(R("P1", "", "20261125"))  # the right password, but the policy gives it nothing
    assert isinstance(event, ErrorReceived) and event.text == "ER10"


def test_case_23_24_binary_and_unknown_modes_and_baud_characters_grant_nothing() -> None:
    for option in (b"\x06" + b"2" + b"5" + b"1", *(b"\x06" + b"0" + b"5" + bytes([m]) for m in b"6789")):
        vm = meter()
        pair = ConnectionPair.for_application(vm)
        pair.sign_on()
        pair.client_send_raw(option + b"\r\n")
        pair.advance(5.0)
        sent = b"".join(data for _, who, data in pair.wire.frames if who == "meter")
        assert b"P0" not in sent.split(b"\r\n", 1)[-1] or option[3:4] == b"1"
        assert b"1.6.0(" not in sent  # never more than the public readout
    for baud in b"789Z":
        vm = meter()
        pair = ConnectionPair.for_application(vm)
        pair.sign_on()
        pair.client_send_raw(b"\x060" + bytes([baud]) + b"1\r\n")
        pair.advance(5.0)
        assert not [e for e in vm.security.log_entries() if e.kind == "AUTH_OK"]


def test_case_29_writes_stop_when_the_write_window_ends() -> None:
    vm = meter()
    pair = ConnectionPair.for_application(vm)
    operand = pair.programming()
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)
    vm.open_cover()
    assert isinstance(pair.command(R("W1", "C.60.1", "fixed 15")), PositiveAck)
    vm.advance_to(vm.meter.now + timedelta(minutes=31), step_s=60)
    pair2 = ConnectionPair.for_application(vm)
    operand2 = pair2.programming()
    assert isinstance(pair2.command(R("P2", "", tag_for(operand2, 3))), PositiveAck)
    refused = pair2.command(R("W1", "C.60.1", "fixed 30"))
    assert isinstance(refused, ErrorReceived) and refused.text == "ER06"
    assert str(vm.meter.demand_config) == "fixed 15"


def test_case_13_a_hundred_thousand_challenges_are_unique_and_counted() -> None:
    challenges = [make_challenge(1, n) for n in range(1, 100_001)]
    assert len(set(challenges)) == 100_000
    counters = [int.from_bytes(c[1:5], "big") for c in challenges]
    assert counters == sorted(counters) and counters[0] == 1 and counters[-1] == 100_000
