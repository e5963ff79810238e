"""Sealed (encrypted) answers on the optical port: how an answer sealed by the session's answer key is framed.

The data sets of one answer are joined into a data block (lines separated by CR LF), the block is sealed by an
:class:`AnswerSealer` (the session's cipher: counter + ciphertext with tag), and the answer becomes::

    ENC(00000001)
    (hex of ciphertext and tag, 128 digits a line)
    ...

The cipher itself (key derivation, nonce, associated data, the counter rule) lives in the security layer
(:mod:`meterkit.security.answer_crypto`); this module knows only the two small protocols below, so the protocol core
imports nothing of security.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import MeterkitError, SecurityError
from .dataset import parse_datasets
from .messages import MAX_VALUE_LEN_PROGRAMMING, DataSet

__all__ = [
    "ENC_ADDRESS",
    "AnswerOpener",
    "AnswerSealer",
    "is_encrypted",
    "open_answer",
    "seal_answer",
    "unwrap_answer",
]

#: the address of the first data set of a sealed answer; its value is the answer counter (8 hex digits)
ENC_ADDRESS = "ENC"
_CHUNK = MAX_VALUE_LEN_PROGRAMMING


class AnswerSealer(Protocol):
    """Seals one answer's bytes: returns its counter and the ciphertext with tag."""

    def seal(self, plain: bytes) -> tuple[int, bytes]: ...


class AnswerOpener(Protocol):
    """Opens answer ``counter``; raises SecurityError if it was altered, replayed or reordered."""

    def open(self, counter: int, sealed: bytes) -> bytes: ...


def is_encrypted(datasets: tuple[DataSet, ...]) -> bool:
    return bool(datasets) and datasets[0].address == ENC_ADDRESS


def seal_answer(sealer: AnswerSealer, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
    """The encrypted form of one answer (the meter's side)."""
    plain = "".join(ds.to_text(strict=False) + "\r\n" for ds in datasets).encode("ascii")
    counter, sealed = sealer.seal(plain)
    text = sealed.hex().upper()
    lines = [DataSet.single("", text[i : i + _CHUNK]) for i in range(0, len(text), _CHUNK)]
    return (DataSet.single(ENC_ADDRESS, f"{counter:08X}"), *lines)


def open_answer(opener: AnswerOpener, datasets: tuple[DataSet, ...]) -> tuple[DataSet, ...]:
    """The plain data sets of an encrypted answer (the hand-held's side); SecurityError if it was altered, replayed
    or reordered, or is not a sealed answer."""
    if not is_encrypted(datasets):
        raise SecurityError("the meter sent a plain answer in an encrypted session")
    try:
        counter = int(datasets[0].value, 16)
        sealed = bytes.fromhex("".join(ds.value for ds in datasets[1:] if ds.address == ""))
    except ValueError as exc:
        raise SecurityError("the encrypted answer is not hexadecimal") from exc
    plain = opener.open(counter, sealed)
    try:
        parsed, _ = parse_datasets(plain.decode("ascii"))
    except (MeterkitError, UnicodeDecodeError) as exc:
        raise SecurityError(f"the decrypted answer is not a data block ({exc})") from exc
    return parsed


def unwrap_answer(
    opener: AnswerOpener | None, datasets: tuple[DataSet, ...], *, require: bool = False
) -> tuple[DataSet, ...]:
    """Decrypt an encrypted answer.  A plain answer passes unchanged (a meter that does not encrypt) unless
    ``require`` is set: then it is refused, so an attacker on the line cannot strip the encryption."""
    if not is_encrypted(datasets):
        if require:
            raise SecurityError("the meter answered in plain text although encryption is required")
        return datasets
    if opener is None:
        raise SecurityError("the meter sent an encrypted answer but this session has no answer key")
    return open_answer(opener, datasets)
