"""Demand curves a customer can read: fixed and sliding windows, the contracted threshold, the MD points.

PNG through matplotlib (Agg, no display needed); HTML through plotly, self-contained (plotly.js embedded) or
loading plotly.js from its CDN (``plot_js="cdn"``: a small file that needs the network to open).  The time axis is
in local time of the billing time zone (named in its label), billing resets are drawn as dotted separators with the
period's name, the demand axis starts at 0 and MD labels are joined to their markers by leader lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..loadprofile.grid import LoadProfile
from .billing import BillingSchedule
from .configs import DemandWindow
from .engine import DemandResult, demand_series

__all__ = ["COLORS", "MARKERS", "PLOT_SUFFIXES", "plot_demand"]

#: One colour per configuration, in order; tests look for these pixels.
COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
THRESHOLD_COLOR = "#555555"
#: MD marker per method (matplotlib, plotly): a fixed window's circle is larger, so a sliding window's diamond on
#: the same point stays visible inside it.
MARKERS = {"fixed": ("o", "circle", 11), "sliding": ("D", "diamond", 7)}
PLOT_SUFFIXES = (".png", ".html", ".htm")


def _series(
    profile: LoadProfile, windows: Sequence[DemandWindow], meter: str
) -> list[tuple[DemandWindow, np.ndarray, np.ndarray]]:
    """Per configuration the points to draw: a sliding window is a point at each window end; a fixed window is a
    horizontal segment over its block (start and end point with the same demand)."""
    out = []
    for w in windows:
        t, kw = demand_series(profile, w, meter)
        if w.method == "fixed":
            starts = t - np.timedelta64(w.period_min * 60, "s")
            t = np.column_stack((starts, t)).ravel()
            kw = np.repeat(kw, 2)
        out.append((w, t, kw))
    return out


def _md_points(results: Sequence[DemandResult], meter: str) -> dict[DemandWindow, list[DemandResult]]:
    """Every billing period's MD of every configuration (periods without a maximum have no point)."""
    points: dict[DemandWindow, list[DemandResult]] = {}
    for r in results:
        if r.meter == meter and r.md_kw is not None and r.at is not None:
            points.setdefault(r.window, []).append(r)
    return points


def plot_demand(
    path: Path,
    profile: LoadProfile,
    windows: Sequence[DemandWindow],
    results: Sequence[DemandResult],
    *,
    meter: str | None = None,
    threshold_kw: Decimal | None = None,
    billing: BillingSchedule | None = None,
    plot_js: str = "inline",
) -> Path:
    """Draw the demand curves of ``windows`` for one meter into ``path`` (``.png`` or ``.html``), with the MD of
    each billing period marked on each curve."""
    meter = meter or profile.meters[0]
    suffix = path.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise ConfigError(f"--plot {path}: use a .png or .html file name")
    if len(windows) > len(COLORS):
        raise ConfigError(f"a plot shows at most {len(COLORS)} configurations; choose fewer")
    if meter not in profile.meters:
        raise DataError(f"meter {meter!r} is not in the data (meters: {', '.join(profile.meters[:5])})")
    series = _series(profile, windows, meter)
    mds = _md_points(results, meter)
    periods = len({r.billing_period for points in mds.values() for r in points})
    billing = billing or BillingSchedule(tz=profile.tz)
    start_s = int(profile.start.timestamp())
    labels, bounds = billing.periods(start_s, start_s + profile.n_steps * profile.step_s)
    resets = [
        (int(b), label)
        for b, label in zip(bounds[1:], labels[1:], strict=False)
        if start_s < b < start_s + profile.n_steps * profile.step_s
    ]
    if suffix == ".png":
        _png(path, series, mds, meter, threshold_kw, periods > 1, billing.tz, resets)
    else:
        _html(path, series, mds, meter, threshold_kw, periods > 1, billing.tz, resets, plot_js)
    return path


def _title(meter: str, threshold_kw: Decimal | None) -> str:
    base = f"Demand of meter {meter}"
    return base + (f" against the contracted {threshold_kw} kW" if threshold_kw is not None else "")


def _md_label(r: DemandResult, with_period: bool) -> str:
    return f"MD {r.billing_period}: {r.md_kw} kW" if with_period else f"MD {r.md_kw} kW"


