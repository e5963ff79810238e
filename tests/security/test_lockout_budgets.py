"""One failure budget per level, a lock that ends cleanly, no challenge while locked (issue #14 item 8)."""

from __future__ import annotations

from datetime import timedelta

from meterkit.iec62056_21.events import PositiveAck
from meterkit.security.challenge import answer_tag, parse_operand
from meterkit.security.keys import MeterIdentity, password_key

from .test_port_security import R, er, meter, signed_in, tag_for

READ_PW = "20261125"


def _password_tag(operand: str) -> str:
    challenge, serial = parse_operand(operand)
    ident = MeterIdentity("MKT", serial)
    return answer_tag(password_key(READ_PW, ident), ident, 2, challenge).hex().upper()


def test_wrong_level_3_answers_interleaved_with_password_logins_lock_the_port() -> None:
    vm = meter()
    for _ in range(3):
        pair, operand = signed_in(vm)
        assert isinstance(pair.command(R("P2", "", _password_tag(operand))), PositiveAck)  # level 2 by P2
        pair, _ = signed_in(vm)
        assert isinstance(pair.command(R("P1", "", READ_PW)), PositiveAck)  # level 2 by P1
        if vm.security.lockout.is_locked(vm.meter.now):
            break
        pair, _ = signed_in(vm)
        assert er(pair.command(R("P2", "", "0" * 32)))  # a wrong level-3 guess
    assert vm.security.lockout.counts["3"] == 3
    assert vm.security.lockout.is_locked(vm.meter.now)


def test_a_correct_password_right_after_a_lock_ended_does_not_lock_again() -> None:
    vm = meter()
    for _ in range(3):
        pair, _ = signed_in(vm)
        assert er(pair.command(R("P2", "", "0" * 32)))  # wrong answers lock the port
    vm.advance_to(vm.meter.now + timedelta(seconds=61), step_s=1)
    pair, operand = signed_in(vm)
    assert operand != ""
    assert isinstance(pair.command(R("P1", "", READ_PW)), PositiveAck)
    assert not vm.security.lockout.is_locked(vm.meter.now)
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)
    kinds = [e.kind for e in vm.security.log_entries()]
    assert kinds.count("LOCKOUT_START") == 1 and kinds.count("LOCKOUT_END") == 1


def test_no_challenge_is_issued_while_locked_and_the_counter_does_not_move() -> None:
    vm = meter()
    pair, _ = signed_in(vm)
    for _ in range(3):
        pair.command(R("P1", "", "wrong-pw"))
    counter = vm.security.counter
    for _ in range(5):
        _pair, operand = signed_in(vm)
        assert operand == ""
    assert vm.security.counter == counter


def test_a_level_3_success_does_not_spend_the_level_2_budget() -> None:
    vm = meter()
    pair, _ = signed_in(vm)
    for _ in range(2):
        assert er(pair.command(R("P1", "", "wrong-pw")))
    pair, operand = signed_in(vm)
    assert isinstance(pair.command(R("P2", "", tag_for(operand, 3))), PositiveAck)
    assert vm.security.lockout.counts == {"2": 0, "3": 0}


def test_relay_connect_needs_the_cover_open_like_every_function() -> None:
    from .test_port_security import level3

    vm = meter()
    vm.open_cover()  # unauthorised: a tamper, the relay trips
    assert not vm.security.relay_connected
    vm.close_cover()
    pair = level3(vm)
    assert er(pair.command(R("E2", "RELAY.CONNECT")), "ER06")
    assert not vm.security.relay_connected
    vm.open_cover()  # now authorised by the level-3 session
    assert isinstance(pair.command(R("E2", "RELAY.CONNECT")), PositiveAck) and vm.security.relay_connected


def test_a_sealed_button_session_on_an_encrypting_meter_never_answers_above_level_1_in_plain() -> None:
    from .test_port_fuzz_and_modes import meter as configured

    vm = configured("encrypt_reads = true")
    vm.security.button_pressed()
    pair, _operand = signed_in(vm)
    assert er(pair.command(R("R1", "1.6.0")), "ER02")  # level 2, and no answer key to encrypt it with
    vm.open_cover()  # authorised by the button's level 3
    assert isinstance(pair.command(R("W1", "C.60.1", "fixed 15")), PositiveAck)  # writes still work
