"""Broker access: user name and password, TLS (meterkit.mqtt_access), against a real Mosquitto."""

from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meterkit.errors import ConfigError
from meterkit.faces.mqtt_link import MqttLink, MqttMessage, MqttOutbox, parse_mqtt_url
from meterkit.mqtt_access import PASSWORD_ENV
from meterkit.storage import NvStore

from ..headend.test_mqtt_forwarding import MOSQUITTO, Broker, free_port
from .mqttkit import wait_for

NO_ENV: dict[str, str] = {}
#: run as root, Mosquitto drops to its own user, which cannot read the test's private files: keep this user
KEEP_USER = f"user {getpass.getuser()}\n" if os.geteuid() == 0 else ""


# --- the URL --------------------------------------------------------------------------------------------------------


def test_a_plain_url_has_no_credentials_and_no_tls() -> None:
    url = parse_mqtt_url("mqtt://broker.local/site7", environ={PASSWORD_ENV: "ignored without a user"})
    assert (url.host, url.port, url.path) == ("broker.local", 1883, "site7")
    assert (url.access.username, url.access.password, url.access.tls, url.access.ca_file) == (None, None, False, None)
    assert url.shown == "mqtt://broker.local:1883"


def test_mqtts_defaults_to_port_8883_and_reads_the_password_file(tmp_path: Path) -> None:
    pw, ca = tmp_path / "pw", tmp_path / "ca.pem"
    pw.write_text("s3cret pass\nsecond line ignored\n")
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    url = parse_mqtt_url(f"mqtts://ha%40home@broker.local/meterkit?password-file={pw}&ca={ca}", environ=NO_ENV)
    assert (url.host, url.port, url.path) == ("broker.local", 8883, "meterkit")
    assert (url.access.username, url.access.password, url.access.tls, url.access.ca_file) == (
        "ha@home",
        "s3cret pass",
        True,
        ca,
    )
    assert "s3cret" not in repr(url) and url.shown == "mqtts://ha@home@broker.local:8883"


def test_the_password_comes_from_the_environment_when_no_file_is_named() -> None:
    url = parse_mqtt_url("mqtt://meter@127.0.0.1:1884", environ={PASSWORD_ENV: "from-env"})
    assert (url.port, url.access.username, url.access.password) == (1884, "meter", "from-env")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mqtt://user:hunter2@host/x", "a password in the URL would be visible"),
        ("mqtt://host/x?pasword-file=/tmp/pw", "unknown option 'pasword-file'"),
        ("mqtt://host/x?ca=/tmp/ca.pem", "?ca= needs TLS"),
        ("mqtt://user@host/x?password-file=", "each option is given once, with a value"),
        ("mqtt://host/x?password-file={pw}", "a password needs a user name"),
        ("mqtt://user@host/x?password-file={missing}", "cannot read the password file"),
        ("mqtt://user@host/x?password-file={empty}", "is empty"),
        ("mqtts://host/x?ca={missing}", "CA file"),
        ("http://host/x", "use mqtt://"),
        ("mqtt://[::1/x", "Invalid IPv6 URL"),
        ("mqtt://host:0/x", "port 0 is not a broker's port"),
        ("mqtt://host:70000/x", "Port out of range"),
        ("mqtt://host/a/+/b", "must not hold '#', '\\+' or empty levels"),
        ("mqtt://host/a//b", "empty levels"),
    ],
)
def test_a_wrong_broker_url_is_one_config_error_that_never_shows_the_password(
    url: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "pw").write_text("pw\n")
    (tmp_path / "empty").write_text("")
    text = url.format(pw=tmp_path / "pw", missing=tmp_path / "missing", empty=tmp_path / "empty")
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("[", r"\[").replace("]", r"\]")) as err:
        parse_mqtt_url(text, environ=NO_ENV)
    assert "hunter2" not in str(err.value) and "\n" not in str(err.value)


# --- a real broker --------------------------------------------------------------------------------------------------


def _deliver(url_text: str, tmp_path: Path, *, environ: dict[str, str] | None = None) -> tuple[MqttLink, bool]:
    """Publish one message through a link; whether the broker acknowledged it within a few seconds."""
    link = MqttLink(parse_mqtt_url(url_text, environ=environ or NO_ENV), "m1", MqttOutbox(NvStore(":memory:")))
    link.enqueue([MqttMessage("t/m1/1.8.0", b'{"value": 1}')])
    link.start()
    delivered = wait_for(lambda: link.delivered == 1, timeout=6.0, pump=link.pump)
    link.stop()
    return link, delivered


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Broker]:
    assert MOSQUITTO is not None, "make test installs mosquitto (scripts/ensure-mosquitto.sh)"
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "meter", "right horse battery"], check=True)
    passwd.chmod(0o600)
    broker = Broker(tmp_path, free_port())
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\npersistence false\n"
        + KEEP_USER
    )
    broker.start()
    yield broker
    broker.stop()


