"""Shared output helpers for the client commands (table, JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # the protocol stack is not imported to render a table (meterkit demand needs none of it)
    from ..iec62056_21.messages import DataSet

__all__ = ["console", "datasets_json", "print_datasets", "progress_bar", "write_csv"]


def console() -> Console:
    """Standard output; 120 columns when it is not a terminal (pipes, files, CI logs)."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=120)


def datasets_json(datasets: Sequence[DataSet]) -> list[dict[str, Any]]:
    return [
        {"address": ds.address, "values": [{"value": v.value, "unit": v.unit} for v in ds.values]} for ds in datasets
    ]


def print_datasets(
    console: Console, datasets: Sequence[DataSet], *, title: str | None = None, caption: str | None = None
) -> None:
    """A table of data sets; ``caption`` (under the table) flags data that is not verified."""
    table = Table(title=title, caption=caption, show_lines=False)
    table.add_column("address", style="cyan", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("unit")
    for ds in datasets:
        for i, v in enumerate(ds.values):
            table.add_row(ds.address if i == 0 else "", v.value, v.unit)
    console.print(table)


def write_csv(datasets: Sequence[DataSet]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["address", "index", "value", "unit"])
    for ds in datasets:
        for i, v in enumerate(ds.values):
            writer.writerow([ds.address, i, v.value, v.unit])
    return buf.getvalue()


def dumps(obj: object) -> str:
    return json.dumps(obj, indent=2)


def progress_bar(err: Console) -> Progress:
    """The progress bar of long commands (description, bar, done/total, time): on a terminal only, gone when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
