"""``meterkit demand``: maximum demand from load-profile files, fixed against sliding, thresholds, plots."""

from __future__ import annotations

import codecs
import json
import sys
from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import TaskID
from rich.table import Table

from ..analytics.billing import BillingSchedule
from ..analytics.choice import WindowChoice, choose_windows, nothing_computable
from ..analytics.configs import ALL_CONFIGS, DemandWindow, parse_window
from ..analytics.engine import DemandResult, compute_demand
from ..analytics.grouped import available_memory, demand_in_groups, fits
from ..analytics.plot import COLORS, PLOT_SUFFIXES
from ..analytics.threshold import assess, parse_amount
from ..errors import ConfigError
from ..loadprofile.dialect import FileFormat, load_format_profile, parse_columns
from ..loadprofile.grid import MAX_KW, read_load_profile
from .errors import usage_error
from .render import console, progress_bar

__all__ = ["register"]

DEFAULT_WINDOWS = (DemandWindow("fixed", 15, 15), DemandWindow("sliding", 15, 1))


class Format(StrEnum):
    table = "table"
    json = "json"


def _usage(message: str) -> NoReturn:
    """A usage error: one line on stderr, exit code 2."""
    usage_error(message)


def _decimal(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return parse_amount(text, what)
    except ConfigError as exc:
        _usage(str(exc))


class Label(StrEnum):
    start = "start"
    end = "end"


class PlotJs(StrEnum):
    inline = "inline"
    cdn = "cdn"


def _file_format(
    format_profile: Path | None,
    sep: str | None,
    decimal: str | None,
    encoding: str | None,
    skip_rows: int | None,
    columns: str | None,
    label: Label | None,
    time_format: str | None,
) -> FileFormat:
    try:
        base = load_format_profile(format_profile) if format_profile is not None else FileFormat()
        if sep is not None:
            sep = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ","}.get(sep.lower(), sep)
            if len(sep) != 1:
                raise ConfigError(f"--sep {sep!r}: give one character (or 'tab')")
        if encoding is not None:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise ConfigError(f"--encoding {encoding!r}: unknown encoding") from None
        if decimal is not None and decimal not in (".", ","):
            raise ConfigError(f"--decimal {decimal!r}: use '.' or ','")
        given = FileFormat(
            sep=sep,
            decimal=None if decimal is None else ("," if decimal == "," else "."),
            encoding=encoding,
            skip_rows=skip_rows,
            columns=parse_columns(columns) if columns else {},
            label=None if label is None else ("start" if label is Label.start else "end"),
            time_format=time_format,
        )
    except ConfigError as exc:
        _usage(str(exc))
    return base.merged(given)


def _reset_time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        _usage(f"--reset-time {text!r}: use HH:MM")


def _windows(fixed: list[str], sliding: list[str], all_: bool) -> tuple[DemandWindow, ...] | None:
    """The chosen configurations, or None for the default ones."""
    chosen: list[DemandWindow] = []
    try:
        chosen += [parse_window(f"fixed {p}") for p in fixed]
        chosen += [parse_window(f"sliding {p}") for p in sliding]
    except ConfigError as exc:
        _usage(str(exc))
    if all_:
        chosen += [w for w in ALL_CONFIGS if w not in chosen]
    return tuple(dict.fromkeys(chosen)) or None


