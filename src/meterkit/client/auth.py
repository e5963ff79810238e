"""How the hand-held unit answers the meter's P0 operand."""

from __future__ import annotations

from typing import Protocol

from ..errors import MeterkitError, SecurityError
from ..iec62056_21.events import ClientEvent
from ..iec62056_21.integrity import OFFER, HandheldIntegrity
from ..iec62056_21.messages import CommandMessage, DataSet, IdentificationMessage, Value
from ..iec62056_21.sealed import is_encrypted, unwrap_answer
from ..security.answer_crypto import AnswerCipher, session_key
from ..security.challenge import Operand, answer_tag, answer_text, parse_operand_full
from ..security.keys import MeterIdentity, password_key
from .known_meters import KnownMeters, meter_key

__all__ = ["Authenticator", "IntegrityGuard", "PasswordAuthenticator", "PinnedAuthenticator"]


class Authenticator(Protocol):
    """Produces the P1/P2 command for a meter's operand and decrypts protected answers."""

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        """The P1 or P2 command to send after the meter's P0."""
        ...

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        """Decrypt answers (identity when the session is not encrypted)."""
        ...


def _op2(operand: str) -> Operand | None:
    try:
        return parse_operand_full(operand)
    except MeterkitError:  # another manufacturer's operand, or none (modes A and B)
        return None


class PasswordAuthenticator:
    """A static password (access level 2 in most meters).

    To a meter whose P0 operand is an OP2-HMAC challenge (meterkit's virtual meter) the password never goes in
    clear: the hand-held answers with ``P2`` keyed by the password (:func:`~meterkit.security.keys.password_key`), and
    encrypted answers (``ENC(...)``) are decrypted transparently.  Any other meter (another manufacturer's P0, or none
    in modes A and B) would get the classic ``P1(password)`` in clear, which a fake meter or a man in the middle can
    provoke: it is refused unless ``allow_plain`` (``--allow-plain-password``), and always refused with
    ``require_encryption``.  ``clear=True`` forces P1 (for a meter that takes only P1) and implies ``allow_plain``."""

    def __init__(
        self, password: str, *, clear: bool = False, require_encryption: bool = False, allow_plain: bool = True
    ) -> None:
        self._password = password
        self._clear = clear
        self.require_encryption = require_encryption
        self.allow_plain = allow_plain or clear
        self._cipher: AnswerCipher | None = None
        #: the session key of the last P2 (a protected session's MACs derive from it), None after a P1
        self.integrity_key: bytes | None = None

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        self._cipher = None
        self.integrity_key = None
        parsed = _op2(operand)
        if parsed is None or self._clear:
            if self.require_encryption:
                raise SecurityError(
                    f"meter {identification.manufacturer} {identification.ident} sent no OP2-HMAC challenge: "
                    "refusing to send the password in clear with --require-encryption (a fake meter or a man in the "
                    "middle?)"
                )
            if not self.allow_plain:
                raise SecurityError(
                    f"meter {identification.manufacturer} {identification.ident} sent no OP2-HMAC challenge and "
                    "would get the password in clear (P1); pass --allow-plain-password if this meter takes only P1"
                )
            return CommandMessage(command="P", command_type="1", data_set=DataSet.single("", self._password))
        identity = MeterIdentity(flag=identification.manufacturer, serial=parsed.serial)
        key = password_key(self._password, identity)
        tag = answer_tag(key, identity, 2, parsed.challenge)
        self.integrity_key = session_key(key, parsed.challenge, identity, 2)
        self._cipher = AnswerCipher(self.integrity_key, identity, 2)
        return CommandMessage(command="P", command_type="2", data_set=DataSet.single("", answer_text(tag)))

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        return unwrap_answer(self._cipher, datasets, require=self.require_encryption)

    def __repr__(self) -> str:
        return "PasswordAuthenticator(***)"