def _png(
    path: Path,
    series: list,  # type: ignore[type-arg]
    mds: dict[DemandWindow, list[DemandResult]],
    meter: str,
    threshold_kw: Decimal | None,
    with_period: bool,
    tz: str,
    resets: list[tuple[int, str]],
) -> None:
    from zoneinfo import ZoneInfo

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=100)
    try:
        for (window, t, kw), color in zip(series, COLORS, strict=False):
            times = t.astype("datetime64[s]").astype(object)
            ax.plot(times, kw, color=color, linewidth=2.2, label=window.label)
        if threshold_kw is not None:
            ax.axhline(
                float(threshold_kw),
                color=THRESHOLD_COLOR,
                linestyle="--",
                linewidth=1.5,
                label=f"contracted {threshold_kw} kW",
            )
        # MD points: a marker per billing period on each curve (circle: fixed, diamond: sliding)
        labels = []
        for (window, _t, _kw), color in zip(series, COLORS, strict=False):
            marker, _symbol, size = MARKERS[window.method]
            for r in mds.get(window, []):
                assert r.at is not None and r.md_kw is not None
                x, y = mdates.date2num(r.at.replace(tzinfo=None)), float(r.md_kw)
                ax.plot(
                    [x],
                    [y],
                    marker=marker,
                    markersize=size,
                    color=color,
                    markeredgecolor="black",
                    linestyle="none",
                    zorder=3 if window.method == "fixed" else 4,
                )
                labels.append(
                    ax.annotate(
                        _md_label(r, with_period),
                        (x, y),
                        textcoords="offset points",
                        xytext=(8, 8),
                        color=color,
                        fontsize=9,
                        fontweight="bold",
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
                        arrowprops={"arrowstyle": "-", "color": color, "linewidth": 0.8, "shrinkA": 0, "shrinkB": 4},
                        zorder=5,
                    )
                )
        for at_s, label in resets:  # billing-period separators
            x = mdates.date2num(datetime.fromtimestamp(at_s, UTC).replace(tzinfo=None))
            ax.axvline(x, color=THRESHOLD_COLOR, linestyle=":", linewidth=1.2, zorder=1)
            ax.annotate(
                f"billing period {label}",
                (x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=8,
                color=THRESHOLD_COLOR,
            )
        _y_axis(ax, series, threshold_kw)
        ax.set_title(_title(meter, threshold_kw))
        ax.set_xlabel(f"local time ({tz}); a fixed window is drawn over its block, a sliding one at each window end")
        ax.grid(True, alpha=0.3)
        handles, _names = ax.get_legend_handles_labels()
        methods = {w.method for w, _t, _kw in series if mds.get(w)}
        for method in ("fixed", "sliding"):
            if method in methods:
                marker, _symbol, size = MARKERS[method]
                handles.append(
                    Line2D(
                        [],
                        [],
                        marker=marker,
                        markersize=size * 0.8,
                        color="white",
                        markeredgecolor="black",
                        linestyle="none",
                        label=f"MD, {method} window",
                    )
                )
        # the legend beside the axes never hides a curve or an MD point
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, borderaxespad=0)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=ZoneInfo(tz)))
        fig.autofmt_xdate()
        fig.tight_layout()
        _place_labels(fig, ax, labels)
        fig.savefig(path)
    finally:
        plt.close(fig)


def _y_axis(ax: object, series: list, threshold_kw: Decimal | None) -> None:  # type: ignore[type-arg]
    """The demand axis starts at 0, unless that would squash the curves (every demand above half the top): then it
    is drawn as broken, with break marks at its foot and the start named in its label."""
    values = [kw[np.isfinite(kw)] for _w, _t, kw in series]
    finite = np.concatenate(values) if values else np.array([], dtype=np.float64)
    if finite.size == 0:
        ax.set_ylim(bottom=0)  # type: ignore[attr-defined]
        return
    top = max(float(finite.max()), float(threshold_kw) if threshold_kw is not None else 0.0)
    low = min(float(finite.min()), float(threshold_kw) if threshold_kw is not None else float("inf"))
    if low <= 0.5 * top:
        ax.set_ylim(bottom=0)  # type: ignore[attr-defined]
        ax.set_ylabel("demand (kW)")  # type: ignore[attr-defined]
        return
    bottom = ax.get_ylim()[0]  # type: ignore[attr-defined]
    for dy in (0.0, 0.025):  # two slanted strokes across the axis foot: the axis does not start at 0
        ax.plot(  # type: ignore[attr-defined]
            [-0.012, 0.012],
            [dy - 0.012, dy + 0.012],
            transform=ax.transAxes,  # type: ignore[attr-defined]
            color="black",
            linewidth=1.2,
            clip_on=False,
        )
    ax.set_ylabel(f"demand (kW); axis broken, starts at {bottom:.0f} kW")  # type: ignore[attr-defined]


