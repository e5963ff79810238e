"""How a client gets into an MQTT broker: user name and password, TLS.

The broker is named by one URL, the same for ``serve --publish``, ``poll --mqtt`` and ``--headend``::

    mqtt://[USER@]HOST[:PORT][/PREFIX][?password-file=PATH]          plain TCP, port 1883
    mqtts://[USER@]HOST[:PORT][/PREFIX][?password-file=PATH&ca=PATH]  TLS, port 8883

Rules:

* The password never appears in the URL (it would be on the command line, where ``ps`` shows it): a URL with
  ``USER:PASSWORD@`` is refused.  It is read from the file named by ``password-file`` (first line, trailing newline
  stripped), or else from the environment variable ``METERKIT_MQTT_PASSWORD``; a user without a password is sent
  as a user name alone (brokers that allow it).
* ``mqtts`` verifies the broker's certificate and host name, against the system's CAs or the PEM file named by
  ``ca`` (a private CA, the usual case for a broker on a site network).  There is no switch to skip verification.
* Unknown query keys, an unreadable password file, an empty password file or a missing CA file are a
  :class:`~meterkit.errors.ConfigError` with one line naming the URL (its password never shown).
* The path is a topic (a prefix or the alarm topic): no wildcards (``#``, ``+``) and no empty levels.

:func:`parse_broker_url` is the one parser of these URLs (the faces' readings link and the head-end's alarm link
interpret its path), and :func:`client_id` the one rule for client ids.
"""

from __future__ import annotations

import os
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from .errors import ConfigError
from .secret_file import read_secret_file

__all__ = [
    "PASSWORD_ENV",
    "BrokerAccess",
    "BrokerUrl",
    "broker_access",
    "client_id",
    "parse_broker_url",
    "process_environ",
    "redacted",
]

#: the environment variable that holds the broker password when the URL names no password file
PASSWORD_ENV = "METERKIT_MQTT_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
_KEYS = {"password-file", "ca"}


@dataclass(frozen=True, slots=True)
class BrokerAccess:
    """Credentials and transport security of one broker connection (the password is never in ``repr``)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: Path | None = None

    def apply(self, client: Any) -> None:
        """Set up a paho-mqtt client before it connects."""
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            context = ssl.create_default_context(cafile=None if self.ca_file is None else str(self.ca_file))
            client.tls_set_context(context)


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """A parsed broker URL: where, the path (a topic, without its outer slashes) and how to get in."""

    host: str
    port: int
    path: str
    access: BrokerAccess = field(default_factory=BrokerAccess)

    @property
    def shown(self) -> str:
        """The broker as a log line shows it (no secret)."""
        scheme = "mqtts" if self.access.tls else "mqtt"
        user = "" if self.access.username is None else f"{self.access.username}@"
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_broker_url(
    url: str,
    *,
    what: str = "MQTT broker",
    form: str = "mqtt://HOST[:PORT][/PREFIX]",
    environ: Mapping[str, str] | None = None,
) -> BrokerUrl:
    """``mqtt[s]://[USER@]HOST[:PORT][/PATH][?password-file=PATH&ca=PATH]`` -> host, port (1883, or 8883 for
    ``mqtts``), path and access (the password from the file or ``METERKIT_MQTT_PASSWORD`` in ``environ``, the
    process environment by default).  ``what`` and ``form`` name the URL's role in the one-line errors."""
    shown = redacted(url)
    try:
        parsed = urlparse(url)
        hostname, port = parsed.hostname, parsed.port
    except ValueError as exc:  # urllib's text may quote a piece of the URL (a password): name the cause only
        text = str(exc)
        cause = (
            "Invalid IPv6 URL (write IPv6 as mqtt://[::1]:PORT)"
            if "IPv6" in text
            else "Port out of range 0-65535"
            if "out of range" in text
            else "the port is not a number from 1 to 65535"
        )
        raise ConfigError(f"{what} {shown!r}: {cause}") from None
    if parsed.scheme not in ("mqtt", "mqtts") or not hostname:
        raise ConfigError(f"{what} {shown!r}: use {form} (mqtts:// for TLS, USER@HOST for a user name)")
    if port == 0:
        raise ConfigError(f"{what} {shown!r}: port 0 is not a broker's port (1-65535)")
    path = parsed.path.strip("/")
    if "#" in url or "+" in path or "//" in path:
        raise ConfigError(f"{what} {shown!r}: the topic must not hold '#', '+' or empty levels")
    access = broker_access(
        url,
        scheme=parsed.scheme,
        username=unquote(parsed.username) if parsed.username else None,
        password=parsed.password,
        query=parsed.query,
        environ=process_environ() if environ is None else environ,
    )
    return BrokerUrl(hostname, port or (8883 if access.tls else 1883), path, access)


