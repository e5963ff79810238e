"""Integrity after login (#14 item 5): a protected session MACs every request and every answer (docs/security.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from meterkit.client.auth import IntegrityGuard
from meterkit.client.keypackage import KeyPackageAuthenticator
from meterkit.errors import SecurityError
from meterkit.iec62056_21.events import AnswerReceived, ClientEvent, ErrorReceived, PositiveAck
from meterkit.iec62056_21.integrity import HandheldIntegrity, MeterIntegrity
from meterkit.iec62056_21.messages import Ack, CommandMessage, DataAnswer, DataSet, ErrorAnswer, Value
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path

from .keyfix import START, package_auth


def meter(*, encrypt: bool = False) -> VirtualMeter:
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    text = text.replace('start = "2026-11-01T00:00:00+00:00"', f'start = "{START.isoformat()}"')
    if encrypt:
        text = text.replace("encrypt_reads = false", "encrypt_reads = true", 1)
    return VirtualMeter(load_config(text=text), follow_clock=False)


def R(code: str, address: str = "", value: str = "") -> CommandMessage:
    return CommandMessage(command=code[0], command_type=code[1], data_set=DataSet.single(address, value))


def protected(tmp_path: Path, *, encrypt: bool = False) -> tuple[VirtualMeter, ConnectionPair, IntegrityGuard]:
    """A genuine level-3 login whose session is protected (the meter proved the key with its ACK)."""
    vm = meter(encrypt=encrypt)
    auth = IntegrityGuard(package_auth(tmp_path, levels=(3,)))
    pair = ConnectionPair.for_application(vm)
    operand = pair.programming()
    assert isinstance(auth.check(pair.command(auth.respond(operand, pair.client.identification))), PositiveAck)  # type: ignore[arg-type]
    return vm, pair, auth


def rewrite(command: CommandMessage, address: str, value: str) -> CommandMessage:
    """What a man in the middle does: new address and value, the MAC value group kept."""
    assert command.data_set is not None
    mac = command.data_set.values[-1]
    return replace(command, data_set=DataSet(address=address, values=(Value(value=value), mac)))


def er(event: ClientEvent, code: str) -> bool:
    return isinstance(event, ErrorReceived) and event.text == code


# --- the meter refuses -------------------------------------------------------------------------------------------


def test_a_mitm_rewriting_a_writes_address_and_value_is_refused_by_the_meter_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    vm, pair, auth = protected(tmp_path)
    vm.open_cover()
    before = (str(vm.meter.demand_config), len(vm.security.log_entries()))
    forged = rewrite(auth.protect(R("W1", "C.60.1", "fixed 15")), "C.60.2", "28")
    assert er(auth.check(pair.command(forged)), "ER11")
    only_value = rewrite(auth.protect(R("W1", "C.60.1", "fixed 15")), "C.60.1", "fixed 30")
    assert er(auth.check(pair.command(only_value)), "ER11")
    assert (str(vm.meter.demand_config), len(vm.security.log_entries())) == before
    assert "WRITE_OK" not in [e.kind for e in vm.security.log_entries()]


def test_the_genuine_write_of_a_protected_session_is_done(tmp_path: Path) -> None:
    vm, pair, auth = protected(tmp_path)
    vm.open_cover()
    assert isinstance(auth.check(pair.command(auth.protect(R("W1", "C.60.1", "fixed 15")))), PositiveAck)
    assert str(vm.meter.demand_config) == "fixed 15"


def test_a_rewritten_read_is_refused_by_the_meter(tmp_path: Path) -> None:
    _vm, pair, auth = protected(tmp_path)
    forged = rewrite(auth.protect(R("R1", "1.8.0")), "2.8.0", "")
    assert er(auth.check(pair.command(forged)), "ER11")


def test_a_replayed_request_is_refused_by_the_meter(tmp_path: Path) -> None:
    vm, pair, auth = protected(tmp_path)
    vm.open_cover()
    write = auth.protect(R("W1", "C.60.1", "fixed 15"))
    assert isinstance(auth.check(pair.command(write)), PositiveAck)
    assert er(auth.check(pair.command(write)), "ER11")
    assert [e.kind for e in vm.security.log_entries()].count("WRITE_OK") == 1


def test_an_unauthenticated_request_is_refused_once_the_session_is_protected(tmp_path: Path) -> None:
    _vm, pair, auth = protected(tmp_path)
    assert er(auth.check(pair.command(R("R1", "1.8.0"))), "ER11")


def test_a_hand_held_that_does_not_offer_integrity_keeps_todays_plain_session(tmp_path: Path) -> None:
    vm = meter()
    auth = package_auth(tmp_path, levels=(3,))
    pair = ConnectionPair.for_application(vm)
    p2 = auth.respond(pair.programming(), pair.client.identification)  # type: ignore[arg-type]
    assert p2.data_set is not None
    plain_p2 = replace(p2, data_set=DataSet(address="", values=p2.data_set.values[:1]))  # no (MAC1)
    assert isinstance(pair.command(plain_p2), PositiveAck)
    answer = pair.command(R("R1", "1.8.0"))
    assert isinstance(answer, AnswerReceived) and answer.answer.datasets[0].address == "1.8.0"


def test_an_encrypting_meter_refuses_a_p2_without_the_integrity_offer(tmp_path: Path) -> None:
    vm = meter(encrypt=True)
    auth = package_auth(tmp_path, levels=(3,))
    pair = ConnectionPair.for_application(vm)
    p2 = auth.respond(pair.programming(), pair.client.identification)  # type: ignore[arg-type]
    assert p2.data_set is not None
    plain_p2 = replace(p2, data_set=DataSet(address="", values=p2.data_set.values[:1]))
    assert er(pair.command(plain_p2), "ER10")


# --- the hand-held refuses ---------------------------------------------------------------------------------------


def test_a_rewritten_data_answer_is_refused_by_the_hand_held(tmp_path: Path) -> None:
    _vm, pair, auth = protected(tmp_path)
    event = pair.command(auth.protect(R("R1", "1.8.0")))
    assert isinstance(event, AnswerReceived)
    data, mac = event.answer.datasets
    forged = DataSet(address="2.8.0", values=data.values)
    with pytest.raises(SecurityError, match="integrity check"):
        auth.check(AnswerReceived(answer=DataAnswer(datasets=(forged, mac))))


def test_an_unauthenticated_ack_is_refused_by_the_hand_held(tmp_path: Path) -> None:
    _vm, _pair, auth = protected(tmp_path)
    with pytest.raises(SecurityError, match="unauthenticated answer"):
        auth.check(PositiveAck())


def test_a_rewritten_or_unauthenticated_error_is_refused_by_the_hand_held(tmp_path: Path) -> None:
    _vm, pair, auth = protected(tmp_path)
    event = pair.command(auth.protect(R("W1", "C.60.1", "fixed 15")))  # cover closed: ER06, protected
    assert isinstance(event, AnswerReceived)
    err, mac = event.answer.datasets
    assert err == DataSet.single("ERR", "ER06")
    with pytest.raises(SecurityError, match="integrity check"):
        auth.check(AnswerReceived(answer=DataAnswer(datasets=(DataSet.single("ERR", "ER02"), mac))))
    with pytest.raises(SecurityError, match="unauthenticated answer"):
        auth.check(ErrorReceived(text="ER06"))
    assert er(auth.check(event), "ER06")  # the genuine one opens
    with pytest.raises(SecurityError, match="replayed"):
        auth.check(event)


def test_a_fake_meter_without_the_key_is_detected_before_the_hand_held_sends_anything_further(
    tmp_path: Path,
) -> None:
    """The fake meter relays a real meter's challenge, but cannot make the protected ACK to P2."""
    real = ConnectionPair.for_application(meter())
    operand = real.programming()
    package = package_auth(tmp_path, levels=(3,)).package
    strict = IntegrityGuard(KeyPackageAuthenticator(package, 3, require_encryption=True))
    strict.respond(operand, real.client.identification)  # type: ignore[arg-type]
    with pytest.raises(SecurityError, match="did not prove that it knows the key"):
        strict.check(PositiveAck())  # what a fake meter (or an old one) answers
    lenient = IntegrityGuard(KeyPackageAuthenticator(package, 3))
    lenient.respond(operand, real.client.identification)  # type: ignore[arg-type]
    guessed = DataAnswer(datasets=(DataSet.single("MAC", "A00000001" + "0" * 32),))
    with pytest.raises(SecurityError, match="integrity check"):
        lenient.check(AnswerReceived(answer=guessed))


