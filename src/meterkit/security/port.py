"""Access levels and the optical-port security policy of the virtual meter.

| level | obtained by | permits |
|---|---|---|
| 1 | the protocol only | the public readout list |
| 2 | ``P1`` static password (levels in ``password_levels``) or ``P0``/``P2`` with the level-2 key | reads |
| 3 | ``P0``/``P2`` with the level-3 key, or the sealed button | parameter writes, functions, resets |
| 4 | the terminal cover is open | required together with level 3 for every write |

Rules (see docs/security.md): exactly one ``P2`` per ``P0``; a ``P2`` without a pending challenge is refused; a level
configured for challenge-response refuses ``P1`` (no downgrade); every authentication failure gives the same error
after the same delay; lockout after failures (:mod:`.lockout`); a cover opened without an authorised level-3 session
in the preceding window is a tamper event: logged, relay trip where configured, alarm for the head-end.
"""

from __future__ import annotations

import enum
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from ..clock import Clock
from ..errors import ConfigError
from .answer_crypto import AnswerCipher, session_key
from .challenge import answer_tag, make_challenge, operand_text, parse_answer, verify_tag
from .keys import MeterIdentity, alarm_key, derive_meter_key, parse_key_hex, password_key, work_order_key
from .lockout import Lockout, LockoutPolicy
from .seclog import SecurityLog, SecurityLogEntry
from .state import SecurityStore

__all__ = [
    "AUTH_FAILURE_DELAY",
    "AlarmSink",
    "Decision",
    "Denial",
    "Denied",
    "Granted",
    "PortSecurity",
    "SecurityConfig",
    "SecuritySession",
    "meter_alarm_key",
]

#: The one delay before the answer to every failed authentication, whatever the cause (seconds, on top of the
#: reaction time); the face answers every failure with the same bytes.
AUTH_FAILURE_DELAY = 1.0


class Denial(enum.Enum):
    """Why the security refused: the face turns it into its own answer (on the optical port: ER02, ER06, ER10)."""

    LEVEL = "access level too low"
    COVER = "terminal cover closed or the write window after opening it expired"
    AUTHENTICATION = "authentication failed"  # the same for every cause, never explained to the client
    LOCKED = "locked after failed authentications"  # answered exactly like AUTHENTICATION


@dataclass(frozen=True, slots=True)
class Granted:
    """Allowed; ``level`` is the session's access level."""

    level: int


@dataclass(frozen=True, slots=True)
class Denied:
    reason: Denial
    needed: int = 0  # LEVEL: the level that was needed


Decision = Granted | Denied
#: The first byte of every challenge (the format of OP2-HMAC v1 challenges).
CHALLENGE_FORMAT = 1


class AlarmSink(Protocol):
    def raise_alarm(self, kind: str, details: Mapping[str, str], at: datetime) -> None: ...


_KNOWN = {
    "read_password",
    "password_levels",
    "master_key",
    "level2_key",
    "level3_key",
    "alarm_key",
    "key_version",
    "revoked_hhus",
    "write_window_min",
    "authorised_open_window_min",
    "relay_trip_on_tamper",
    "lockout_after",
    "lockout_base_s",
    "lockout_max_s",
    "brute_force_alarm_failures",
    "encrypt_reads",
}