@pytest.mark.mqtt
def test_a_broker_with_passwords_takes_the_right_one_and_refuses_the_wrong_one_keeping_the_message(
    password_broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pw = tmp_path / "pw"
    pw.write_text("right horse battery\n")
    _, delivered = _deliver(f"mqtt://meter@127.0.0.1:{password_broker.port}/t?password-file={pw}", tmp_path)
    assert delivered
    _, delivered = _deliver(
        f"mqtt://meter@127.0.0.1:{password_broker.port}/t", tmp_path, environ={PASSWORD_ENV: "right horse battery"}
    )
    assert delivered
    caplog.set_level(logging.WARNING, logger="meterkit.faces.mqtt_link")
    link, delivered = _deliver(
        f"mqtt://meter@127.0.0.1:{password_broker.port}/t", tmp_path, environ={PASSWORD_ENV: "wrong"}
    )
    assert not delivered and len(link.outbox) == 1  # nothing is lost: it waits in the outbox
    assert any("refused the connection" in r.getMessage() for r in caplog.records)
    assert all("wrong" not in r.getMessage() for r in caplog.records)


def _certificates(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it (PEM files: ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meterkit test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.mark.mqtt
def test_mqtts_verifies_the_broker_against_the_given_ca_and_refuses_an_unknown_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca, cert, key = _certificates(tmp_path)
    broker = Broker(tmp_path, free_port())
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        "allow_anonymous true\npersistence false\n" + KEEP_USER
    )
    broker.start()
    try:
        _, delivered = _deliver(f"mqtts://127.0.0.1:{broker.port}/t?ca={ca}", tmp_path)
        assert delivered
        caplog.set_level(logging.WARNING, logger="meterkit.faces.mqtt_link")
        link, delivered = _deliver(f"mqtts://127.0.0.1:{broker.port}/t", tmp_path)  # the system CAs do not know it
        assert not delivered and len(link.outbox) == 1
        assert any("cannot connect" in r.getMessage() for r in caplog.records)
        _, delivered = _deliver(f"mqtt://127.0.0.1:{broker.port}/t", tmp_path)  # plain TCP to a TLS listener
        assert not delivered
    finally:
        broker.stop()


@pytest.mark.mqtt
def test_head_end_alarms_reach_a_broker_with_passwords_and_a_wrong_password_keeps_them(
    password_broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from meterkit.headend import AlarmOutbox, AlarmSealer
    from meterkit.headend.mqtt import MqttForwarder, wait_until

    state = tmp_path / "meter.sqlite"
    outbox = AlarmOutbox(NvStore(state))
    outbox.raise_alarm("TAMPER", {"event": "COVER_OPEN_UNAUTH"}, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    url = f"mqtt://meter@127.0.0.1:{password_broker.port}/meterkit/alarms"
    sealer = AlarmSealer(flag="MKT", meter="12345678", key=None)
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    forwarder = MqttForwarder(state, url, sealer, interval=0.1)
    forwarder.start()
    try:
        assert not wait_until(lambda: not outbox.pending(), 3)  # refused: the alarm stays in the outbox
    finally:
        forwarder.stop()
    assert [a.kind for a in outbox.pending()] == ["TAMPER"]
    monkeypatch.setenv(PASSWORD_ENV, "right horse battery")
    forwarder = MqttForwarder(state, url, sealer, interval=0.1)
    forwarder.start()
    try:
        assert wait_until(lambda: not outbox.pending(), 15)
    finally:
        forwarder.stop()


@pytest.mark.parametrize(
    "url",
    [
        "mqtt://u:se?cret-hunter2@host/x",
        "mqtt://u:se/cret-hunter2@host/x",
        "mqtt://u:se#cret-hunter2@host/x",
        "mqtt://u:hunter2@[::1/x",
        "mqtt://u:hunter2@host:99999/x",
        "mqtt://u:cret-hunter2@host:port/x",
    ],
)
@pytest.mark.parametrize("parse", ["readings", "head-end"])
def test_no_piece_of_a_password_in_the_url_reaches_the_error_line(url: str, parse: str) -> None:
    from meterkit.headend.mqtt import parse_headend_url

    with pytest.raises(ConfigError) as err:
        (parse_mqtt_url if parse == "readings" else parse_headend_url)(url, environ=NO_ENV)
    text = str(err.value)
    assert "cret" not in text and "hunter2" not in text and "\n" not in text
    assert text.startswith("MQTT broker 'mqtt://u:***@" if parse == "readings" else "head-end 'mqtt://u:***@")


def test_the_head_end_topic_takes_no_wildcards_and_defaults_to_meterkit_alarms() -> None:
    from meterkit.headend.mqtt import parse_headend_url

    assert parse_headend_url("mqtts://h", environ=NO_ENV).path == "meterkit/alarms"
    assert parse_headend_url("mqtts://h", environ=NO_ENV).port == 8883
    for topic in ("alarms/+", "alarms/#", "a//b"):
        with pytest.raises(ConfigError, match="must not hold"):
            parse_headend_url(f"mqtt://h/{topic}", environ=NO_ENV)


def test_the_hand_held_and_the_broker_read_password_files_by_one_rule(tmp_path: Path) -> None:
    from meterkit.cli.auth_options import AuthOptions

    for content, expected in (("pw one\nsecond\n", "pw one"), ("pw\r\n", "pw"), ("  \n", None), ("", None)):
        path = tmp_path / "pw"
        path.write_text(content)
        url = f"mqtt://u@h/x?password-file={path}"
        if expected is None:
            with pytest.raises(ConfigError, match="the password file is empty"):
                parse_mqtt_url(url, environ=NO_ENV)
            with pytest.raises(ConfigError, match="the password file is empty"):
                AuthOptions(password_file=path).authenticator()
        else:
            assert parse_mqtt_url(url, environ=NO_ENV).access.password == expected
            auth = AuthOptions(password_file=path).authenticator()
            assert auth is not None and auth._password == expected  # type: ignore[attr-defined]
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"cannot read the password file \(not UTF-8 text\)"):
        parse_mqtt_url(url, environ=NO_ENV)
