"""The hand-held's authentication options, defined once for every command that signs on in programming mode
(``get``, ``set``, ``exec``, ``profile``, ``shell``).

A command asks for them with :func:`hand_held_auth` and an ``auth: Authenticator | None`` parameter: the decorator
puts the options in that parameter's place in the command's signature (typer reads the options from it), checks them
and hands the command the authenticator they describe.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ..client import PasswordAuthenticator
from ..client.auth import Authenticator
from ..secret_file import first_line, read_secret_file

__all__ = [
    "AuthOptions",
    "EncryptOpt",
    "KeyFileOpt",
    "KnownOpt",
    "LevelOpt",
    "PasswordFileOpt",
    "PasswordOpt",
    "PlainOpt",
    "hand_held_auth",
]

PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password",
        help="Static password (as P2 to meterkit meters). Visible to other users in ps: prefer --password-file or "
        "METERKIT_PASSWORD.",
    ),
]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help="Read the password from the first line of this file (-: standard input or a prompt)."
    ),
]
PlainOpt = Annotated[
    bool,
    typer.Option(
        "--allow-plain-password",
        help="Send the password in clear (P1) to a meter without challenge-response (never with --require-encryption).",
    ),
]
KnownOpt = Annotated[
    Path | None,
    typer.Option(
        "--known-meters",
        envvar="METERKIT_KNOWN_METERS",
        help="Known-meters file: pins each meter's challenge-response, encryption and session integrity on first use, "
        "refuses a downgrade.",
    ),
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option("--key-file", help="Key package for challenge-response (P2); passphrase in METERKIT_KEY_PASSPHRASE."),
]
LevelOpt = Annotated[int, typer.Option("--level", help="Access level to request with --key-file (2 or 3).")]
EncryptOpt = Annotated[
    bool,
    typer.Option(
        "--require-encryption",
        help="Refuse plain answers and never send the password in clear (the meter must encrypt; docs/security.md).",
    ),
]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthOptions:
    """The authentication options of one command line (names as the command's parameters)."""

    password: str | None = None
    key_file: Path | None = None
    level: int = 2
    require_encryption: bool = False
    password_file: Path | None = None
    allow_plain_password: bool = False
    known_meters: Path | None = None

    def authenticator(self) -> Authenticator | None:
        """The authenticator these options describe (None: sign on without one); a contradiction is a usage
        error (exit 2), an unreadable password or key file a data error (exit 1)."""
        password, key_file = self.password, self.key_file
        if password is not None and self.password_file is not None:
            raise typer.BadParameter("give either --password or --password-file, not both")
        if self.password_file is not None:
            password = _read_password_file(self.password_file)
        if password is None and key_file is None:
            password = os.environ.get("METERKIT_PASSWORD") or None
        if password is not None and key_file is not None:
            raise typer.BadParameter("give either a password or --key-file, not both")
        if self.require_encryption and password is None and key_file is None:
            raise typer.BadParameter(
                "--require-encryption needs a password (--password-file, METERKIT_PASSWORD) or --key-file "
                "(the session key comes from them)"
            )
        auth: Authenticator
        if key_file is not None:
            from ..client.keypackage import load_key_authenticator

            auth = load_key_authenticator(key_file, self.level, require_encryption=self.require_encryption)
        elif password is not None:
            auth = PasswordAuthenticator(
                password, require_encryption=self.require_encryption, allow_plain=self.allow_plain_password
            )
        else:
            return None
        if self.known_meters is not None:
            from ..client.auth import PinnedAuthenticator
            from ..client.known_meters import KnownMeters

            auth = PinnedAuthenticator(auth, KnownMeters.load(self.known_meters))
        return auth


def _read_password_file(path: Path) -> str:
    """The first line of ``path`` (:mod:`meterkit.secret_file`); ``-`` is standard input (a prompt without echo at
    a terminal)."""
    if str(path) != "-":
        return read_secret_file(path)
    if sys.stdin.isatty():
        import getpass

        return first_line(path, getpass.getpass("password: "))
    return first_line(path, sys.stdin.readline())


def _option_parameters(level: int) -> list[inspect.Parameter]:
    """The options as command parameters, in their order on the command line and in ``--help``."""
    defaults = AuthOptions(level=level)
    annotations = {
        "password": PasswordOpt,
        "key_file": KeyFileOpt,
        "level": LevelOpt,
        "require_encryption": EncryptOpt,
        "password_file": PasswordFileOpt,
        "allow_plain_password": PlainOpt,
        "known_meters": KnownOpt,
    }
    return [
        inspect.Parameter(
            name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=getattr(defaults, name), annotation=annotation
        )
        for name, annotation in annotations.items()
    ]


class _CommandWithAuth:
    """``command`` with the authentication options in place of its ``auth`` parameter."""

    def __init__(self, command: Callable[..., int], level: int) -> None:
        functools.update_wrapper(self, command)
        self._command = command
        signature = inspect.signature(command, eval_str=True)
        params = list(signature.parameters.values())
        at = [p.name for p in params].index("auth")
        self._options = _option_parameters(level)
        self.__signature__ = signature.replace(parameters=[*params[:at], *self._options, *params[at + 1 :]])
        self.__annotations__ = {p.name: p.annotation for p in self.__signature__.parameters.values()}

    def __call__(self, **kwargs: Any) -> int:
        options = AuthOptions(**{p.name: kwargs.pop(p.name) for p in self._options})
        return self._command(**kwargs, auth=options.authenticator())


def hand_held_auth(*, level: int) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Give a command the authentication options (``--level`` defaulting to ``level``) in place of its ``auth``
    parameter, and call it with the authenticator they describe."""

    def decorate(command: Callable[..., int]) -> Callable[..., int]:
        return _CommandWithAuth(command, level)

    return decorate