def _place_labels(fig: object, ax: object, labels: list) -> None:  # type: ignore[type-arg]
    """Move MD labels so that none overlaps another or leaves the frame: a label that would collide is stacked
    above the earlier ones, one at the right edge is set to the left of its point, and the y axis gets headroom
    until the highest label is inside."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    margin = 10.0  # pixels between a label and the frame
    for _attempt in range(6):
        frame = ax.get_window_extent(renderer)  # type: ignore[attr-defined]
        points = [ax.transData.transform(label.xy) for label in labels]  # type: ignore[attr-defined]
        markers = [Bbox.from_extents(x - 8, y - 8, x + 8, y + 8) for x, y in points]
        placed: list[Bbox] = []
        for i, label in enumerate(labels):
            obstacles = placed + [m for j, m in enumerate(markers) if j != i]
            label.set_horizontalalignment("left")
            label.xyann = (8, 8)
            if label.get_window_extent(renderer).x1 > frame.x1 - margin:
                label.set_horizontalalignment("right")
                label.xyann = (-8, 8)
            for level in range(len(labels) + 1):
                label.xyann = (label.xyann[0], 8 + 15 * level)
                box = label.get_window_extent(renderer)
                if not any(box.overlaps(other) for other in obstacles):
                    break
            placed.append(box)
        top = max((box.y1 for box in placed), default=frame.y1)
        if top <= frame.y1 - margin:
            return
        lo, hi = ax.get_ylim()  # type: ignore[attr-defined]
        # the label's anchor moves down as the range grows; grow until its offset above the anchor fits
        need = (top - frame.y1 + 2 * margin) / frame.height
        ax.set_ylim(lo, hi + (hi - lo) * need / max(1.0 - need, 0.2))  # type: ignore[attr-defined]


def _html(
    path: Path,
    series: list,  # type: ignore[type-arg]
    mds: dict[DemandWindow, list[DemandResult]],
    meter: str,
    threshold_kw: Decimal | None,
    with_period: bool,
    tz: str,
    resets: list[tuple[int, str]],
    plot_js: str,
) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)

    def local(t: np.ndarray) -> list[str]:
        secs = t.astype("datetime64[s]").astype(np.int64).tolist()
        return [datetime.fromtimestamp(x, UTC).astimezone(zone).replace(tzinfo=None).isoformat() for x in secs]

    try:
        import plotly.graph_objects as go
    except ImportError as exc:  # pragma: no cover - optional extra
        raise ConfigError("HTML plots need plotly: pip install 'meterkit[html]'") from exc
    fig = go.Figure()
    for (window, t, kw), color in zip(series, COLORS, strict=False):
        times = local(t)
        fig.add_trace(go.Scatter(x=times, y=kw, name=window.label, mode="lines", line={"color": color}))
        _marker, symbol, size = MARKERS[window.method]
        for r in mds.get(window, []):
            assert r.at is not None and r.md_kw is not None
            name = f"MD {window.label} {r.billing_period}: {r.md_kw} kW" if with_period else None
            fig.add_trace(
                go.Scatter(
                    x=[r.at.astimezone(zone).replace(tzinfo=None).isoformat()],
                    y=[float(r.md_kw)],
                    name=name or f"MD {window.label}: {r.md_kw} kW",
                    mode="markers",
                    marker={"color": color, "size": size + 4, "symbol": symbol, "line": {"color": "black", "width": 1}},
                )
            )
    if threshold_kw is not None:
        fig.add_hline(
            y=float(threshold_kw),
            line_dash="dash",
            line_color=THRESHOLD_COLOR,
            annotation_text=f"contracted {threshold_kw} kW",
        )
    for at_s, label in resets:
        x = datetime.fromtimestamp(at_s, UTC).astimezone(zone).replace(tzinfo=None).isoformat()
        fig.add_vline(x=x, line_dash="dot", line_color=THRESHOLD_COLOR)
        fig.add_annotation(x=x, y=1.0, yref="paper", text=f"billing period {label}", showarrow=False, xanchor="left")
    fig.update_layout(
        title=_title(meter, threshold_kw),
        xaxis_title=f"end of window, local time ({tz})",
        yaxis_title="demand (kW)",
        yaxis={"rangemode": "tozero"},
    )
    fig.write_html(path, include_plotlyjs="cdn" if plot_js == "cdn" else True, full_html=True)
