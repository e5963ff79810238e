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
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from .errors import ConfigError

__all__ = ["PASSWORD_ENV", "BrokerAccess", "broker_access", "process_environ", "redacted"]

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
    """The URL as an error line may show it: no query, a password in it replaced by ``***``."""
    base = url.split("?", 1)[0]
    head, sep, rest = base.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return f"{head}{sep}{rest}"


def _read_password(shown: str, path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"MQTT broker {shown!r}: cannot read the password file {str(path)!r} ({reason})") from None
    first = text.splitlines()[0] if text else ""
    if not first:
        raise ConfigError(f"MQTT broker {shown!r}: the password file {str(path)!r} is empty")
    return first


def process_environ() -> Mapping[str, str]:
    """The process environment (what the CLI passes; tests pass their own mapping)."""
    return os.environ
