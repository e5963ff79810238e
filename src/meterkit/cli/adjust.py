"""``meterkit adjust``: the production bench on the command line - show, calibrate, accuracy, seal.

PORT is the meter's adjustment port (``tcp://127.0.0.1:2102`` or the pty path ``serve --adjust-port pty`` printed);
reference loads go through the control channel (``--control``).  The workflow (docs/meter.md, "Adjustment"):
``accuracy`` (unadjusted: beyond class) -> ``calibrate`` -> ``accuracy`` (inside class) -> ``seal``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError, DeviceError
from ..meter.accuracy import CLASSES, PointResult, accuracy_points, results_json, run_accuracy_test
from ..meter.adjust_protocol import parse_reply
from ..meter.adjustment import AccuracyClassName
from ..meter.bench import adjust
from ..transport.adjust_port import AdjustLink
from ..transport.control import send_control

__all__ = ["NetBench", "plot_errors", "register"]


PortArg = Annotated[str, typer.Argument(help="Adjustment port: tcp://127.0.0.1:PORT or the pty's path.")]
ControlOpt = Annotated[
    str | None, typer.Option("--control", help="Control channel tcp://127.0.0.1:PORT for the reference loads.")
]


class NetBench:
    """The bench over the wire: loads through the control channel, the adjustment port, real time."""

    def __init__(self, link: AdjustLink, control: str | None) -> None:
        self.link = link
        self.control = control

    def apply(self, voltage_v: float, current_a: float, angle_deg: float) -> None:
        if self.control is None:
            raise ConfigError("reference loads need the control channel: give --control tcp://127.0.0.1:PORT")
        reply = send_control(self.control, f"load {voltage_v!r} {current_a!r} {angle_deg!r}")
        if not reply.startswith("ok"):
            raise DeviceError(f"the control channel refused the load: {reply}")

    def adjust(self, line: str) -> str:
        return self.link.request(line)

    def dwell(self, seconds: float) -> None:
        time.sleep(seconds)


def _nameplate(link: AdjustLink) -> dict[str, str]:
    return parse_reply(link.request("id"))


def plot_errors(results: list[PointResult], path: Path, *, cls: str, reference_a: float, title: str) -> None:
    """Error (%) against current (log scale), one line per power factor, with the class's limits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    try:
        for pf, color in (("1", "#1f77b4"), ("0.5i", "#d62728"), ("0.8c", "#2ca02c")):
            rows = [r for r in results if r.point.pf == pf]
            if not rows:
                continue
            ax.plot(
                [r.point.current_a for r in rows],
                [r.error_pct for r in rows],
                marker="o",
                color=color,
                label=f"PF {pf}",
            )
            limits = [r.limit_pct for r in rows]
            ax.step([r.point.current_a for r in rows], limits, where="post", color=color, linestyle=":", linewidth=1)
            ax.step([r.point.current_a for r in rows], [-x for x in limits], where="post", color=color, linestyle=":")
        ax.axhline(0, color="#444444", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(f"current (A), Iref = {reference_a:g} A")
        ax.set_ylabel("error (%)")
        ax.set_title(f"{title} - class {cls} limits dotted")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def register(app: typer.Typer) -> None:
    """Add ``adjust`` with ``show``, ``calibrate``, ``accuracy`` and ``seal``."""
    group = typer.Typer(
        help="Factory adjustment through the meter's adjustment port: show, calibrate, accuracy test, seal.",
        no_args_is_help=True,
    )
    app.add_typer(group, name="adjust")

    @group.command("show")
    def show_cmd(
        port: PortArg,
        fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    ) -> int:
        """Identification, seal and correction set of the meter."""
        if fmt not in ("table", "json"):
            raise typer.BadParameter("--format is table or json", param_hint="--format")
        with AdjustLink(port) as link:
            ident = _nameplate(link)
            cal = parse_reply(link.request("cal"))
        if fmt == "json":
            print(json.dumps({"id": ident, "corrections": cal}, indent=2))
            return 0
        for key, value in ident.items():
            print(f"{key:8} {value}")
        for name in ("L1", "L2", "L3"):
            print(f"{name:8} " + " ".join(f"{k.split('.')[1]}={v}" for k, v in cal.items() if k.startswith(name)))
        return 0

    @group.command("calibrate")
    def calibrate_cmd(port: PortArg, control: ControlOpt = None) -> int:
        """Inject reference loads, read the raw channels, compute and write the corrections, verify them."""
        with AdjustLink(port) as link:
            ident = _nameplate(link)
            result = adjust(
                NetBench(link, control), voltage_v=float(ident["un"]), reference_current_a=float(ident["iref"])
            )
        for name, values in result.corrections.items():
            print(f"{name}: " + " ".join(f"{k}={v:g}" for k, v in values.items()))
        print(
            f"verified: worst deviation {result.worst_rel * 100:.5f} % and {result.worst_deg:.5f} deg; "
            f"calibration checksum {result.checksum}"
        )
        return 0

    @group.command("accuracy")
    def accuracy_cmd(
        port: PortArg,
        control: ControlOpt = None,
        accuracy_class: Annotated[
            str | None, typer.Option("--class", help="1, 2, 0.5S, 0.2S, B or C (default: the meter's)")
        ] = None,
        dwell: Annotated[float, typer.Option("--dwell", help="Seconds of energy per test point.", min=1.0)] = 2.0,
        fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
        plot: Annotated[Path | None, typer.Option("--plot", help="PNG of error against current.")] = None,
    ) -> int:
        """The lab's accuracy test: error of the meter's energy at each test point against the class limits.
        Exit code 1 when a point is beyond its limit."""
        if fmt not in ("table", "json"):
            raise typer.BadParameter("--format is table or json", param_hint="--format")
        if accuracy_class is not None and accuracy_class not in CLASSES:
            raise typer.BadParameter(f"--class is one of {', '.join(CLASSES)}", param_hint="--class")
        with AdjustLink(port) as link:
            ident = _nameplate(link)
            cls = cast(AccuracyClassName, accuracy_class or ident["class"])
            un, iref, imax = float(ident["un"]), float(ident["iref"]), float(ident["imax"])
            points = accuracy_points(iref, imax, cls)
            results = run_accuracy_test(
                NetBench(link, control), points, voltage_v=un, reference_a=iref, cls=cls, dwell_s=dwell
            )
        passed = all(r.passed for r in results)
        state = "sealed" if ident["sealed"] != "no" else "in manufacturing"
        if plot is not None:
            plot_errors(results, plot, cls=cls, reference_a=iref, title=f"meter {ident['serial']} ({state})")
        if fmt == "json":
            print(json.dumps(results_json(results, cls=cls, serial=ident["serial"]), indent=2))
        else:
            _table(results, cls, ident, state)
        return 0 if passed else 1

    @group.command("seal")
    def seal_cmd(
        port: PortArg,
        yes: Annotated[bool, typer.Option("--yes", help="Confirm: sealing is one way, forever.")] = False,
    ) -> int:
        """Leave manufacturing: the adjustment port refuses every write from now on, forever."""
        if not yes:
            raise typer.BadParameter("sealing cannot be undone: give --yes")
        with AdjustLink(port) as link:
            fields = parse_reply(link.request("seal"))
        print(f"sealed at {fields['sealed']}; calibration checksum {fields['cal']}")
        return 0


def _table(results: list[PointResult], cls: str, ident: dict[str, str], state: str) -> None:
    table = Table(
        title=f"accuracy test, meter {ident['serial']} ({state}), class {cls}",
        caption=f"Un {ident['un']} V, Iref {ident['iref']} A, Imax {ident['imax']} A; cal {ident['cal']}",
    )
    for column in ("current", "I (A)", "PF", "error %", "limit %", "result"):
        table.add_column(column, justify="right" if column not in ("current", "PF", "result") else "left")
    for r in results:
        error = "-" if not math.isfinite(r.error_pct) else f"{r.error_pct:+.3f}"
        table.add_row(
            r.point.label,
            f"{r.point.current_a:g}",
            r.point.pf,
            error,
            f"±{r.limit_pct:g}",
            "pass" if r.passed else "FAIL",
        )
    Console(highlight=False, soft_wrap=True).print(table)
