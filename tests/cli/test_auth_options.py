"""The hand-held's authentication options are one definition shared by get, set, exec, profile and shell."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from meterkit.cli.app import build_command
from meterkit.cli.auth_options import AuthOptions
from meterkit.client import PasswordAuthenticator
from meterkit.client.auth import PinnedAuthenticator
from meterkit.errors import ConfigError
from meterkit.iec62056_21.messages import IdentificationMessage

AUTH = [
    "--password",
    "--key-file",
    "--level",
    "--require-encryption",
    "--password-file",
    "--allow-plain-password",
    "--known-meters",
]


@pytest.mark.parametrize(("command", "level"), [("get", 2), ("set", 3), ("exec", 3), ("profile", 2), ("shell", 2)])
def test_every_signing_on_command_has_the_same_auth_options_in_one_block(command: str, level: int) -> None:
    params = build_command().commands[command].params
    names = [p.opts[0] for p in params]
    at = names.index("--password")
    assert names[at : at + len(AUTH)] == AUTH and names.count("--password") == 1
    assert next(p.default for p in params if p.opts[0] == "--level") == level
    assert not any(p.name == "auth" for p in params)


def test_the_options_describe_the_authenticator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METERKIT_PASSWORD", raising=False)
    assert AuthOptions().authenticator() is None
    (tmp_path / "pw").write_text("20261125\nignored\n")
    auth = AuthOptions(password_file=tmp_path / "pw", allow_plain_password=True).authenticator()
    assert isinstance(auth, PasswordAuthenticator) and auth.allow_plain and not auth.require_encryption
    p1 = auth.respond("", IdentificationMessage(manufacturer="MKT", baud_char="5", ident="old meter"))
    assert p1.code == "P1" and p1.data_set is not None and p1.data_set.value == "20261125"  # the file's first line
    strict = AuthOptions(password="x").authenticator()
    assert isinstance(strict, PasswordAuthenticator) and not strict.allow_plain
    pinned = AuthOptions(password="x", known_meters=tmp_path / "k.json").authenticator()
    assert isinstance(pinned, PinnedAuthenticator) and isinstance(pinned.inner, PasswordAuthenticator)
    monkeypatch.setenv("METERKIT_PASSWORD", "fromenv")
    from_env = AuthOptions(require_encryption=True).authenticator()
    assert isinstance(from_env, PasswordAuthenticator) and from_env.require_encryption
    with pytest.raises(typer.BadParameter, match="either --password or --password-file"):
        AuthOptions(password="x", password_file=tmp_path / "pw").authenticator()
    with pytest.raises(typer.BadParameter, match="either a password or --key-file"):
        AuthOptions(password="x", key_file=tmp_path / "key.json").authenticator()
    monkeypatch.delenv("METERKIT_PASSWORD")
    with pytest.raises(typer.BadParameter, match="--require-encryption needs a password"):
        AuthOptions(require_encryption=True).authenticator()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="the password file is empty"):
        AuthOptions(password_file=tmp_path / "empty").authenticator()
