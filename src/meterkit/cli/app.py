"""The ``meterkit`` command: one typer app; each command lives in its own module.

Exit codes (stable interface): 0 ok, 1 protocol, device or data error, 2 usage error; every error is one line on
stderr, ``meterkit <command>: error: <message>`` (see :mod:`meterkit.cli.errors`).  Every command is testable through
:func:`main` with an argv list.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Final

import typer
import typer.core
import typer.main
from typer._click.exceptions import NoArgsIsHelpError

from ..errors import MeterkitError
from .errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, command_path, report
from .helpstyle import dress

__all__ = ["build_command", "main", "make_app"]

HELP_OPTIONS = ["-h", "--help"]

#: the command modules, in the order they register their commands (the order of the help listing)
MODULES: Final = ("serve", "client_cmds", "demand", "keys", "demo", "listen", "shell", "poll", "adjust", "headend")
#: the module that registers each top-level command: running one command imports only its module (``meterkit
#: demand`` needs none of the meter, port or security stacks the others load)
MODULE_OF: Final = {
    "serve": "serve",
    **dict.fromkeys(("read", "get", "set", "exec", "profile", "control"), "client_cmds"),
    **{name: name for name in ("demand", "keys", "demo", "listen", "shell", "poll", "adjust", "headend")},
}


def _root(
    version: bool = typer.Option(False, "--version", help="Print the meterkit version and exit."),
) -> None:
    """Electricity meters and their IEC 62056-21 optical port."""
    if version:
        from .. import __version__

        typer.echo(f"meterkit {__version__}")
        raise typer.Exit(0)


def make_app(modules: Sequence[str] = MODULES) -> typer.Typer:
    """The ``meterkit`` typer app with the commands of ``modules`` (default: all)."""
    app = typer.Typer(
        name="meterkit",
        help="Electricity meters and their IEC 62056-21 optical port: virtual meter, client, analytics, keys.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": HELP_OPTIONS},
    )
    app.callback(invoke_without_command=True)(_root)
    for name in MODULES:
        if name in modules:
            importlib.import_module(f"{__package__}.{name}").register(app)
    return app


def _usage_message(exc: typer.TyperException) -> str:
    if isinstance(exc, typer.BadParameter) and exc.param is None and exc.param_hint is None:
        return exc.message  # raised by a command with its own wording: no "Invalid value: " in front
    return exc.format_message()


def build_command(args: Sequence[str] = ()) -> typer.core.TyperGroup:
    """The click command tree, with meterkit's help display (:mod:`meterkit.cli.helpstyle`): only the command
    ``args`` start with when they name one (so that running it imports only its module), else every command."""
    module = MODULE_OF.get(args[0]) if args else None
    command = typer.main.get_command(make_app(MODULES if module is None else (module,)))
    assert isinstance(command, typer.core.TyperGroup)
    dress(command, HELP_OPTIONS)
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = build_command(args)
    where = command_path(command, args)
    try:
        result = command.main(args=args, prog_name="meterkit", standalone_mode=False)
    except MeterkitError as exc:
        report(where, str(exc), sys.stderr)
        return EXIT_ERROR
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        report(where, "aborted", sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        report(where, "interrupted", sys.stderr)
        return EXIT_INTERRUPTED
    except NoArgsIsHelpError as exc:  # a group without its command: the help, as click shows it
        exc.show()
        return exc.exit_code
    except typer.TyperException as exc:  # click's usage errors (exit 2) and its other errors (exit 1)
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else where
        message = _usage_message(exc)
        if exc.exit_code == 2:
            message += f" (see '{path} --help')"
        report(path, message, sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a file the command was given cannot be opened or written
        report(where, f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", sys.stderr)
        return EXIT_ERROR
    return int(result) if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