# --- wire format (the worked example of docs/security.md) ---------------------------------------------------------

EXAMPLE_KEY = bytes(range(32))


def test_worked_example_of_the_wire_format() -> None:
    hhu, vm = HandheldIntegrity(EXAMPLE_KEY, required=True), MeterIntegrity(EXAMPLE_KEY)
    assert isinstance(hhu.check(AnswerReceived(answer=vm.protect(Ack()))), PositiveAck)  # type: ignore[arg-type]
    write = hhu.protect(R("W1", "C.60.1", "fixed 15"))
    assert write.to_bytes() == EXAMPLE_W1
    assert vm.check_request(write) == R("W1", "C.60.1", "fixed 15")
    ack = vm.protect(Ack())
    assert ack.to_bytes() == EXAMPLE_ACK
    error = vm.protect(ErrorAnswer(text="ER06"))
    assert error.to_bytes() == EXAMPLE_ERR


EXAMPLE_W1 = b"\x01W1\x02C.60.1(fixed 15)(M000000018A030E4C3B44CD1566D3104BE89BD1AE)\x03p"
EXAMPLE_ACK = b"\x02MAC(A00000002EC4167378B1FFBC824D2F3A2B84B0169)\x03\x0e"
EXAMPLE_ERR = b"\x02ERR(ER06)\r\nMAC(E000000033D492EBC3F0FBE118C90179CEC8C37AD)\r\n\x03$"


