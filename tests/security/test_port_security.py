"""Port security, following the test cases of the research notes (§6.5), through the virtual meter's optical port
(in memory, simulated clock) and at the PortSecurity level."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.client.auth import IntegrityGuard
from meterkit.client.keypackage import KeyPackageAuthenticator
from meterkit.errors import ConfigError, DataError, SecurityError
from meterkit.iec62056_21.application import SessionReply
from meterkit.iec62056_21.events import (
    AnswerReceived,
    CommandReceived,
    ErrorReceived,
    PositiveAck,
    ProgrammingRequested,
)
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.config import load_config
from meterkit.meter.metrology import PhaseInput
from meterkit.meter.session import AUTH_ERROR, MeterSession
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.security.challenge import answer_tag, make_challenge, parse_operand, parse_operand_full, verify_tag
from meterkit.security.keys import MeterIdentity, derive_meter_key, work_order_key
from meterkit.security.package import open_package
from meterkit.security.port import AUTH_FAILURE_DELAY, Denial, Denied, Granted
from meterkit.storage import NvStore

from .keyfix import IDENT, MASTER, START, package_auth, package_file


def meter(store: NvStore | None = None) -> VirtualMeter:
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    cfg = load_config(text=text.replace('start = "2026-11-01T00:00:00+00:00"', f'start = "{START.isoformat()}"'))
    return VirtualMeter(cfg, store=store, follow_clock=False)


def R(code: str, address: str = "", value: str = "") -> CommandMessage:
    return CommandMessage(command=code[0], command_type=code[1], data_set=DataSet.single(address, value))


def tag_for(operand: str, level: int, master: bytes = MASTER, serial: str | None = None, version: int = 1) -> str:
    challenge, op_serial = parse_operand(operand)
    ident = MeterIdentity("MKT", serial or op_serial)
    return answer_tag(derive_meter_key(master, ident, level, version), ident, level, challenge).hex().upper()


def signed_in(vm: VirtualMeter) -> tuple[ConnectionPair, str]:
    pair = ConnectionPair.for_application(vm)
    return pair, pair.programming()


def er(event: object, code: str = "ER10") -> bool:
    return isinstance(event, ErrorReceived) and event.text == code


# --- known answers --------------------------------------------------------------------------------------------


def test_case_35_hkdf_known_answer_rfc5869_case_1() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    okm = HKDF(algorithm=hashes.SHA256(), length=42, salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA))).derive(
        b"\x0b" * 22
    )
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


def test_hmac_sha256_known_answer_rfc4231_case_2() -> None:
    digest = hmac.new(b"Jefe", b"what do ya want for nothing?", hashlib.sha256).hexdigest()
    assert digest == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_case_35_fixed_length_encoding_keeps_serials_apart() -> None:
    a = derive_meter_key(MASTER, MeterIdentity("MKT", "123"), 3, 1)
    b = derive_meter_key(MASTER, MeterIdentity("MKT", "1230"), 3, 1)
    assert a != b and len(a) == 32
    assert derive_meter_key(MASTER, IDENT, 2, 1) != derive_meter_key(MASTER, IDENT, 3, 1)


# --- A. malformed input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "A" * 31, "A" * 33, "A" * 100, "0123456789abcdef0123456789abcdef", "G" * 32])
def test_case_1_2_malformed_p2_values_fail_uniformly(value: str) -> None:
    vm = meter()
    pair, _ = signed_in(vm)
    assert er(pair.command(R("P2", "", value)))
    assert vm.security.log_entries()[-1].kind == "AUTH_FAIL"


def test_case_5_unknown_commands_are_refused_without_state_change() -> None:
    vm = meter()
    pair, _ = signed_in(vm)
    for cmd in (R("P3", "", "x"), R("E1", "X"), R("R0", "1.8.0"), R("W0", "1.8.0", "1")):
        event = pair.command(cmd)
        assert isinstance(event, ErrorReceived)
    assert vm.security.open_session().level == 1


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from(["P1", "P2", "P0", "R1", "W1", "E2", "R5"]), st.text(max_size=40)), max_size=6)
)
def test_case_6_no_command_sequence_reaches_level_2_without_a_secret(commands: list[tuple[str, str]]) -> None:
    vm = meter()
    pair, _ = signed_in(vm)
    for code, text in commands:
        value = "".join(c for c in text if c.isascii() and c.isprintable() and c not in "()*/!")
        if value in ("20261125",):
            continue
        try:
            cmd = R(code, "1.6.0" if code[0] in "RWE" else "", value)
        except Exception:
            continue
        pair.command(cmd)
    event = pair.command(R("R1", "1.6.0"))
    assert er(event, "ER02")  # level 1 only: the MD register stays closed


# --- B. authentication ----------------------------------------------------------------------------------------


def test_case_7_correct_level_3_tag_grants_level_3_and_is_logged() -> None:
    vm = meter()
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)
    assert vm.security.log_entries()[-1].detail == "level 3 by challenge-response"


def test_case_8_level_2_tag_reads_but_cannot_write() -> None:
    vm = meter()
    vm.open_cover()
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 2))), PositiveAck)
    assert isinstance(pair.command(R("R1", "1.6.0")), AnswerReceived)
    assert er(pair.command(R("W1", "C.60.1", "fixed 15")), "ER02")


def test_case_9_tag_for_another_serial_or_key_version_is_refused() -> None:
    vm = meter()
    pair, operand = signed_in(vm)
    assert er(pair.command(R("P2", "", tag_for(operand, 3, serial="87654321"))))
    pair, operand = signed_in(vm)
    assert er(pair.command(R("P2", "", tag_for(operand, 3, version=2))))


def test_case_10_11_p2_without_p0_or_twice_per_challenge_is_refused() -> None:
    vm = meter()
    session = vm.security.open_session()
    assert session.authenticate("2", "0" * 32) == Denied(Denial.AUTHENTICATION)  # no P0 was sent in this session
    face = vm.open_session()  # the port's face turns the decision into ER10 after the uniform delay
    reply = face.handle(CommandReceived(command=R("P2", "", "0" * 32)))
    assert reply.messages == (AUTH_ERROR,) and reply.delay == AUTH_FAILURE_DELAY
    pair, operand = signed_in(vm)
    good = tag_for(operand, 3)
    assert isinstance(pair.command(R("P2", "", "F" * 32)), ErrorReceived)
    assert er(pair.command(R("P2", "", good)))  # the challenge was used up by the first P2


def test_case_12_replay_of_a_recorded_exchange_in_a_new_session_is_refused() -> None:
    vm = meter()
    pair, operand = signed_in(vm)
    recorded = tag_for(operand, 3)
    assert isinstance(pair.command(R("P2", "", recorded)), PositiveAck)
    pair.sign_off()
    pair.advance(3)
    pair2, operand2 = signed_in(vm)
    assert operand2 != operand
    assert er(pair2.command(R("P2", "", recorded)))


def test_case_13_challenges_are_unique_and_the_counter_survives_restarts(tmp_path: Path) -> None:
    store = NvStore(tmp_path / "m.sqlite")
    seen = set()
    counters = []
    for _ in range(3):
        sec = meter(store).security
        for _ in range(200):
            challenge = sec.next_challenge()
            seen.add(challenge)
            counters.append(int.from_bytes(challenge[1:5], "big"))
    assert len(seen) == 600 and counters == sorted(counters) and len(set(counters)) == 600


def test_case_14_challenges_come_from_the_csprng(monkeypatch: pytest.MonkeyPatch) -> None:
    import meterkit.security.challenge as ch

    calls = []
    monkeypatch.setattr(ch.secrets, "token_bytes", lambda n: calls.append(n) or b"\x11" * n)
    assert make_challenge(1, 7) == b"\x01\x00\x00\x00\x07" + b"\x11" * 11 and calls == [11]
    source = Path(ch.__file__).read_text()
    assert "import random" not in source


def test_case_15_password_cannot_grant_level_3_and_defaults_are_refused() -> None:
    vm = meter()
    vm.open_cover()
    pair, _ = signed_in(vm)
    assert er(pair.command(R("P1", "", "00000000")))
    assert isinstance(pair.command(R("P1", "", "20261125")), PositiveAck)
    assert er(pair.command(R("W1", "C.60.1", "fixed 15")), "ER02")  # the password gave level 2 only
    with pytest.raises(ConfigError, match="password_levels may only hold 2"):
        load_config(text="[security]\npassword_levels = [3]\n")


# --- C. brute force and lockout -------------------------------------------------------------------------------


def test_case_16_17_third_failure_locks_60_s_even_for_a_correct_tag_then_doubles() -> None:
    vm = meter()
    pair, operand = signed_in(vm)
    tag = tag_for(operand, 3)  # a correct tag for this session's challenge
    for _ in range(3):
        pair.command(R("P1", "", "wrong-pw"))
    until = vm.security.lockout.locked_until
    assert until is not None and until - vm.meter.now == timedelta(seconds=60)
    assert er(pair.command(R("P2", "", tag)))  # correct, but locked
    _pair2, operand2 = signed_in(vm)
    assert operand2 == ""  # no challenge while locked (issue #14 item 8)
    vm.advance_to(vm.meter.now + timedelta(seconds=61), step_s=1)
    pair3, _ = signed_in(vm)
    assert er(pair3.command(R("P1", "", "wrong-again")))
    assert vm.security.lockout.locked_until - vm.meter.now == timedelta(seconds=120)  # type: ignore[operator]
    vm.advance_to(vm.meter.now + timedelta(seconds=121), step_s=1)
    pair4, operand4 = signed_in(vm)
    assert isinstance(pair4.command(R("P2", "", tag_for(operand4, 3))), PositiveAck)
    # case 19: a success at level 3 fills the budgets of levels 2 and 3 again (issue #14 item 8: per level)
    assert vm.security.lockout.counts == {"2": 0, "3": 0}


def test_case_16_17_lock_doubles_up_to_the_24_h_cap() -> None:
    vm = meter()
    lock = vm.security.lockout
    now = vm.meter.now
    lengths = []
    for i in range(15):
        t = now + timedelta(days=2 * i)
        lock.begin(t, "P2")
        lock.failed()
        lengths.append(0 if lock.locked_until is None else int((lock.locked_until - t).total_seconds()))
    assert lengths[:5] == [0, 0, 60, 120, 240]
    assert lengths[-1] == 86400 and max(lengths) == 86400


def test_knowing_the_read_password_buys_no_extra_guesses_at_the_keys() -> None:
    vm = meter()
    for _ in range(2):
        pair, _op = signed_in(vm)
        assert er(pair.command(R("P2", "", "0" * 32)))
    pair, _op = signed_in(vm)
    assert isinstance(pair.command(R("P1", "", "20261125")), PositiveAck)  # the household knows the password
    pair, _op = signed_in(vm)
    assert er(pair.command(R("P2", "", "0" * 32)))
    assert vm.security.lockout.is_locked(vm.meter.now)  # the third wrong tag locks, password or not


def test_case_18_lockout_survives_a_restart_and_is_counted_before_verification(tmp_path: Path) -> None:
    store = NvStore(tmp_path / "m.sqlite")
    vm = meter(store)
    session = vm.security.open_session()
    session.operand()
    vm.security.lockout.begin(vm.meter.now)  # power cut between counting and checking
    again = meter(store)
    assert again.security.lockout.consecutive == 1 and again.security.lockout.pending


def test_case_19_ten_failures_in_24_h_raise_a_brute_force_alarm() -> None:
    vm = meter()
    for i in range(10):
        vm.advance_to(vm.meter.now + timedelta(hours=1, seconds=1), step_s=60)
        session = vm.security.open_session()
        session.authenticate("1", f"guess{i:04d}")
    kinds = [a.kind for a in vm.outbox.pending()]
    assert kinds.count("SEC_BRUTE_FORCE") == 1


def test_case_20_readout_stays_available_while_locked() -> None:
    vm = meter()
    session = vm.security.open_session()
    for i in range(3):
        assert session.authenticate("1", f"bad{i}") == Denied(Denial.AUTHENTICATION)
    pair = ConnectionPair.for_application(vm)
    assert next(d.address for d in pair.readout().datasets) == "0.0.0"


def test_case_21_attempts_per_day_under_attack_are_bounded() -> None:
    vm = meter()
    attempts = 0
    end = vm.meter.now + timedelta(days=2)
    while vm.meter.now < end:
        session = vm.security.open_session()
        if not vm.security.lockout.is_locked(vm.meter.now):
            attempts += 1
        session.authenticate("1", "guess")
        until = vm.security.lockout.locked_until
        step = max(1.0, (until - vm.meter.now).total_seconds() if until else 1.0)
        vm.meter.now += timedelta(seconds=step)
    assert attempts <= 3 + 11 + 2  # 2 free, then 60 s doubling to 24 h: about a dozen in the first day


# --- E. uniform failures --------------------------------------------------------------------------------------


def test_case_25_verification_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    import meterkit.security.challenge as ch

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(ch.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    keys = {2: b"k" * 32, 3: b"K" * 32}
    challenge = make_challenge(1, 1)
    assert verify_tag(keys, IDENT, challenge, answer_tag(keys[2], IDENT, 2, challenge)) == 2
    assert len(calls) == 2  # every level compared, no early exit


def test_case_26_27_every_failure_gives_the_same_bytes_after_the_same_delay() -> None:
    replies = []
    for make in (
        lambda op: "0" * 32,
        lambda op: tag_for(op, 3)[:-1] + ("0" if tag_for(op, 3)[-1] != "0" else "1"),
        lambda op: ("1" if tag_for(op, 3)[0] != "1" else "2") + tag_for(op, 3)[1:],
        lambda op: tag_for(op, 3, version=2),
        lambda op: "A" * 1000,
        lambda op: "short",
        lambda op: tag_for(op, 3, serial="1"),
    ):
        vm = meter()
        face = vm.open_session()
        p0 = face.handle(ProgrammingRequested(baud=9600)).messages[0]
        assert isinstance(p0, CommandMessage) and p0.data_set is not None
        reply: SessionReply = face.handle(CommandReceived(command=R("P2", "", make(p0.data_set.value))))
        replies.append((tuple(m.to_bytes() for m in reply.messages), reply.delay))
    assert len(set(replies)) == 1 and replies[0][1] == AUTH_FAILURE_DELAY


# --- F. writes, cover, tamper ---------------------------------------------------------------------------------


def level3(vm: VirtualMeter) -> ConnectionPair:
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)
    return pair


def test_case_28_level_3_write_with_the_cover_closed_is_refused_and_logged() -> None:
    vm = meter()
    pair = level3(vm)
    assert er(pair.command(R("W1", "C.60.1", "fixed 15")), "ER06")
    assert vm.security.log_entries()[-1].kind == "WRITE_DENIED_COVER_CLOSED"
    assert str(vm.meter.demand_config) == "sliding 15/1"


def test_case_29_cover_open_plus_level_3_writes_until_the_window_ends() -> None:
    vm = meter()
    pair = level3(vm)
    vm.open_cover()
    assert vm.security.log_entries()[-1].kind == "COVER_OPEN_AUTH"
    assert isinstance(pair.command(R("W1", "C.60.1", "fixed 15")), PositiveAck)
    assert vm.security.log_entries()[-1].kind == "WRITE_OK"
    vm.close_cover()
    assert er(pair.command(R("W1", "C.60.1", "fixed 30")), "ER06")


def test_case_30_unauthorised_cover_opening_trips_the_relay_and_queues_an_alarm() -> None:
    vm = meter()
    vm.set_phases(tuple(PhaseInput(230, 10, 0) for _ in range(3)))
    vm.open_cover()
    assert not vm.security.relay_connected
    kinds = [e.kind for e in vm.security.log_entries()]
    assert kinds[-2:] == ["COVER_OPEN_UNAUTH", "RELAY_TRIP"]
    alarm = vm.outbox.pending()[-1]
    assert (
        alarm.kind == "TAMPER"
        and alarm.details == {"event": "COVER_OPEN_UNAUTH", "relay": "open"}
        and len(alarm.id) == 32
    )
    before = vm.meter.registers.total["A+"]
    vm.advance_to(vm.meter.now + timedelta(minutes=5))
    assert vm.meter.registers.total["A+"] == before  # energy stops with the relay open
    pair, _ = signed_in(vm)
    assert er(pair.command(R("E2", "RELAY.CONNECT")), "ER02")
    pair = level3(vm)
    assert isinstance(pair.command(R("E2", "RELAY.CONNECT")), PositiveAck) and vm.security.relay_connected


def test_case_31_cover_opened_while_unpowered_is_a_tamper_at_power_up() -> None:
    vm = meter()
    vm.security.power_down()
    vm.security.power_up(cover_open=True)
    assert vm.security.log_entries()[-2].kind == "TAMPER_AT_POWER_UP"


def test_case_32_tamper_events_cannot_be_cleared_and_calibration_is_not_writable() -> None:
    vm = meter()
    vm.open_cover()
    pair = level3(vm)
    for function in ("PROFILE.RESET", "EVENTS.RESET", "SECLOG.RESET"):
        pair.command(R("E2", function))
    assert "COVER_OPEN_UNAUTH" in [e.kind for e in vm.security.log_entries()]
    assert isinstance(pair.command(R("W1", "C.60.3", "vectorial")), ErrorReceived)  # the VA method is metrology


# --- G. logs and keys -----------------------------------------------------------------------------------------


def test_case_33_a_failure_storm_cannot_evict_tamper_events() -> None:
    vm = meter()
    vm.open_cover()
    for i in range(600):
        vm.security.log.add(vm.meter.now, "AUTH_FAIL", f"storm {i}")
    kinds = [e.kind for e in vm.security.log_entries()]
    assert "COVER_OPEN_UNAUTH" in kinds and kinds.count("AUTH_FAIL") == 500
    assert vm.security.log.overflow("access") == 100


def test_case_34_no_secrets_in_logs_and_the_log_needs_level_2() -> None:
    vm = meter()
    pair, operand = signed_in(vm)
    good = tag_for(operand, 3)
    pair.command(R("P1", "", "20261125"))
    assert isinstance(pair.command(R("R5", "P.99")), AnswerReceived)  # level 2 now
    text = " ".join(f"{e.kind} {e.detail}" for e in vm.security.log_entries())
    assert "20261125" not in text and good not in text and MASTER.hex() not in text
    fresh, _ = signed_in(vm)
    assert er(fresh.command(R("R5", "P.99")), "ER02")


def test_case_36_key_rotation_over_the_port_refuses_old_keys_and_rollback() -> None:
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    vm = meter()
    vm.open_cover()
    pair = level3(vm)
    vm.close_cover()
    vm.open_cover()  # authorised: a level-3 session just happened
    new_l2 = bytes(range(32))
    wrapped = aes_key_wrap(derive_meter_key(MASTER, IDENT, 3, 1), new_l2).hex().upper()
    assert isinstance(pair.command(R("W1", "KEY.L2", "02" + wrapped)), PositiveAck)
    assert er(pair.command(R("W1", "KEY.L2", "01" + wrapped)), "ER03")  # rollback
    fresh, operand = signed_in(vm)
    assert er(fresh.command(R("P2", "", tag_for(operand, 2))))  # the old level-2 key no longer works
    versions = parse_operand_full(operand).versions
    assert versions == {2: 2, 3: 1}  # challenges announce the new level-2 version; level 3 is untouched
    again, operand = signed_in(vm)
    assert isinstance(again.command(R("P2", "", tag_for(operand, 3))), PositiveAck)  # the level-3 key still works
    new_l3 = bytes(range(1, 33))
    wrapped3 = aes_key_wrap(derive_meter_key(MASTER, IDENT, 3, 1), new_l3).hex().upper()
    assert isinstance(pair.command(R("W1", "KEY.L3", "02" + wrapped3)), PositiveAck)  # its own version sequence
    assert vm.security.key_versions == {2: 2, 3: 2}
    assert [e.detail for e in vm.security.log_entries() if e.kind == "KEY_CHANGED"] == [
        "level 2 version 2",
        "level 3 version 2",
    ]


def test_case_37_key_packages_refuse_expired_foreign_tampered_and_wrong_passphrase(tmp_path: Path) -> None:
    path = package_file(tmp_path, passphrase="pass phrase")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    pkg = open_package(path, "pass phrase", now=START + timedelta(hours=1))
    meter_key = derive_meter_key(MASTER, IDENT, 3, 1)
    assert pkg.key(IDENT, 3, 1) == work_order_key(meter_key, "HHU-1", int((START + timedelta(days=1)).timestamp()))
    assert pkg.key(IDENT, 3, 1) != meter_key  # the package never holds a meter's own key
    with pytest.raises(SecurityError, match="expired"):
        open_package(path, "pass phrase", now=START + timedelta(days=2))
    with pytest.raises(SecurityError, match=r"wrong passphrase \(METERKIT_KEY_PASSPHRASE\) or the package was altered"):
        open_package(path, "nope", now=START)
    doc = path.read_text()
    i = doc.index('"ciphertext": "') + 20
    flipped = doc[:i] + ("0" if doc[i] != "0" else "1") + doc[i + 1 :]
    path.write_text(flipped)
    with pytest.raises(SecurityError, match="altered"):
        open_package(path, "pass phrase", now=START)
    with pytest.raises(SecurityError, match="not in this key package"):
        pkg.key(MeterIdentity("MKT", "99999999"), 3, 1)
    path.write_text("{}")
    with pytest.raises(DataError, match="not a meterkit key package"):
        open_package(path, "pass phrase", now=START)


def test_hand_held_with_a_package_authenticates_at_level_3_without_the_master_key(tmp_path: Path) -> None:
    inner = package_auth(tmp_path, levels=(3,))
    auth = IntegrityGuard(inner)
    vm = meter()
    pair, operand = signed_in(vm)
    p2 = auth.respond(operand, pair.client.identification)  # type: ignore[arg-type]
    assert isinstance(auth.check(pair.command(p2)), PositiveAck)  # the meter's ACK proves it knows the key
    assert MASTER.hex() not in str(inner.package.meters)


def test_the_meter_itself_refuses_an_expired_work_order_key(tmp_path: Path) -> None:
    auth = package_auth(tmp_path, days=1)
    vm = meter()
    vm.advance_to(START + timedelta(days=1, minutes=1), step_s=60)  # the hand-held's own check is bypassed
    pair, operand = signed_in(vm)
    assert er(pair.command(auth.respond(operand, pair.client.identification)))  # type: ignore[arg-type]
    assert vm.security.log_entries()[-1].detail.startswith("work order of HHU-1 expired")


def test_a_package_whose_expiry_was_forged_does_not_open_the_meter(tmp_path: Path) -> None:
    from dataclasses import replace

    package = package_auth(tmp_path, days=1).package
    honest = IntegrityGuard(KeyPackageAuthenticator(package, 3))
    forged = KeyPackageAuthenticator(replace(package, not_after=START + timedelta(days=3650)), 3)
    vm = meter()
    pair, operand = signed_in(vm)
    assert er(pair.command(forged.respond(operand, pair.client.identification)))  # type: ignore[arg-type]
    pair, operand = signed_in(vm)
    assert isinstance(honest.check(pair.command(honest.respond(operand, pair.client.identification))), PositiveAck)  # type: ignore[arg-type]
    assert vm.security.log_entries()[-1].detail == "level 3 by challenge-response (hand-held HHU-1)"


def test_a_revoked_hand_held_is_refused_by_the_meter(tmp_path: Path) -> None:
    auth = package_auth(tmp_path, hhu="HHU-7")
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    text = text.replace('start = "2026-11-01T00:00:00+00:00"', f'start = "{START.isoformat()}"')
    text = text.replace("[security]\n", '[security]\nrevoked_hhus = ["HHU-7"]\n', 1)
    vm = VirtualMeter(load_config(text=text), follow_clock=False)
    pair, operand = signed_in(vm)
    assert er(pair.command(auth.respond(operand, pair.client.identification)))  # type: ignore[arg-type]


def test_a_meter_configured_with_its_own_keys_needs_no_master(tmp_path: Path) -> None:
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    text = text.replace('start = "2026-11-01T00:00:00+00:00"', f'start = "{START.isoformat()}"')
    master_line = next(line for line in text.splitlines() if line.startswith("master_key"))
    own = "\n".join(f'level{lv}_key = "{derive_meter_key(MASTER, IDENT, lv, 1).hex()}"' for lv in (2, 3))
    vm = VirtualMeter(load_config(text=text.replace(master_line, own)), follow_clock=False)
    assert vm.security.config.master_key is None
    auth = IntegrityGuard(package_auth(tmp_path))
    pair, operand = signed_in(vm)
    assert isinstance(auth.check(pair.command(auth.respond(operand, pair.client.identification))), PositiveAck)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not both"):
        load_config(text=text.replace(master_line, master_line + "\n" + own))
    with pytest.raises(ConfigError, match="go together"):
        load_config(text=text.replace(master_line, own.splitlines()[0]))


def test_sealed_button_grants_level_3_to_the_next_programming_session_only() -> None:
    vm = meter()
    vm.security.button_pressed()
    readout = ConnectionPair.for_application(vm)
    readout.readout()  # a readout does not use up the grant
    pair, _operand = signed_in(vm)
    assert vm.security.log_entries()[-1].detail == "level 3 by sealed button"
    vm.open_cover()  # right after a level-3 session: authorised, no tamper
    assert vm.security.log_entries()[-1].kind == "COVER_OPEN_AUTH"
    assert isinstance(pair.command(R("W1", "C.60.1", "fixed 15")), PositiveAck)
    later, _ = signed_in(vm)
    assert er(later.command(R("W1", "C.60.1", "fixed 30")), "ER02")  # the grant was for one session


def test_lockout_end_is_logged_when_the_next_attempt_is_evaluated() -> None:
    vm = meter()
    for _ in range(3):
        pair, _op = signed_in(vm)
        pair.command(R("P2", "", "0" * 32))
    vm.advance_to(vm.meter.now + timedelta(seconds=61), step_s=1)
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)
    kinds = [e.kind for e in vm.security.log_entries()]
    assert kinds.index("LOCKOUT_END") > kinds.index("LOCKOUT_START")


def test_a_flood_of_refused_attempts_keeps_the_lockout_record_small() -> None:
    vm = meter()
    lock = vm.security.lockout
    for i in range(3000):
        lock.refused(vm.meter.now + timedelta(seconds=i))
    assert len(lock.recent) == vm.security.config.lockout.alarm_failures
    assert len(vm.store.get_value("security.lockout") or "") < 2000


def test_after_a_replay_security_time_runs_on_so_a_lockout_ends() -> None:
    from meterkit.meter.virtual import load_virtual_meter

    faq = Path(__file__).resolve().parents[2] / "examples" / "faq-0900-0930.csv"
    vm = load_virtual_meter(None, None, replay=faq)
    held = vm.meter.now
    for _ in range(3):
        pair, _op = signed_in(vm)
        assert er(pair.command(R("P2", "", "0" * 32)))
    pair, operand = signed_in(vm)
    assert operand == ""  # locked: no challenge (issue #14 item 8)
    assert er(pair.command(R("P2", "", "0" * 32)))
    vm.clock.advance(61)  # type: ignore[attr-defined]
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)
    assert vm.meter.now == held  # the meter's registers stay at the end of the file


def test_security_decides_and_the_port_face_answers() -> None:
    vm = meter()
    session = vm.security.open_session()
    for i in range(3):
        assert session.authenticate("1", f"bad{i}") == Denied(Denial.AUTHENTICATION)
    assert session.authenticate("1", "whatever") == Denied(Denial.LOCKED)  # locked: not even evaluated
    fresh = meter()
    decided = fresh.security.open_session()
    assert decided.authorize(operation="read", required_level=2, name="1.6.0") == Denied(Denial.LEVEL, needed=2)
    assert decided.authenticate("1", fresh.security.read_password or "") == Granted(2)
    assert decided.authorize(operation="read", required_level=2, name="1.6.0") == Granted(2)
    assert decided.authorize(operation="write", required_level=2, name="C.60.1") == Denied(Denial.COVER)
    assert isinstance(fresh.open_session(), MeterSession)
