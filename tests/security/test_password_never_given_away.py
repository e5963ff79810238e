"""Issue 14 item 6: a fake meter or a man in the middle cannot make the hand-held send its password in clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterkit.cli.app import main
from meterkit.client.auth import PasswordAuthenticator, PinnedAuthenticator
from meterkit.client.known_meters import KnownMeters
from meterkit.errors import DataError, SecurityError
from meterkit.iec62056_21.messages import DataSet, IdentificationMessage
from meterkit.iec62056_21.sealed import seal_answer
from meterkit.security.answer_crypto import AnswerCipher
from meterkit.security.challenge import answer_tag
from meterkit.security.keys import MeterIdentity, password_key

from ..e2e.conftest import running_server
from .fakemeter import CHALLENGE, FakeMeter, op2_operand
from .test_answer_encryption import encrypting_meter

PASSWORD = "20261125"  # the demo meter's read password
DEMO_C = IdentificationMessage(manufacturer="MKT", baud_char="5", ident="VM3PH-100")
DEMO_B = IdentificationMessage(manufacturer="MKT", baud_char="E", ident="VM3PH-100")  # rewritten to mode B
FOREIGN_OPERAND = "12345678"  # another manufacturer's P0: not an OP2-HMAC challenge

pytestmark = pytest.mark.e2e


def _json_children(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["format", "meters", "MKT/x", "challenge", "serial", "encrypts", "integrity"]),
        children,
        max_size=4,
    )


@pytest.fixture
def pw_file(tmp_path: Path) -> Path:
    path = tmp_path / "pw"
    path.write_text(PASSWORD + "\n")
    return path


def _gave_away(fake: FakeMeter) -> bool:
    return PASSWORD.encode() in fake.received or any(c[1:3] == b"P1" for c in fake.commands)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(("meterkit get: error: ", "meterkit read: error: "))
    return lines[0]


@pytest.mark.parametrize(
    ("ident", "operand"),
    [(DEMO_C, FOREIGN_OPERAND), (DEMO_C, ""), (DEMO_B, "")],
    ids=["foreign-p0", "empty-p0", "mode-b"],
)
def test_require_encryption_never_sends_the_password_to_a_meter_without_a_challenge(
    ident: IdentificationMessage, operand: str, pw_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeMeter(ident, operand) as fake:
        argv = ["get", fake.url, "1.8.0", "--password-file", str(pw_file), "--require-encryption"]
        assert main([*argv, "--allow-plain-password"]) == 1  # not even when allowed
    assert not _gave_away(fake) and fake.received.startswith(b"/?!\r\n")
    line = _one_error_line(capsys)
    assert ": error:" in line and ("--require-encryption" in line or "sends no challenge" in line)


def test_a_clear_password_needs_allow_plain_password(pw_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeMeter(DEMO_C, FOREIGN_OPERAND) as fake:
        assert main(["get", fake.url, "1.8.0", "--password-file", str(pw_file)]) == 1
        refused = _one_error_line(capsys)
        assert not _gave_away(fake)
        assert main(["get", fake.url, "1.8.0", "--password-file", str(pw_file), "--allow-plain-password"]) == 0
    assert "pass --allow-plain-password if this meter takes only P1" in refused
    assert [c[1:3] for c in fake.commands if c[1:2] == b"P"] == [b"P1"] and _gave_away(fake)


def test_an_op2_challenge_gets_a_p2_keyed_by_the_password_never_the_password(pw_file: Path) -> None:
    with FakeMeter(DEMO_C, op2_operand()) as fake:
        assert main(["get", fake.url, "1.8.0", "--password-file", str(pw_file), "--allow-plain-password"]) == 0
    identity = MeterIdentity("MKT", "12345678")
    tag = answer_tag(password_key(PASSWORD, identity), identity, 2, CHALLENGE).hex().upper()
    assert [c[1:3] for c in fake.commands if c[1:2] == b"P"] == [b"P2"]
    assert f"({tag})".encode() in fake.commands[0] and PASSWORD.encode() not in fake.received


def _pin_the_genuine_meter(known: Path, pw_file: Path, *, encrypt: bool = False) -> None:
    with running_server(encrypting_meter(encrypt=encrypt), ["tcp://127.0.0.1:0"]) as server:
        argv = ["get", server.tcp_url, "1.8.0", "--password-file", str(pw_file), "--known-meters", str(known)]
        assert main([*argv, "--format", "json"]) == 0


@pytest.mark.parametrize(("ident", "operand"), [(DEMO_C, FOREIGN_OPERAND), (DEMO_B, "")], ids=["foreign-p0", "mode-b"])
def test_a_pinned_meter_never_gets_a_clear_password_from_a_fake_with_its_identification(
    ident: IdentificationMessage, operand: str, tmp_path: Path, pw_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = tmp_path / "known.json"
    _pin_the_genuine_meter(known, pw_file)
    doc = json.loads(known.read_text())
    assert doc["meters"] == {
        "MKT/VM3PH-100": {"challenge": True, "serial": "12345678", "encrypts": False, "integrity": True}
    }
    assert known.stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    with FakeMeter(ident, operand) as fake:
        argv = ["get", fake.url, "1.8.0", "--password-file", str(pw_file), "--known-meters", str(known)]
        assert main([*argv, "--allow-plain-password"]) == 1
    assert not _gave_away(fake)
    line = _one_error_line(capsys)
    assert "pinned in" in line or "sends no challenge" in line


def test_a_pinned_meter_refuses_another_serial_number(tmp_path: Path, pw_file: Path) -> None:
    known = tmp_path / "known.json"
    _pin_the_genuine_meter(known, pw_file)
    with FakeMeter(DEMO_C, op2_operand(serial="87654321")) as fake:
        argv = ["get", fake.url, "1.8.0", "--password-file", str(pw_file), "--known-meters", str(known)]
        assert main(argv) == 1
    assert [c for c in fake.commands if c[1:2] == b"P"] == []  # not even a P2 for an offline guess


def test_a_meter_pinned_as_encrypting_must_encrypt_without_require_encryption(
    tmp_path: Path, pw_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = tmp_path / "known.json"
    _pin_the_genuine_meter(known, pw_file, encrypt=True)
    assert json.loads(known.read_text())["meters"]["MKT/VM3PH-100"]["encrypts"] is True
    capsys.readouterr()
    # the same identification and serial number, answering in plain text (a man in the middle stripping ENC)
    with running_server(encrypting_meter(encrypt=False), ["tcp://127.0.0.1:0"]) as server:
        argv = ["get", server.tcp_url, "1.8.0", "--password-file", str(pw_file), "--known-meters", str(known)]
        assert main(argv) == 1
    assert "encrypted its answers before and now answers in plain text" in _one_error_line(capsys)


def test_the_library_refuses_p1_under_require_encryption_and_pins_only_after_a_p2(tmp_path: Path) -> None:
    strict = PasswordAuthenticator(PASSWORD, require_encryption=True)
    with pytest.raises(SecurityError, match="refusing to send the password in clear"):
        strict.respond(FOREIGN_OPERAND, DEMO_C)
    with pytest.raises(SecurityError, match="--allow-plain-password"):
        PasswordAuthenticator(PASSWORD, allow_plain=False).respond("", DEMO_B)
    known = KnownMeters.load(tmp_path / "k.json")
    pinned = PinnedAuthenticator(PasswordAuthenticator(PASSWORD), known)
    assert pinned.respond(FOREIGN_OPERAND, DEMO_C).code == "P1"  # allowed by the caller, not pinned
    assert known.meters == {} and not (tmp_path / "k.json").exists()
    assert pinned.respond(op2_operand(), DEMO_C).code == "P2"
    assert KnownMeters.load(tmp_path / "k.json").get(DEMO_B) is not None  # the baud character is not part of the key
    with pytest.raises(SecurityError, match="now sends none"):
        pinned.respond(FOREIGN_OPERAND, DEMO_C)


def test_an_encrypted_answer_that_opens_pins_encryption(tmp_path: Path) -> None:
    known = KnownMeters.load(tmp_path / "k.json")
    pinned = PinnedAuthenticator(PasswordAuthenticator(PASSWORD), known)
    pinned.respond(op2_operand(), DEMO_C)
    identity = MeterIdentity("MKT", "12345678")
    from meterkit.security.answer_crypto import session_key

    meter = AnswerCipher(session_key(password_key(PASSWORD, identity), CHALLENGE, identity, 2), identity, 2)
    plain = (DataSet.single("1.8.0", "000001.000", "kWh"),)
    assert pinned.unwrap(seal_answer(meter, plain)) == plain
    assert KnownMeters.load(tmp_path / "k.json").get(DEMO_C).encrypts is True  # type: ignore[union-attr]
    with pytest.raises(SecurityError, match="now answers in plain text"):
        pinned.unwrap(plain)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.recursive(st.none() | st.booleans() | st.text(max_size=8), _json_children)))
def test_a_known_meters_file_loads_or_is_one_data_error(
    tmp_path_factory: pytest.TempPathFactory, content: object
) -> None:
    path = tmp_path_factory.mktemp("known") / "k.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    try:
        known = KnownMeters.load(path)
    except DataError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert all(isinstance(e.challenge, bool) and isinstance(e.serial, str) for e in known.meters.values())
