"""Secrets kept in files (a password file): the first line, never the command line.

One rule for every password file the project reads (the hand-held's ``--password-file``, an MQTT broker's
``?password-file=``): UTF-8 text, the first line without its line end is the secret; an empty first line, or a
file of nothing but blanks, is an error.  Errors are one :class:`~meterkit.errors.ConfigError` line naming the file and the cause, never its content.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError

__all__ = ["first_line", "read_secret_file"]


def first_line(path: Path | str, text: str) -> str:
    """The secret in ``text`` read from ``path``: its first line; ConfigError when that is empty."""
    line = text.splitlines()[0] if text.strip() else ""  # only blanks: a file written by mistake
    if not line:
        raise ConfigError(f"{path}: the password file is empty")
    return line


def read_secret_file(path: Path) -> str:
    """The first line of the file at ``path`` (see the module's rule)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read the password file ({reason})") from None
    return first_line(path, text)
