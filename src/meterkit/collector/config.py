"""A collector's configuration file (``meterkit poll CONFIG.toml``)::

[poll]
out = "collected"            # output folder (relative to this file)
interval = "15m"             # or: once = true
timeout_s = 60               # per meter and attempt
retries = 2                  # further attempts after a transport failure or time-out
backoff_s = 0.5              # first wait before a retry, doubling
registers = ["1.8.0", "1.6.0"]
tz = "UTC"                   # the meters' time zone (their profile stamps are local time)

[[endpoints]]
port = "socket://127.0.0.1:2100"
addresses = "10000000-10000999"   # left out: one point-to-point meter, named by the serial it reports
password_file = "passwords.txt"   # or password = "..." or key_file = "hhu.mkp"
per_endpoint = 1                  # meters read at a time on this endpoint (a multi-drop bus: 1)
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, MeterkitError
from .link import parse_endpoint
from .targets import Credentials, Target, parse_addresses, read_password_file

__all__ = ["PollPlan", "load_poll_config", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``1h``, ``1d``."""
    m = _DURATION.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise ConfigError(f"{text!r} is not a duration such as 30s, 15m, 1h or 1d")
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PollSection(_Strict):
    out: str
    interval: str | None = None
    once: bool = False
    timeout_s: float = Field(60.0, gt=0, le=3600)
    retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(0.5, ge=0, le=600)
    registers: tuple[str, ...] = ()
    tz: str = "UTC"

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_duration(v)
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
        return v

    @field_validator("tz")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _schedule(self) -> PollSection:
        if self.once == (self.interval is not None):
            raise ValueError("give either once = true or an interval")
        return self


class EndpointSection(_Strict):
    port: str
    addresses: str | list[str] | None = None  # None: one point-to-point meter (no device address)
    password: str | None = None
    password_file: str | None = None
    key_file: str | None = None
    per_endpoint: int = Field(1, ge=1, le=1000)

    @field_validator("port")
    @classmethod
    def _port(cls, v: str) -> str:
        try:
            parse_endpoint(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return v

    @model_validator(mode="after")
    def _auth(self) -> EndpointSection:
        given = [x for x in (self.password, self.password_file, self.key_file) if x is not None]
        if len(given) > 1:
            raise ValueError("give one of password, password_file or key_file")
        return self


class PollFile(_Strict):
    poll: PollSection
    endpoints: tuple[EndpointSection, ...] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class PollPlan:
    """Everything one collector process does."""

    targets: list[Target]
    out: Path
    once: bool
    interval: timedelta | None
    timeout_s: float
    retries: int
    backoff_s: float
    registers: tuple[str, ...]
    tz: str
    per_endpoint: dict[str, int]


def _credentials(ep: EndpointSection, base: Path) -> Credentials:
    def resolve(p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else base / path

    if ep.password is not None:
        return Credentials.password(ep.password)
    if ep.password_file is not None:
        return read_password_file(resolve(ep.password_file))
    if ep.key_file is not None:
        return Credentials.key_file(resolve(ep.key_file))
    return Credentials()


def load_poll_config(path: Path) -> PollPlan:
    """Read and check a collector configuration; every problem is one ConfigError line naming the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    try:
        parsed = PollFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "(top level)"
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{path}: {loc}: {msg}") from exc
    base = path.parent
    targets: list[Target] = []
    seen: set[tuple[str, str]] = set()
    per: dict[str, int] = {}
    try:
        for i, ep in enumerate(parsed.endpoints):
            creds = _credentials(ep, base)
            per[ep.port] = ep.per_endpoint
            if ep.addresses is None:
                listed = [""]  # the one point-to-point meter, named by its serial once it answered
            else:
                listed = parse_addresses(ep.addresses if isinstance(ep.addresses, str) else ",".join(ep.addresses))
            for address in listed:
                if (ep.port, address) in seen:
                    what = f"meter {address}" if address else "the point-to-point meter"
                    raise ConfigError(f"endpoints[{i}]: {what} on {ep.port} is listed twice")
                seen.add((ep.port, address))
                targets.append(Target(ep.port, address, creds))
    except MeterkitError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    p = parsed.poll
    out = Path(p.out)
    return PollPlan(
        targets=targets,
        out=out if out.is_absolute() else base / out,
        once=p.once,
        interval=None if p.interval is None else parse_duration(p.interval),
        timeout_s=p.timeout_s,
        retries=p.retries,
        backoff_s=p.backoff_s,
        registers=p.registers,
        tz=p.tz,
        per_endpoint=per,
    )
