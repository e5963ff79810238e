"""How ``meterkit --help`` reads: metavars instead of type tags, plain usage lines, help text shown as written.

Typer shows every parameter with a type tag (``<bool>``, ``<list[str]>``) and puts required arguments in braces in
the usage line (``{port}``).  :func:`dress` gives every parameter of a command tree that typer built the display
below:

* an argument is its name in capitals: ``meterkit read [OPTIONS] PORT``, ``[VALUE]`` when optional, ``...`` when
  repeated;
* an option that takes a value shows a metavar (the one it declares, its choices ``table|json|csv``, or its name in
  capitals: ``--timeout TIMEOUT``); a flag shows nothing;
* help texts are shown as written: square brackets in them (``power up [cover-open]``) are not taken for markup.
"""

from __future__ import annotations

from typing import Any

import typer
import typer.core
from rich.markup import escape

__all__ = ["dress"]


class _Argument(typer.core.TyperArgument):
    def _usage_display_name(self) -> str:
        name = self.display_name_raw.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def _rich_display_name(self) -> str:
        return self.display_name_raw.upper() + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _Option(typer.core.TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar is not None:
            return self.metavar
        if self.type_descriptor.is_choice:
            return self.display_type(ctx).strip("<>").removeprefix("list[").removesuffix("]")
        return (self.name or "value").upper()


def dress(command: Any, help_option_names: list[str]) -> None:
    """Give ``command`` and its sub-commands the help display described in the module docstring."""
    if getattr(command, "help", None):
        command.help = escape(command.help)
    # click makes the help option on first use; make it now, with the names the root context will pass down
    command.get_help_option(typer.Context(command, help_option_names=help_option_names))
    params = [*command.params, command.get_help_option(typer.Context(command, help_option_names=help_option_names))]
    for param in params:
        if isinstance(param, typer.core.TyperArgument) and not isinstance(param, _Argument):
            param.__class__ = _Argument
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
        elif isinstance(param, typer.core.TyperOption) and not isinstance(param, _Option):
            param.__class__ = _Option
        if getattr(param, "help", None):
            param.help = escape(param.help)
    for sub in getattr(command, "commands", {}).values():
        dress(sub, help_option_names)
