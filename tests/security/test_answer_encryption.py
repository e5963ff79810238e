"""Encryption of read answers with a session key ("manufacturer-specific data encryption", notes §6.3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit.client import MeterClient, PasswordAuthenticator
from meterkit.client.auth import IntegrityGuard
from meterkit.errors import ConfigError, SecurityError
from meterkit.iec62056_21.events import AnswerReceived, ErrorReceived, PositiveAck
from meterkit.iec62056_21.messages import CommandMessage, DataAnswer, DataSet, IdentificationMessage, Value
from meterkit.iec62056_21.sealed import is_encrypted, open_answer, seal_answer, unwrap_answer
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.security.answer_crypto import AnswerCipher, session_key
from meterkit.security.challenge import parse_operand
from meterkit.security.keys import MeterIdentity, derive_meter_key, password_key
from meterkit.security.port import SecurityConfig
from meterkit.transport import open_transport

from ..e2e.conftest import running_server
from .keyfix import IDENT, MASTER, START, package_auth

KEY = bytes(range(32))


def encrypting_meter(*, encrypt: bool = True) -> VirtualMeter:
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    text = text.replace('start = "2026-11-01T00:00:00+00:00"', f'start = "{START.isoformat()}"')
    if encrypt:
        assert "encrypt_reads = false" in text
        text = text.replace("encrypt_reads = false", "encrypt_reads = true", 1)
    return VirtualMeter(load_config(text=text), follow_clock=False)


def R1(address: str) -> CommandMessage:
    return CommandMessage(command="R", command_type="1", data_set=DataSet.single(address))


def ident() -> IdentificationMessage:
    return IdentificationMessage(manufacturer="MKT", baud_char="5", ident="x")


def test_sealed_answer_opens_to_the_same_data_sets_and_hides_the_values() -> None:
    datasets = (
        DataSet(address="1.6.0", values=(Value(value="0157.00", unit="kW"), Value(value="2611020922"))),
        DataSet(address="", values=(Value(value="2611020900"), Value(value="00"), Value(value="000001.234"))),
    )
    sealed = seal_answer(AnswerCipher(KEY, IDENT, 2), datasets)
    assert is_encrypted(sealed) and sealed[0] == DataSet.single("ENC", "00000001")
    assert all(len(ds.value) <= 128 for ds in sealed)
    assert "0157.00" not in "".join(ds.value for ds in sealed)
    assert open_answer(AnswerCipher(KEY, IDENT, 2), sealed) == datasets


@given(st.lists(st.from_regex(r"[0-9A-Z.]{0,12}", fullmatch=True), min_size=1, max_size=40))
def test_any_answer_round_trips_through_the_cipher(values: list[str]) -> None:
    datasets = tuple(DataSet.single(f"C.{i}.0", v) for i, v in enumerate(values))
    assert open_answer(AnswerCipher(KEY, IDENT, 3), seal_answer(AnswerCipher(KEY, IDENT, 3), datasets)) == datasets


def test_altered_wrong_key_replayed_or_reordered_answers_are_refused() -> None:
    meter_side = AnswerCipher(KEY, IDENT, 2)
    first = seal_answer(meter_side, (DataSet.single("1.8.0", "000001.000", "kWh"),))
    second = seal_answer(meter_side, (DataSet.single("1.8.0", "000002.000", "kWh"),))
    flipped = first[1].value[:-1] + ("0" if first[1].value[-1] != "0" else "1")
    with pytest.raises(SecurityError, match="integrity"):
        open_answer(AnswerCipher(KEY, IDENT, 2), (first[0], DataSet.single("", flipped), *first[2:]))
    with pytest.raises(SecurityError, match="integrity"):
        open_answer(AnswerCipher(bytes(32), IDENT, 2), first)
    with pytest.raises(SecurityError, match="integrity"):  # the level is bound into the associated data
        open_answer(AnswerCipher(KEY, IDENT, 3), first)
    hhu = AnswerCipher(KEY, IDENT, 2)
    assert open_answer(hhu, second)[0].value == "000002.000"
    with pytest.raises(SecurityError, match="replayed or out of order"):
        open_answer(hhu, first)
    with pytest.raises(SecurityError, match="replayed or out of order"):
        open_answer(hhu, second)
    with pytest.raises(SecurityError, match="plain answer"):
        open_answer(hhu, (DataSet.single("1.8.0", "1"),))


#: two answers of one password session (password 20261125, challenge 00 01 .. 0F) as the meter sent them before
#: the framing moved out of the security layer: the wire form of a sealed answer may not change
PINNED_FIRST = (
    b"\x02ENC(00000001)\r\n"
    b"(9E9CE2505F1A92F520C9C51185FBFB40582F72B46AB1117CC47832283CFEE0A5"
    b"3351263E58CBFDCA6CD7F2FF2B482F899D87545D27AB6E5857F578B854EB8D0F)\r\n"
    b"(C4A2A80DFEDCD971371E1197688BD9CD31C45E576EB58B35D61FBD6ADDA49204"
    b"34E10E1CF2DC90B4A481E3139AF77E555A9C87E4303392DBBE1D19AFDD4E92EB)\r\n"
    b"(7742A53DDFF4015145511B19A9E0E0ED987F1216F1F876FD85396F792C07890C"
    b"8236FDE2A68A14F3C704E1264D7E58A602EF29E8464C72E93E92DB88B8866E42)\r\n"
    b"(B8ADDC8CB686C23D09188405EFB36CA5F57AFD9312DA3C)\r\n\x039"
)
PINNED_SECOND = (
    b"\x02ENC(00000002)\r\n"
    b"(2538F9B5D162401887783747B59706BD92730E4EE6961DC83971512F31B5CD82"
    b"D599391744746642AF82C0AFAAE3D0)\r\n\x031"
)


def test_a_sealed_answer_is_the_same_bytes_on_the_wire() -> None:
    key = session_key(password_key("20261125", IDENT), bytes(range(16)), IDENT, 2)
    assert key.hex() == "e72a3c1bbf7cd6e6f8c76697366d16841b2bbd370162ca331bf0d13c477599a2"
    datasets = (
        DataSet(address="1.6.0", values=(Value(value="0157.00", unit="kW"), Value(value="2611020922"))),
        DataSet.single("1.8.0", "000001.234", "kWh"),
        *(DataSet.single(f"C.{i}.0", "X" * 20) for i in range(5)),
    )
    meter_side = AnswerCipher(key, IDENT, 2)
    assert DataAnswer(datasets=seal_answer(meter_side, datasets)).to_bytes() == PINNED_FIRST
    assert DataAnswer(datasets=seal_answer(meter_side, datasets[:1])).to_bytes() == PINNED_SECOND


def test_the_cipher_numbers_answers_and_opens_only_later_ones() -> None:
    meter_side, hhu = AnswerCipher(KEY, IDENT, 2), AnswerCipher(KEY, IDENT, 2)
    (c1, first), (c2, second) = meter_side.seal(b"one"), meter_side.seal(b"two")
    assert (c1, c2) == (1, 2) and len(first) == len(b"one") + 16  # ciphertext and a 16-byte tag
    with pytest.raises(SecurityError, match="integrity"):
        hhu.open(c2, first)
    assert hhu.open(c2, second) == b"two"  # a failed tag does not move the counter on
    with pytest.raises(SecurityError, match="2 after 2: replayed or out of order"):
        hhu.open(c2, second)
    with pytest.raises(SecurityError, match="1 after 2: replayed or out of order"):
        hhu.open(c1, first)
    with pytest.raises(SecurityError, match="replayed or out of order"):
        hhu.open(0x1_0000_0000, second)


def test_session_keys_differ_per_challenge_level_and_meter() -> None:
    k = derive_meter_key(MASTER, IDENT, 2, 1)
    c1, c2 = bytes(16), bytes(15) + b"\x01"
    keys = {
        session_key(k, c1, IDENT, 2),
        session_key(k, c2, IDENT, 2),
        session_key(k, c1, IDENT, 3),
        session_key(k, c1, MeterIdentity("MKT", "12345679"), 2),
        session_key(password_key("20261125", IDENT), c1, IDENT, 2),
        session_key(password_key("20261126", IDENT), c1, IDENT, 2),
    }
    assert len(keys) == 6 and all(len(key) == 32 for key in keys)


def test_encrypt_reads_must_be_a_boolean() -> None:
    assert SecurityConfig.from_dict({"encrypt_reads": True}).encrypt_reads is True
    assert SecurityConfig.from_dict({}).encrypt_reads is False
    with pytest.raises(ConfigError, match="encrypt_reads must be true or false"):
        SecurityConfig.from_dict({"encrypt_reads": "yes"})


def test_meter_encrypts_reads_after_challenge_response_and_the_hand_held_decrypts(tmp_path: Path) -> None:
    auth = IntegrityGuard(package_auth(tmp_path, level=2, levels=(2,)))
    vm = encrypting_meter()
    pair = ConnectionPair.for_application(vm)
    operand = pair.programming()
    assert isinstance(auth.check(pair.command(auth.respond(operand, pair.client.identification))), PositiveAck)  # type: ignore[arg-type]
    on_the_wire = auth.check(pair.command(auth.protect(R1("1.8.0"))))
    assert isinstance(on_the_wire, AnswerReceived)
    assert is_encrypted(on_the_wire.answer.datasets)
    assert b"kWh" not in b"".join(pair.wire.sent_by("meter")[-1:])
    plain = auth.unwrap(on_the_wire.answer.datasets)
    assert plain[0].address == "1.8.0" and plain[0].unit == "kWh"
    # errors stay readable: they carry no metering data
    refused = auth.check(pair.command(auth.protect(R1("9.9.9"))))
    assert not isinstance(refused, AnswerReceived)


def test_password_session_answers_are_encrypted_and_the_password_never_crosses_the_port() -> None:
    vm = encrypting_meter()
    pair = ConnectionPair.for_application(vm)
    operand = pair.programming()
    auth = IntegrityGuard(PasswordAuthenticator("20261125"))
    p2 = auth.respond(operand, pair.client.identification)  # type: ignore[arg-type]
    assert p2.code == "P2"
    assert isinstance(auth.check(pair.command(p2)), PositiveAck)
    answer = auth.check(pair.command(auth.protect(R1("1.6.0"))))
    assert isinstance(answer, AnswerReceived) and is_encrypted(answer.answer.datasets)
    assert b"20261125" not in b"".join(pair.wire.sent_by("client"))
    challenge, _ = parse_operand(operand)
    key = session_key(password_key("20261125", IDENT), challenge, IDENT, 2)
    opened = open_answer(AnswerCipher(key, IDENT, 2), answer.answer.datasets)
    assert opened[0].address == "1.6.0" and opened[0].unit == "kW"
    assert auth.unwrap(answer.answer.datasets) == opened
    # a listener who knows everything but the password cannot open it
    wrong = session_key(password_key("00000000", IDENT), challenge, IDENT, 2)
    with pytest.raises(SecurityError):
        open_answer(AnswerCipher(wrong, IDENT, 2), answer.answer.datasets)


def test_an_encrypting_meter_refuses_the_clear_text_password() -> None:
    vm = encrypting_meter()
    pair = ConnectionPair.for_application(vm)
    operand = pair.programming()
    p1 = PasswordAuthenticator("20261125", clear=True).respond(operand, pair.client.identification)  # type: ignore[arg-type]
    assert p1.code == "P1"
    refused = pair.command(p1)
    assert isinstance(refused, ErrorReceived) and refused.text == "ER10"


def test_required_encryption_refuses_a_plain_answer() -> None:
    with pytest.raises(SecurityError, match="plain text although encryption is required"):
        unwrap_answer(AnswerCipher(KEY, IDENT, 2), (DataSet.single("1.8.0", "1"),), require=True)
    assert unwrap_answer(None, (DataSet.single("1.8.0", "1"),)) == (DataSet.single("1.8.0", "1"),)


def test_without_encrypt_reads_answers_stay_plain() -> None:
    vm = encrypting_meter(encrypt=False)
    pair = ConnectionPair.for_application(vm)
    operand = pair.programming()
    auth = IntegrityGuard(PasswordAuthenticator("20261125"))
    auth.check(pair.command(auth.respond(operand, pair.client.identification)))  # type: ignore[arg-type]
    answer = auth.check(pair.command(auth.protect(R1("1.8.0"))))
    assert isinstance(answer, AnswerReceived) and answer.answer.datasets[0].address == "1.8.0"


def test_a_plain_client_without_a_key_gets_a_clear_error_for_an_encrypted_answer() -> None:
    sealed = seal_answer(AnswerCipher(KEY, IDENT, 2), (DataSet.single("1.8.0", "1"),))
    with pytest.raises(SecurityError, match="no answer key"):
        unwrap_answer(None, sealed)


@pytest.mark.e2e
def test_hhu_reads_an_encrypting_meter_over_tcp_transparently() -> None:
    vm = encrypting_meter()
    with running_server(vm, ["tcp://127.0.0.1:0"]) as server:
        with MeterClient(open_transport(server.tcp_url)) as client:
            client.programming(PasswordAuthenticator("20261125"))
            (md,) = client.read("1.6.0")
            profile = client.load_profile()
    assert md.address == "1.6.0" and md.unit == "kW" and len(md.value) == 7
    assert profile[0].address == "P.01"
    frames = b"".join(f.data for f in client.frames.frames() if f.direction == "<-")
    assert b"ENC(" in frames and b"*kW)" not in frames.split(b"ENC(")[1]


@pytest.mark.e2e
def test_cli_get_with_required_encryption(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from meterkit.cli.app import main

    with running_server(encrypting_meter(), ["tcp://127.0.0.1:0"]) as server:
        argv = ["get", server.tcp_url, "1.6.0", "--password", "20261125", "--require-encryption", "--format", "json"]
        assert main(argv) == 0
    (md,) = json.loads(capsys.readouterr().out)["datasets"]
    assert md["address"] == "1.6.0" and md["values"][0]["unit"] == "kW"
    with running_server(encrypting_meter(encrypt=False), ["tcp://127.0.0.1:0"]) as server:
        assert main(["get", server.tcp_url, "1.6.0", "--password", "20261125", "--require-encryption"]) == 1
    assert "plain text although encryption is required" in capsys.readouterr().err
    assert main(["get", "socket://127.0.0.1:1", "1.6.0", "--require-encryption"]) == 2
