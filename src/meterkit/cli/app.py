"""The ``meterkit`` command: one typer app; each command lives in its own module.

Exit codes (stable interface): 0 ok, 1 protocol or device error (one-line message on stderr),
2 usage error.  Every command is testable through :func:`main` with an argv list.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.console import Console

from ..errors import MeterkitError
from . import client_cmds, demand, demo, keys, listen, poll, serve, shell

__all__ = ["app", "main"]

app = typer.Typer(
    name="meterkit",
    help="Electricity meters and their IEC 62056-21 optical port: virtual meter, client, analytics, keys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the meterkit version and exit."),
) -> None:
    """Electricity meters and their IEC 62056-21 optical port."""
    if version:
        from .. import __version__

        typer.echo(f"meterkit {__version__}")
        raise typer.Exit(0)


for _module in (serve, client_cmds, demand, keys, demo, listen, shell, poll):
    _module.register(app)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = app(args=args, prog_name="meterkit", standalone_mode=False)
    except MeterkitError as exc:
        err.print(f"meterkit: error: {exc}", markup=False)
        return 1
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err.print("meterkit: aborted", markup=False)
        return 1
    except OSError as exc:  # a file named on the command line cannot be written or read
        where = f": {exc.filename}" if exc.filename else ""
        err.print(f"meterkit: error: {exc.strerror or exc}{where}", markup=False)
        return 1
    except KeyboardInterrupt:
        err.print("meterkit: interrupted", markup=False)
        return 130
    except Exception as exc:  # usage errors of the vendored click
        code = getattr(exc, "exit_code", None)
        show = getattr(exc, "show", None)
        if isinstance(code, int) and callable(show):
            show()
            return code
        raise
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