class _Bar:
    """A progress bar on stderr when it is a terminal (nothing otherwise, so piped output stays clean)."""

    def __init__(self, err: Console) -> None:
        self.progress = progress_bar(err)
        self.task: TaskID | None = None

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def step(self, description: str, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task(description, total=total)
        self.progress.update(self.task, description=description, completed=done, total=total, refresh=True)


def register(app: typer.Typer) -> None:
    """Add ``demand``."""

    @app.command("demand")
    def demand_cmd(
        file: Annotated[
            Path,
            typer.Argument(help="Load profile: CSV or Parquet file, a folder of them, or - for standard input."),
        ],
        fixed: Annotated[
            list[str] | None, typer.Option("--fixed", help="Fixed window in minutes: 5, 15, 30 or 60.")
        ] = None,
        sliding: Annotated[
            list[str] | None, typer.Option("--sliding", help="Sliding window PERIOD/SUB, e.g. 15/1.")
        ] = None,
        all_: Annotated[bool, typer.Option("--all", help="All 16 configurations side by side.")] = False,
        threshold: Annotated[str | None, typer.Option("--threshold", help="Contracted demand in kW.")] = None,
        rate: Annotated[str | None, typer.Option("--rate", help="Penalty per kW above the threshold.")] = None,
        plot: Annotated[Path | None, typer.Option("--plot", help="Draw the curves to FILE.png or FILE.html.")] = None,
        meter: Annotated[str | None, typer.Option("--meter", help="Meter to plot (default: the first).")] = None,
        fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
        reset_day: Annotated[int, typer.Option("--reset-day", help="Billing reset day of the month (1-28).")] = 1,
        reset_time: Annotated[str, typer.Option("--reset-time", help="Billing reset time HH:MM.")] = "00:00",
        tz: Annotated[
            str, typer.Option("--tz", help="Time zone of the billing resets and of local timestamps.")
        ] = "UTC",
        skip_incomplete: Annotated[
            bool, typer.Option("--skip-incomplete", help="Skip windows with gaps instead of failing.")
        ] = False,
        allow_straddle: Annotated[
            bool, typer.Option("--straddle", help="Let windows that cross a billing reset count for the new period.")
        ] = False,
        dask: Annotated[bool, typer.Option("--dask", help="Compute with Dask over partitioned Parquet.")] = False,
        scheduler: Annotated[
            str | None, typer.Option("--scheduler", help="Dask scheduler address (implies --dask).")
        ] = None,
        sep: Annotated[str | None, typer.Option("--sep", help="CSV separator (default: found in the file).")] = None,
        decimal: Annotated[
            str | None, typer.Option("--decimal", help="Decimal mark, '.' or ',' (default: found in the file).")
        ] = None,
        encoding: Annotated[
            str | None, typer.Option("--encoding", help="Text encoding (default: UTF-8, else Latin-1).")
        ] = None,
        skip_rows: Annotated[
            int | None, typer.Option("--skip-rows", min=0, help="Lines before the header line (default: found).")
        ] = None,
        columns: Annotated[
            str | None,
            typer.Option(
                "--columns",
                help="Column roles, e.g. timestamp=Zeitstempel,kwh=Wert,meter=Zählpunkt (or date=Datum,time=Uhrzeit).",
            ),
        ] = None,
        format_profile: Annotated[
            Path | None, typer.Option("--format-profile", help="A portal's file format as TOML (see docs).")
        ] = None,
        label: Annotated[
            Label | None,
            typer.Option("--label", help="Timestamps mark the start or the end of the interval (default: end)."),
        ] = None,
        time_format: Annotated[
            str | None, typer.Option("--time-format", help="strftime format of the timestamps, e.g. %d/%m/%Y %H:%M.")
        ] = None,
        max_kw: Annotated[
            float, typer.Option("--max-kw", help="Largest plausible average power of an interval (kW).")
        ] = MAX_KW,
        plot_js: Annotated[
            PlotJs, typer.Option("--plot-js", help="HTML plots: plotly.js inline (offline) or from its CDN.")
        ] = PlotJs.inline,
        memory_limit: Annotated[
            float | None,
            typer.Option(
                "--memory-limit",
                help="MB for the data (default: half the available memory); larger files are read by meter groups.",
            ),
        ] = None,
    ) -> int:
        """Maximum demand per meter and billing period, fixed against sliding windows."""
        chosen = _windows(fixed or [], sliding or [], all_)
        windows = chosen or DEFAULT_WINDOWS
        threshold_kw = _decimal(threshold, "--threshold")
        rate_kw = _decimal(rate, "--rate")
        if rate_kw is not None and threshold_kw is None:
            _usage("--rate needs --threshold")
        if not max_kw > 0 or max_kw == float("inf"):
            _usage(f"--max-kw {max_kw}: give a positive finite number")
        if memory_limit is not None and not 0 < memory_limit < float("inf"):
            _usage(f"--memory-limit {memory_limit}: give a positive number of MB")
        limit = int(memory_limit * 1e6) if memory_limit is not None else available_memory() // 2
        fmt_ = _file_format(format_profile, sep, decimal, encoding, skip_rows, columns, label, time_format)
        if plot is not None:
            if dask or scheduler:
                _usage("--plot works on a single file, not with --dask")
            if plot.suffix.lower() not in PLOT_SUFFIXES:
                _usage(f"--plot {plot}: use a .png or .html file name")
            if len(windows) > len(COLORS):
                _usage(f"a plot shows at most {len(COLORS)} configurations, {len(windows)} chosen; choose fewer")
            if not plot.resolve().parent.is_dir():
                _usage(f"--plot {plot}: the folder {plot.resolve().parent} does not exist")
        try:
            billing = BillingSchedule(reset_day=reset_day, reset_time=_reset_time(reset_time), tz=tz)
        except ConfigError as exc:
            _usage(str(exc))
        on_incomplete: Literal["fail", "skip"] = "skip" if skip_incomplete else "fail"
        err = Console(stderr=True)
        if dask or scheduler:
            from ..analytics.fleet import fleet_demand_with_notes

            with _Bar(err) as bar:
                fleet = fleet_demand_with_notes(
                    file,
                    windows,
                    billing=billing,
                    on_incomplete=on_incomplete,
                    allow_straddle=allow_straddle,
                    tz=tz,
                    scheduler=scheduler,
                    progress=lambda done, total: bar.step("meter groups on Dask", done, total),
                    fmt=fmt_,
                    max_kw=max_kw,
                    substitute=chosen is None,
                )
            results, notes = fleet.results, fleet.notes
            if fleet.step_s is not None:
                choice = _choose(file, windows, fleet.step_s, chosen is None)
                windows, notes = choice.windows, [*notes, *choice.notes]
        elif not fits(file, limit):
            if plot is not None:
                _usage(f"--plot needs the file read whole; it is larger than --memory-limit {limit / 1e6:.0f} MB")
            picked: list[WindowChoice] = []

            def pick(step: int) -> tuple[DemandWindow, ...]:
                picked.append(_choose(file, windows, step, chosen is None))
                return picked[0].windows

            with _Bar(err) as bar:
                run = demand_in_groups(
                    file,
                    pick,
                    limit_bytes=limit,
                    billing=billing,
                    fmt=fmt_,
                    on_incomplete=on_incomplete,
                    tz=tz,
                    allow_straddle=allow_straddle,
                    max_kw=max_kw,
                    progress=lambda done, total: bar.step("meter groups", done, total),
                )
            windows = picked[0].windows
            results, notes = run.results, [*run.notes, *picked[0].notes]
            notes.append(f"read in {run.groups} groups of meters to stay within {limit / 1e6:.0f} MB")
        else:
            with _Bar(err) as bar:
                bar.step("reading", 0, 2)
                profile = read_load_profile(
                    file, on_incomplete=on_incomplete, tz=tz, fmt=fmt_, max_kw=max_kw, guess_label=True
                )
                choice = _choose(file, windows, profile.step_s, chosen is None)
                windows = choice.windows
                bar.step(f"computing {len(profile.meters)} meter(s)", 1, 2)
                results = compute_demand(profile, windows, billing=billing, allow_straddle=allow_straddle)
                bar.step("done", 2, 2)
            notes = [*profile.notes, *choice.notes]
            if plot is not None:
                from ..analytics.plot import plot_demand

                plot_demand(
                    plot,
                    profile,
                    windows,
                    results,
                    meter=meter,
                    threshold_kw=threshold_kw,
                    billing=billing,
                    plot_js=plot_js.value,
                )
        _output(results, windows, threshold_kw, rate_kw, fmt, notes, tz)
        if plot is not None:
            err.print(f"plot written to {plot}")
        return 0


def _choose(file: Path, windows: tuple[DemandWindow, ...], step_s: int, default: bool) -> WindowChoice:
    choice = choose_windows(windows, step_s, substitute=default)
    if not choice.windows:
        raise nothing_computable(str(file), choice, step_s)
    return choice


def _output(
    results: list[DemandResult],
    windows: tuple[DemandWindow, ...],
    threshold_kw: Decimal | None,
    rate_kw: Decimal | None,
    fmt: Format,
    notes: list[str],
    tz: str = "UTC",
) -> None:
    assessed = assess(results, threshold_kw, rate_kw) if threshold_kw is not None else None
    zone = ZoneInfo(tz)

    def local(at: datetime) -> datetime:
        return at.astimezone(zone)

    if fmt is Format.json:
        rows = []
        for i, r in enumerate(results):
            row = r.as_json()
            if r.at is not None:
                row["at"] = local(r.at).isoformat()
            if assessed is not None:
                a = assessed[i]
                row["threshold_kw"] = float(a.threshold_kw)
                row["exceeded"] = a.exceeded  # None: no maximum demand in the period (no data)
                row["excess_kw"] = None if a.excess_kw is None else float(a.excess_kw)
                if rate_kw is not None:
                    row["penalty"] = None if a.penalty is None else float(a.penalty)
            rows.append(row)
        doc: dict[str, object] = {"tz": tz, "results": rows}
        if notes:
            doc["notes"] = notes
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    out = console()
    title = "Maximum demand" + (f" against the contracted {threshold_kw} kW" if threshold_kw is not None else "")
    table = Table(title=title)
    table.title = f"{table.title} (times in {tz})"
    for col in ("meter", "billing period", "configuration", "MD (kW)", "at (end of window)", "windows"):
        table.add_column(
            col,
            justify="right" if col in ("MD (kW)", "windows") else "left",
            overflow="fold",  # long meter ids wrap, never cut to identical prefixes
            min_width=min(64, max((len(r.meter) for r in results), default=5)) if col == "meter" else None,
        )
    if assessed is not None:
        table.add_column("excess (kW)", justify="right")
        if rate_kw is not None:
            table.add_column("penalty", justify="right")
    for i, r in enumerate(results):
        md = "—" if r.md_kw is None else f"{r.md_kw:07.2f}"
        cells = [
            r.meter,
            r.billing_period,
            r.window.label,
            md,
            "—" if r.at is None else local(r.at).strftime("%Y-%m-%d %H:%M" + ("" if tz == "UTC" else " %Z")),
            str(r.windows) + (f" ({r.skipped} skipped)" if r.skipped else ""),
        ]
        if assessed is not None:
            a = assessed[i]
            if a.exceeded is None:
                cells.append("no data")
            else:
                cells.append(f"[bold red]{a.excess_kw}[/]" if a.exceeded else "0 (within)")
            if rate_kw is not None:
                cells.append("no data" if a.penalty is None else str(a.penalty))
        table.add_row(*cells)
    if not out.is_terminal:  # a pipe or file: as wide as the table needs, so nothing is folded or cut
        out = Console(
            width=max(120, Measurement.get(out, out.options.update_width(1000), table).maximum), highlight=False
        )
    out.print(table)
    for note in notes:
        out.print(f"note: {note}")