# --- a pinned meter keeps its protection (trust on first use) -------------------------------------------------------


def test_a_meter_pinned_as_protecting_its_session_cannot_be_talked_down_by_a_stripped_offer(tmp_path: Path) -> None:
    from meterkit.client.auth import PasswordAuthenticator, PinnedAuthenticator
    from meterkit.client.known_meters import KnownMeters

    vm, path = meter(), tmp_path / "known.json"
    first = IntegrityGuard(PinnedAuthenticator(PasswordAuthenticator("20261125"), KnownMeters.load(path)))
    pair = ConnectionPair.for_application(vm)
    operand = pair.programming()
    ident = pair.client.identification
    assert ident is not None
    assert isinstance(first.check(pair.command(first.respond(operand, ident))), PositiveAck)
    entry = KnownMeters.load(path).get(ident)
    assert entry is not None and (entry.challenge, entry.integrity) == (True, True)
    # next time a man in the middle strips the offer and answers the P2 with a bare ACK: refused, nothing is sent
    again = IntegrityGuard(PinnedAuthenticator(PasswordAuthenticator("20261125"), KnownMeters.load(path)))
    again.respond(operand, ident)
    with pytest.raises(SecurityError, match="did not prove that it knows the key"):
        again.check(PositiveAck())
    # a hand-held without the pin keeps the documented fallback for a meter that does not speak integrity
    unpinned = IntegrityGuard(PasswordAuthenticator("20261125"))
    unpinned.respond(operand, ident)
    assert isinstance(unpinned.check(PositiveAck()), PositiveAck)


def test_a_known_meters_entry_written_before_integrity_was_recorded_reads_as_not_pinned(tmp_path: Path) -> None:
    from meterkit.client.known_meters import FORMAT, KnownMeters

    path = tmp_path / "old.json"
    old = {"challenge": True, "serial": "12345678", "encrypts": False}
    path.write_text(json.dumps({"format": FORMAT, "meters": {"MKT/VM3PH-100": old}}))
    entry = KnownMeters.load(path).meters["MKT/VM3PH-100"]
    assert (entry.challenge, entry.serial, entry.encrypts, entry.integrity) == (True, "12345678", False, False)