class PinnedAuthenticator:
    """Any authenticator, held to what each meter showed the first time (trust on first use, :mod:`.known_meters`).

    A meter whose identification is pinned as answering with an OP2-HMAC challenge gets nothing from the hand-held
    unless it sends a challenge again, for the same serial number (so a fake meter or a man in the middle cannot make
    it send ``P1``); a meter pinned as encrypting must encrypt every data answer.  A meter met for the first time is
    pinned when it sends a challenge and the hand-held answers ``P2``, pinned as encrypting once one of its
    encrypted answers opened under the session key, and pinned as protecting its session once its protected answer
    to ``P2`` passed the MAC check (:class:`IntegrityGuard` then requires that proof from it every time)."""

    def __init__(self, inner: Authenticator, known: KnownMeters) -> None:
        self.inner = inner
        self.known = known
        self._identification: IdentificationMessage | None = None

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        self._identification = identification
        entry = self.known.get(identification)
        parsed = _op2(operand)
        if entry is not None and entry.challenge:
            where = f"meter {meter_key(identification)} (pinned in {self.known.path})"
            if parsed is None:
                raise SecurityError(
                    f"{where} answered with a challenge before and now sends none: refusing to authenticate "
                    "(a fake meter or a man in the middle?)"
                )
            if parsed.serial != entry.serial:
                raise SecurityError(
                    f"{where} had serial number {entry.serial}, now it says {parsed.serial}: refusing to authenticate"
                )
        command = self.inner.respond(operand, identification)
        if parsed is not None and command.command == "P" and command.command_type == "2":
            self.known.pin_challenge(identification, parsed.serial)
        return command

    @property
    def integrity_key(self) -> bytes | None:
        key = getattr(self.inner, "integrity_key", None)
        return key if isinstance(key, bytes) else None

    @property
    def require_encryption(self) -> bool:
        return bool(getattr(self.inner, "require_encryption", False))

    @property
    def require_integrity(self) -> bool:
        """The meter of this session protected its session before: a bare answer to the offer is refused."""
        ident = self._identification
        entry = self.known.get(ident) if ident is not None else None
        return entry is not None and entry.integrity

    def integrity_proved(self) -> None:
        """The meter's protected answer to ``P2`` passed its MAC check: pin it."""
        if self._identification is not None:
            self.known.pin_integrity(self._identification)

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        ident = self._identification
        entry = self.known.get(ident) if ident is not None else None
        encrypted = is_encrypted(datasets)
        if ident is not None and entry is not None and entry.encrypts and not encrypted:
            raise SecurityError(
                f"meter {meter_key(ident)} (pinned in {self.known.path}) encrypted its answers before and now "
                "answers in plain text: refused (a man in the middle?)"
            )
        plain = self.inner.unwrap(datasets)
        if encrypted and ident is not None:  # opened under the session key: the meter knows the key
            self.known.pin_encryption(ident)
        return plain

    def __repr__(self) -> str:
        return f"PinnedAuthenticator({self.inner!r}, {self.known.path})"


class IntegrityGuard:
    """Any authenticator, with a protected session (:mod:`meterkit.iec62056_21.integrity`, docs/security.md): its
    ``P2`` offers integrity, the meter must prove the key with its protected ACK (required with
    ``require_encryption``), then every request gets a MAC and every answer's MAC is checked (:meth:`protect`,
    :meth:`check`).  An authenticator without ``integrity_key`` (or a P1) keeps a plain session."""

    def __init__(self, inner: Authenticator) -> None:
        self.inner = inner
        self._integrity: HandheldIntegrity | None = None

    def respond(self, operand: str, identification: IdentificationMessage) -> CommandMessage:
        self._integrity = None
        command = self.inner.respond(operand, identification)
        key = getattr(self.inner, "integrity_key", None)
        if command.code != "P2" or not isinstance(key, bytes) or command.data_set is None:
            return command
        required = bool(
            getattr(self.inner, "require_encryption", False) or getattr(self.inner, "require_integrity", False)
        )
        self._integrity = HandheldIntegrity(key, required=required)
        values = (*command.data_set.values, Value(value=OFFER))
        return CommandMessage(command="P", command_type="2", data_set=DataSet(address="", values=values))

    def protect(self, command: CommandMessage) -> CommandMessage:
        return command if self._integrity is None else self._integrity.protect(command)

    def check(self, event: ClientEvent) -> ClientEvent:
        if self._integrity is None:
            return event
        before = self._integrity.active
        checked = self._integrity.check(event)
        if self._integrity.active and not before:  # the meter proved the key: a pinning authenticator records it
            proved = getattr(self.inner, "integrity_proved", None)
            if callable(proved):
                proved()
        return checked

    def unwrap(self, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
        return self.inner.unwrap(datasets)

    def __repr__(self) -> str:
        return f"IntegrityGuard({self.inner!r})"
