"""The one error style of the ``meterkit`` command.

Every mistake is one line on stderr, ``meterkit <command>: error: <message>``, and an exit code: 1 for a data,
device or protocol error, 2 for a usage error (a bad option, argument or combination, found before anything runs).
A command reports a usage error with :func:`usage_error`; everything else it raises as a
:class:`~meterkit.errors.MeterkitError`, which :func:`meterkit.cli.app.main` turns into the error line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn, TextIO

import typer

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "command_path", "report", "usage_error"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def usage_error(message: str, option: str | None = None) -> NoReturn:
    """Stop the running command with a usage error (exit 2); ``option`` names the option at fault."""
    raise typer.BadParameter(message, param_hint=option)


def report(where: str, message: str, stream: TextIO) -> None:
    """Write the one error line: ``<where>: error: <message>`` (newlines in the message become '; ')."""
    text = "; ".join(line.strip() for line in str(message).splitlines() if line.strip()) or "failed"
    stream.write(f"{where}: error: {text}\n")
    stream.flush()


def command_path(root: typer.core.TyperGroup, args: Sequence[str], prog: str = "meterkit") -> str:
    """``meterkit`` plus the (sub-)command names that ``args`` select, e.g. ``meterkit keys package``."""
    parts = [prog]
    group: object = root
    for arg in args:
        if not isinstance(group, typer.core.TyperGroup):
            break
        if arg.startswith("-"):
            continue
        sub = group.commands.get(arg)
        if sub is None:
            break
        parts.append(arg)
        group = sub
    return " ".join(parts)