@dataclass(frozen=True)
class SecurityConfig:
    read_password: str | None = None
    password_levels: tuple[int, ...] = (2,)
    master_key: bytes | None = None  # DEMO: per-meter keys derived here; real meters get derived keys injected
    level_keys: Mapping[int, bytes] | None = None  # this meter's own keys (``meterkit keys derive``), no master
    alarm_key: bytes | None = None  # signs head-end alarms (``meterkit keys derive --alarm``); else from the master
    key_version: int = 1
    revoked_hhus: frozenset[str] = frozenset()
    write_window_min: int = 30
    authorised_open_window_min: int = 10
    relay_trip_on_tamper: bool = True
    encrypt_reads: bool = False
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SecurityConfig:
        unknown = set(d) - _KNOWN
        if unknown:
            raise ConfigError(f"[security]: unknown key(s) {', '.join(sorted(unknown))}")
        pw = d.get("read_password")
        if pw is not None and (
            not isinstance(pw, str)
            or not 4 <= len(pw) <= 32
            or not pw.isascii()
            or not pw.isprintable()
            or any(c in pw for c in "()*/!")
        ):
            raise ConfigError("[security] read_password must be 4-32 printable characters without ( ) * / !")
        raw_levels = d.get("password_levels", (2,))
        if not isinstance(raw_levels, list | tuple) or any(level not in (2,) for level in raw_levels):
            raise ConfigError("[security] password_levels may only hold 2: a static password never grants writes")
        master = d.get("master_key")
        own = {level: d[f"level{level}_key"] for level in (2, 3) if f"level{level}_key" in d}
        if own and master is not None:
            raise ConfigError("[security]: give either master_key (demo) or level2_key/level3_key, not both")
        if own and len(own) != 2:
            raise ConfigError("[security]: level2_key and level3_key go together")
        alarm = d.get("alarm_key")
        if alarm is not None and master is not None:
            raise ConfigError("[security]: give either master_key (demo, it derives the alarm key) or alarm_key")
        revoked = d.get("revoked_hhus", [])
        if not isinstance(revoked, list) or not all(isinstance(h, str) for h in revoked):
            raise ConfigError("[security] revoked_hhus must be a list of hand-held ids")
        try:
            policy = LockoutPolicy(
                free_failures=int(d.get("lockout_after", 3)) - 1,
                base_s=int(d.get("lockout_base_s", 60)),
                max_s=int(d.get("lockout_max_s", 86400)),
                alarm_failures=int(d.get("brute_force_alarm_failures", 10)),
            )
            version = int(d.get("key_version", 1))
            window = int(d.get("write_window_min", 30))
            open_window = int(d.get("authorised_open_window_min", 10))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[security]: {exc}") from exc
        if policy.free_failures < 0 or policy.base_s < 1 or policy.max_s < policy.base_s:
            raise ConfigError("[security]: lockout_after >= 1 and 1 <= lockout_base_s <= lockout_max_s are required")
        if not 0 <= version <= 255 or window < 1 or open_window < 0:
            raise ConfigError("[security]: key_version 0-255, write_window_min >= 1, authorised_open_window_min >= 0")
        return cls(
            read_password=pw,
            password_levels=tuple(raw_levels),
            master_key=parse_key_hex(master, "[security] master_key") if master is not None else None,
            level_keys={lv: parse_key_hex(str(k), f"[security] level{lv}_key") for lv, k in own.items()} or None,
            alarm_key=parse_key_hex(str(alarm), "[security] alarm_key") if alarm is not None else None,
            key_version=version,
            revoked_hhus=frozenset(revoked),
            write_window_min=window,
            authorised_open_window_min=open_window,
            relay_trip_on_tamper=bool(d.get("relay_trip_on_tamper", True)),
            encrypt_reads=_flag(d, "encrypt_reads", False),
            lockout=policy,
        )


def _flag(d: Mapping[str, Any], key: str, default: bool) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"[security] {key} must be true or false, got {value!r}")
    return value