def client_id(name: str) -> str:
    """A client id of its own for this process: ``meterkit-<name>-<8 random hex digits>``.  MQTT lets one client id
    hold one connection, so a fixed id made two processes for one meter (or a restarted one while the broker still
    held the old connection) push each other off.  MQTT 3.1.1 guarantees 23 characters; Mosquitto and most brokers
    take longer ones, so a long name is kept whole."""
    return f"meterkit-{name}-{secrets.token_hex(4)}"


def broker_access(
    url: str, *, scheme: str, username: str | None, password: str | None, query: str, environ: Mapping[str, str]
) -> BrokerAccess:
    """The access a parsed broker URL asks for (``scheme`` ``mqtt`` or ``mqtts``); ConfigError for what is wrong."""
    shown = redacted(url)
    if password is not None:
        raise ConfigError(
            f"MQTT broker {shown!r}: a password in the URL would be visible to every user of this machine; "
            f"use ?password-file=PATH or {PASSWORD_ENV}"
        )
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigError(f"MQTT broker {shown!r}: the query must be key=value pairs joined by '&'") from None
    unknown = sorted(set(params) - _KEYS)
    if unknown:
        raise ConfigError(f"MQTT broker {shown!r}: unknown option {unknown[0]!r} (known: ca, password-file)")
    if any(len(values) != 1 or not values[0] for values in params.values()):
        raise ConfigError(f"MQTT broker {shown!r}: each option is given once, with a value")
    if "ca" in params and scheme != "mqtts":
        raise ConfigError(f"MQTT broker {shown!r}: ?ca= needs TLS (mqtts://)")
    secret = None
    if "password-file" in params:
        secret = _read_password(shown, Path(params["password-file"][0]))
    elif username is not None:
        secret = environ.get(PASSWORD_ENV) or None
    if secret is not None and username is None:
        raise ConfigError(f"MQTT broker {shown!r}: a password needs a user name (mqtt://USER@HOST)")
    ca_file = None
    if "ca" in params:
        ca_file = Path(params["ca"][0])
        if not ca_file.is_file():
            raise ConfigError(f"MQTT broker {shown!r}: CA file {str(ca_file)!r} not found")
    return BrokerAccess(username=username, password=secret, tls=scheme == "mqtts", ca_file=ca_file)


def redacted(url: str) -> str:
    """The URL as an error line may show it: no query, and nothing of a password.  A URL with a password may hold
    ``/``, ``?`` or ``#`` in it, so the user information is found before the query is cut: when a ``:`` comes before
    the last ``@``, only the text up to that ``:`` is kept (``mqtt://user:***@…``)."""
    head, sep, rest = url.partition("://")
    at = rest.rfind("@")
    colon = rest.find(":")
    if at >= 0 and 0 <= colon < at:
        return f"{head}{sep}{rest[:colon]}:***@…"
    return f"{head}{sep}{rest.split('?', 1)[0]}"


def _read_password(shown: str, path: Path) -> str:
    try:
        return read_secret_file(path)
    except ConfigError as exc:  # "<path>: cannot read the password file (<cause>)" or "...: is empty"
        raise ConfigError(f"MQTT broker {shown!r}: {exc}") from None


def process_environ() -> Mapping[str, str]:
    """The process environment (what the CLI passes; tests pass their own mapping)."""
    return os.environ
