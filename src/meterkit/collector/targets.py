"""Which meters a collector reads, where, and with which credentials.

Addresses are device addresses (the meter's serial in a fleet): ``10000000-10000019`` (a range of numbers, kept at
the width written), single addresses, or a comma-separated mix.  Credentials come per meter or per group:

* a password file: lines ``PASSWORD`` (the default for every meter) or ``ADDRESSES PASSWORD`` (a meter or a range,
  e.g. ``10000500-10000999 secret``); ``#`` starts a comment; the most specific line wins (a single address over a
  range over the default);
* a key package (``meterkit keys package``; passphrase in ``METERKIT_KEY_PASSPHRASE``): challenge-response with the
  work-order keys of the meters it holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..client.auth import Authenticator, PasswordAuthenticator
from ..errors import ConfigError

__all__ = ["Credentials", "Target", "parse_addresses", "read_password_file"]

MAX_TARGETS = 100_000
_RANGE = re.compile(r"^([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?$")


def parse_addresses(text: str) -> list[str]:
    """``A-B`` (numeric, inclusive, width of A kept), ``A``, or a comma-separated mix; ConfigError on anything
    else."""
    out: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = _RANGE.match(part)
        if m is None:
            raise ConfigError(f"addresses: {part!r} is not ADDRESS or FIRST-LAST")
        first, last = m.group(1), m.group(2)
        if last is None:
            out.append(first)
            continue
        if not (first.isdigit() and last.isdigit()):
            raise ConfigError(f"addresses: a range {part!r} needs numbers at both ends")
        lo, hi = int(first), int(last)
        if hi < lo:
            raise ConfigError(f"addresses: range {part!r} runs backwards")
        if hi - lo + 1 + len(out) > MAX_TARGETS:
            raise ConfigError(f"addresses: at most {MAX_TARGETS} meters in one collector")
        out.extend(f"{n:0{len(first)}d}" for n in range(lo, hi + 1))
    if not out:
        raise ConfigError("addresses: none given")
    if len(set(out)) != len(out):
        raise ConfigError("addresses: a meter is listed twice")
    return out


class Credentials:
    """Per-meter authentication: an :class:`Authenticator` factory (sessions hold keys, so one per session)."""

    def __init__(
        self,
        passwords: dict[str, str] | None = None,
        ranges: list[tuple[int, int, str]] | None = None,
        default: str | None = None,
        key_factory: Callable[[], Authenticator] | None = None,
    ) -> None:
        self.passwords = passwords or {}
        self.ranges = ranges or []
        self.default = default
        self.key_factory = key_factory

    def for_meter(self, serial: str) -> Authenticator | None:
        if self.key_factory is not None:
            return self.key_factory()
        password = self.passwords.get(serial)
        if password is None and serial.isdigit():
            n = int(serial)
            password = next((pw for lo, hi, pw in self.ranges if lo <= n <= hi), None)
        if password is None:
            password = self.default
        return None if password is None else PasswordAuthenticator(password)

    @classmethod
    def password(cls, password: str) -> Credentials:
        return cls(default=password)

    @classmethod
    def key_file(cls, path: Path) -> Credentials:
        from ..client.keypackage import KeyPackageAuthenticator, load_key_authenticator

        package = load_key_authenticator(path, 2).package  # opened (and its passphrase checked) once
        return cls(key_factory=lambda: KeyPackageAuthenticator(package, 2))


def read_password_file(path: Path) -> Credentials:
    """Parse a password file (module docstring); ConfigError names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the password file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a password file (not UTF-8 text: byte {exc.start})") from None
    passwords: dict[str, str] = {}
    ranges: list[tuple[int, int, str]] = []
    default: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) == 1:
            if default is not None:
                raise ConfigError(f"{path}:{number}: a second default password (give ADDRESSES PASSWORD)")
            default = fields[0]
        elif len(fields) == 2:
            where, password = fields
            m = _RANGE.match(where)
            if m is None:
                raise ConfigError(f"{path}:{number}: {where!r} is not ADDRESS or FIRST-LAST")
            if m.group(2) is None:
                passwords[where] = password
            else:
                if not (m.group(1).isdigit() and m.group(2).isdigit()) or int(m.group(2)) < int(m.group(1)):
                    raise ConfigError(f"{path}:{number}: range {where!r} needs numbers, low to high")
                ranges.append((int(m.group(1)), int(m.group(2)), password))
        else:
            raise ConfigError(f"{path}:{number}: expected PASSWORD or ADDRESSES PASSWORD")
    if default is None and not passwords and not ranges:
        raise ConfigError(f"{path}: no password in the file")
    return Credentials(passwords, ranges, default)


@dataclass(frozen=True, slots=True)
class Target:
    """One meter to read: its endpoint (``socket://HOST:PORT``), its device address and its credentials.  An empty
    address is a point-to-point meter (sign-on ``/?!``, the only meter on its endpoint): it is named by the serial
    it reports (register ``0.0.0``, else ``C.1.0``)."""

    endpoint: str
    address: str
    credentials: Credentials

    @property
    def key(self) -> str:
        """A stable name of the target before its meter has said its serial: the address, or the endpoint of a
        point-to-point meter."""
        return self.address or self.endpoint