def stored_secret(store: SecurityStore, key: str, digits: int, *, hex_: bool = False) -> str:
    """A generated secret of the state (``read_password``, the demo ``master_key``): read, or made and written once."""
    value = store.get(key)
    if value is None:  # never a shared default: a random secret, written once to the state
        value = secrets.token_hex(digits // 2).upper() if hex_ else f"{secrets.randbelow(10**digits):0{digits}d}"
        store.put({key: value})
    return value


def meter_alarm_key(config: SecurityConfig, store: SecurityStore, identity: MeterIdentity) -> bytes | None:
    """The key that signs this meter's head-end alarms: ``alarm_key`` as configured (a production meter, injected
    with ``meterkit keys derive --alarm``), or derived from the master key (the demo's, or the one generated into the
    state); None for a meter given only its level keys (its alarms go unsigned, and a verifying head-end refuses
    them)."""
    if config.alarm_key is not None:
        return config.alarm_key
    if config.level_keys is not None:
        return None
    return alarm_key(config.master_key or bytes.fromhex(stored_secret(store, "master_key", 64, hex_=True)), identity)


class PortSecurity:
    """The security state of one meter (cover, relay, keys, lockout, log)."""

    def __init__(
        self,
        *,
        store: SecurityStore,
        identity: MeterIdentity,
        config: SecurityConfig,
        clock: Clock,
        alarms: AlarmSink | None = None,
    ) -> None:
        self.store = store
        self.identity = identity
        self.config = config
        self.clock = clock
        self.alarms = alarms
        self.log = SecurityLog(store)
        self.lockout = Lockout(store, config.lockout)
        # generated: 128 bits (32 hex digits); a state written by an older meterkit keeps its 8 digits
        self.read_password = config.read_password or self._stored_secret("read_password", 32, hex_=True)
        stored_versions = store.get("key_versions")
        legacy = store.get("key_version")
        self.key_versions: dict[int, int] = (
            {int(k): int(v) for k, v in json.loads(stored_versions).items()}
            if stored_versions
            else dict.fromkeys((2, 3), int(legacy or config.key_version))
        )
        if config.level_keys is not None:
            self.keys = dict(config.level_keys)
        else:
            master = config.master_key or bytes.fromhex(self._stored_secret("master_key", 64, hex_=True))
            self.keys = {lv: derive_meter_key(master, identity, lv, self.key_versions[lv]) for lv in (2, 3)}
        stored_keys = store.get("keys")
        if stored_keys:  # keys rotated over the port replace the configured or derived ones
            self.keys.update({int(k): bytes.fromhex(v) for k, v in json.loads(stored_keys).items()})
        self.cover_open = store.get("cover_open") == "1"
        self.relay_connected = store.get("relay") != "0"
        self.last_l3: datetime | None = None
        self.cover_opened_at: datetime | None = None
        self.button_until: datetime | None = None
        self.bench = False
        self.counter = int(store.get("challenge_counter") or 0)
        self._password_key: tuple[bytes | None] | None = None  # (the key,) once derived

    @property
    def password_key(self) -> bytes | None:
        """The read password's challenge-response key (slow KDF): derived once, by :meth:`prepare_password_key` ahead
        of time or else on the first P2 that needs it."""
        derived = self._password_key
        return derived[0] if derived is not None else self.prepare_password_key()

    def prepare_password_key(self) -> bytes | None:
        """Derive the password key now (about 0.1 s of scrypt, which releases the GIL: a host may call this in a
        worker thread so the event loop never waits for it).  Idempotent; a concurrent derivation gives the same key."""
        derived = self._password_key
        if derived is None:
            needed = self.config.password_levels and self.read_password
            derived = self._password_key = (password_key(self.read_password, self.identity) if needed else None,)
        return derived[0]

    def _stored_secret(self, key: str, digits: int, *, hex_: bool = False) -> str:
        return stored_secret(self.store, key, digits, hex_=hex_)

    def now(self) -> datetime:
        return self.clock.now()

    def _alarm(self, kind: str, **details: str) -> None:
        if self.alarms is not None:
            self.alarms.raise_alarm(kind, details, self.now())

    def next_challenge(self) -> bytes:
        self.counter += 1
        self.store.put({"challenge_counter": str(self.counter)})  # persisted before it is used
        return make_challenge(CHALLENGE_FORMAT, self.counter)

    # --- physical inputs ------------------------------------------------------------------------------

    def cover_opened(self) -> None:
        now = self.now()
        self.cover_open = True
        self.cover_opened_at = now
        self.store.put({"cover_open": "1"})
        window = timedelta(minutes=self.config.authorised_open_window_min)
        if self.last_l3 is not None and now - self.last_l3 <= window:
            self.log.add(now, "COVER_OPEN_AUTH")
            return
        self._tamper("COVER_OPEN_UNAUTH", now)

    def _tamper(self, kind: str, now: datetime) -> None:
        self.log.add(now, kind)
        if self.config.relay_trip_on_tamper and self.relay_connected:
            self.relay_connected = False
            self.store.put({"relay": "0"})
            self.log.add(now, "RELAY_TRIP", "tamper")
        self._alarm("TAMPER", event=kind, relay="open" if not self.relay_connected else "closed")

    def bench_mode(self) -> None:
        """Test-bench operation: the terminal cover is off for the whole run (logged, no tamper, no write window)."""
        self.bench = True
        self.cover_open = True
        self.cover_opened_at = self.now()
        self.log.add(self.now(), "COVER_OPEN_BENCH", "test-bench mode")

    def cover_closed(self) -> None:
        self.cover_open = False
        self.cover_opened_at = None
        self.store.put({"cover_open": "0"})
        self.log.add(self.now(), "COVER_CLOSE")

    def button_pressed(self) -> None:
        """The sealed button: the next session within the write window is granted level 3."""
        self.button_until = self.now() + timedelta(minutes=self.config.write_window_min)
        self.log.add(self.now(), "BUTTON")

    def take_button(self, now: datetime) -> bool:
        """Whether a sealed-button press grants the session starting ``now`` level 3 (a press serves one session)."""
        if self.button_until is None or now > self.button_until:
            return False
        self.button_until = None
        self.note_level3(now)
        return True

    def note_level3(self, now: datetime) -> None:
        """A level-3 session was authorised ``now`` (a cover opened soon after is authorised, not a tamper)."""
        self.last_l3 = now

    def power_down(self) -> None:
        self.store.put({"cover_open": "1" if self.cover_open else "0"})

    def power_up(self, *, cover_open: bool) -> None:
        """The cover switch latches while unpowered: an opening found at power-up is a tamper event."""
        if cover_open and not self.cover_open:
            self.cover_open = True
            self.store.put({"cover_open": "1"})
            self._tamper("TAMPER_AT_POWER_UP", self.now())

    def connect_relay(self) -> None:
        self.relay_connected = True
        self.store.put({"relay": "1"})
        self.log.add(self.now(), "RELAY_CONNECT")

    def rotate_key(self, level: int, value: str) -> None:
        """Install a new key for ``level``: ``value`` = new version (2 hex digits) followed by the new key wrapped
        (RFC 3394 AES key wrap) under the current level-3 key.  A version not above the level's current one is
        refused (no rollback); the old key of that level is refused from then on; the other level is untouched."""
        from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

        if level not in (2, 3) or len(value) < 4:
            raise ConfigError("a key rotation names level 2 or 3 and carries version and wrapped key")
        try:
            version = int(value[:2], 16)
            new_key = aes_key_unwrap(self.keys[3], bytes.fromhex(value[2:]))
        except (ValueError, InvalidUnwrap) as exc:
            raise ConfigError("the wrapped key does not unwrap under the current level-3 key") from exc
        if len(new_key) < 16:
            raise ConfigError("a key must have at least 16 bytes")
        if version <= self.key_versions[level]:
            raise ConfigError(
                f"level-{level} key version {version} is not newer than {self.key_versions[level]} (rollback refused)"
            )
        self.keys[level] = new_key
        self.key_versions[level] = version
        self.store.put(
            {
                "keys": json.dumps({str(k): v.hex() for k, v in self.keys.items()}),
                "key_versions": json.dumps({str(k): v for k, v in self.key_versions.items()}),
            }
        )
        self.log.add(self.now(), "KEY_CHANGED", f"level {level} version {version}")

    def log_entries(self, after: int = 0) -> list[SecurityLogEntry]:
        """The security-log entries numbered above ``after`` (see :class:`SecurityLogEntry`), oldest first."""
        return self.log.entries(after)

    def open_session(self) -> SecuritySession:
        return SecuritySession(self)


class SecuritySession:
    """One optical-port session: level 1 at start."""

    def __init__(self, port: PortSecurity) -> None:
        self.port = port
        self.level = 1
        self._challenge: bytes | None = None
        self._salt: bytes | None = None  # the session's P0 challenge, for the answer key
        self.cipher: AnswerCipher | None = None
        #: the session key of a P2 that offered integrity (``meterkit.iec62056_21.integrity``), else None
        self.integrity_key: bytes | None = None

    def operand(self) -> str:
        """The P0 value when programming mode starts: a fresh challenge, the key versions and the serial number.
        A sealed-button press in the window before grants this session level 3.  While the port is locked no
        challenge is issued: the operand is empty (``P0()``) and the session stays at level 1."""
        port = self.port
        now = port.now()
        if port.lockout.ended(now):
            port.log.add(now, "LOCKOUT_END")
        if port.lockout.is_locked(now):
            return ""
        if port.take_button(now):
            self.level = 3
            port.log.add(now, "AUTH_OK", "level 3 by sealed button")
        self._challenge = self._salt = port.next_challenge()
        return operand_text(self._challenge, port.key_versions, port.identity.serial)

    def _fail(self, kind: str) -> Denied:
        port = self.port
        port.lockout.failed()
        port.log.add(port.now(), "AUTH_FAIL", kind)
        if port.lockout.is_locked(port.now()):
            port.log.add(port.now(), "LOCKOUT_START", f"until {port.lockout.locked_until.isoformat()}")  # type: ignore[union-attr]
        self._check_brute_force()
        return Denied(Denial.AUTHENTICATION)

    def _check_brute_force(self) -> None:
        port = self.port
        if port.lockout.brute_force_due(port.now()):
            port.log.add(port.now(), "SEC_BRUTE_FORCE", f"{len(port.lockout.recent)} failures in 24 h")
            port._alarm("SEC_BRUTE_FORCE", failures=str(len(port.lockout.recent)))

    def authenticate(self, method: str, value: str, *, integrity: bool = False) -> Decision:
        """A password (``method`` ``"1"``, P1) or the answer to this session's challenge (``"2"``, P2); any other
        method is refused.  Granted with the session's new level, or denied (authentication failed, or locked).
        ``integrity``: the P2 offered a protected session (``meterkit.iec62056_21.integrity``); an encrypting meter requires it."""
        port = self.port
        now = port.now()
        if method not in ("1", "2"):
            return Denied(Denial.AUTHENTICATION)
        if port.lockout.ended(now):
            port.log.add(now, "LOCKOUT_END")
        if port.lockout.is_locked(now):
            port.lockout.refused(now)
            port.log.add(now, "AUTH_REFUSED_LOCKED")
            self._check_brute_force()
            return Denied(Denial.LOCKED)
        kind = "P1" if method == "1" else "P2"
        port.lockout.begin(now, kind)  # counted before verification
        if kind == "P1":
            ok = port.read_password is not None and secrets.compare_digest(value.encode(), port.read_password.encode())
            if not ok or not port.config.password_levels:  # no level for a password: P1 is refused (no downgrade)
                return self._fail("password")
            if port.config.encrypt_reads:  # a password in clear would give away the answer key: P2 only
                return self._fail("clear-text password while answers are encrypted")
            self.level = max(self.level, max(port.config.password_levels))
            port.lockout.succeeded(kind, max(port.config.password_levels))
            port.log.add(now, "AUTH_OK", f"level {self.level} by password")
            return Granted(self.level)
        challenge, self._challenge = self._challenge, None  # exactly one P2 per P0
        answer = parse_answer(value)
        if challenge is None or answer is None:
            return self._fail("no challenge pending" if challenge is None else "malformed answer")
        keys = port.keys
        if answer.not_after is not None and answer.hhu is not None:  # a work-order key of a hand-held's package
            keys = {lv: work_order_key(k, answer.hhu, answer.not_after) for lv, k in port.keys.items()}
        level = verify_tag(keys, port.identity, challenge, answer.tag)
        by_password = False
        pw_key = port.password_key if answer.not_after is None else None  # the password as a challenge-response key
        if pw_key is not None and hmac.compare_digest(answer_tag(pw_key, port.identity, 2, challenge), answer.tag):
            by_password = level is None
            level = level or max(port.config.password_levels)
        if level is None:
            return self._fail("wrong answer")
        if port.config.encrypt_reads and not integrity:
            return self._fail("no integrity offered while answers are encrypted")
        if answer.hhu is not None and answer.not_after is not None:
            if answer.hhu in port.config.revoked_hhus:
                return self._fail(f"revoked hand-held {answer.hhu}")
            if now.timestamp() > answer.not_after:
                return self._fail(f"work order of {answer.hhu} expired")
        self.level = max(self.level, level)
        port.lockout.succeeded(kind, level)
        if level >= 3:
            port.note_level3(now)
        key = port.password_key if by_password else keys[level]
        if port.config.encrypt_reads and key is not None:
            self.cipher = AnswerCipher(session_key(key, challenge, port.identity, level), port.identity, level)
        if integrity and key is not None:
            self.integrity_key = session_key(key, challenge, port.identity, level)
        how = "password challenge-response" if by_password else "challenge-response"
        who = f" (hand-held {answer.hhu})" if answer.hhu else ""
        port.log.add(now, "AUTH_OK", f"level {level} by {how}{who}")
        return Granted(self.level)

    def authorize(
        self,
        *,
        operation: Literal["read", "write", "execute"],
        required_level: int,
        name: str,
        cover: bool | None = None,
    ) -> Decision:
        """Whether the session may do ``operation`` on ``name``.  Writes and executes (unless ``cover`` is False)
        also need the cover open within the write window (level 4)."""
        port = self.port
        if operation == "read" and required_level > 1 and port.config.encrypt_reads and self.cipher is None:
            # an encrypting meter never answers above level 1 in plain: a session without an answer key (the sealed
            # button's) may write and execute, but reads what it needs after a P2
            return Denied(Denial.LEVEL, needed=required_level)
        if self.level < required_level:
            if operation != "read":
                port.log.add(port.now(), "WRITE_DENIED_LEVEL", name)
            return Denied(Denial.LEVEL, needed=required_level)
        if not (operation != "read" if cover is None else cover):
            return Granted(self.level)
        now = port.now()
        window = timedelta(minutes=port.config.write_window_min)
        if not port.bench and (
            not port.cover_open or port.cover_opened_at is None or now - port.cover_opened_at > window
        ):
            port.log.add(now, "WRITE_DENIED_COVER_CLOSED", name)
            return Denied(Denial.COVER)
        return Granted(self.level)

    def record_change(self, name: str, old: str, new: str) -> None:
        self.port.log.add(self.port.now(), "WRITE_OK", f"{name}: {old} -> {new}"[:200])

    def close(self) -> None:
        self._challenge = self._salt = None
        self.cipher = None
        self.integrity_key = None
        self.level = 1
