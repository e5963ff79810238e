"""Demand curves a customer can read: fixed and sliding windows, the contracted threshold, the MD points.

PNG through matplotlib (Agg, no display needed); HTML through plotly, self-contained (plotly.js embedded).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .configs import DemandWindow
from .engine import DemandResult, demand_series
from .loadprofile import LoadProfile

__all__ = ["COLORS", "plot_demand"]

#: One colour per configuration, in order; tests look for these pixels.
COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
THRESHOLD_COLOR = "#555555"


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


def plot_demand(
    path: Path,
    profile: LoadProfile,
    windows: Sequence[DemandWindow],
    results: Sequence[DemandResult],
    *,
    meter: str | None = None,
    threshold_kw: Decimal | None = None,
) -> Path:
    """Draw the demand curves of ``windows`` for one meter into ``path`` (``.png`` or ``.html``)."""
    meter = meter or profile.meters[0]
    if meter not in profile.meters:
        raise DataError(f"meter {meter!r} is not in the data (meters: {', '.join(profile.meters[:5])})")
    if len(windows) > len(COLORS):
        raise ConfigError(f"a plot shows at most {len(COLORS)} configurations; choose fewer")
    series = _series(profile, windows, meter)
    mds = {r.window: r for r in results if r.meter == meter and r.md_kw is not None}
    suffix = path.suffix.lower()
    if suffix == ".png":
        _png(path, series, mds, meter, threshold_kw)
    elif suffix in (".html", ".htm"):
        _html(path, series, mds, meter, threshold_kw)
    else:
        raise ConfigError(f"--plot {path}: use a .png or .html file name")
    return path


def _title(meter: str, threshold_kw: Decimal | None) -> str:
    base = f"Demand of meter {meter}"
    return base + (f" against the contracted {threshold_kw} kW" if threshold_kw is not None else "")


def _png(path: Path, series: list, mds: dict, meter: str, threshold_kw: Decimal | None) -> None:  # type: ignore[type-arg]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=100)
    try:
        for (window, t, kw), color in zip(series, COLORS, strict=False):
            times = t.astype("datetime64[s]").astype(object)
            ax.plot(times, kw, color=color, linewidth=2.2, label=window.label)
            best = mds.get(window)
            # MD markers are drawn for every configuration with a result (the maximum of its billing periods)
            if best is not None and best.at is not None:
                ax.plot(
                    [best.at.replace(tzinfo=None)],
                    [float(best.md_kw)],
                    marker="o",
                    markersize=9,
                    color=color,
                    markeredgecolor="black",
                    linestyle="none",
                )
                ax.annotate(
                    f"MD {best.md_kw} kW",
                    (best.at.replace(tzinfo=None), float(best.md_kw)),
                    textcoords="offset points",
                    xytext=(6, 8),
                    color=color,
                    fontsize=9,
                    fontweight="bold",
                )
        if threshold_kw is not None:
            ax.axhline(
                float(threshold_kw),
                color=THRESHOLD_COLOR,
                linestyle="--",
                linewidth=1.5,
                label=f"contracted {threshold_kw} kW",
            )
        ax.set_title(_title(meter, threshold_kw))
        ax.set_xlabel("time (UTC); a fixed window is drawn over its block, a sliding one at each window end")
        ax.set_ylabel("demand (kW)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def _html(path: Path, series: list, mds: dict, meter: str, threshold_kw: Decimal | None) -> None:  # type: ignore[type-arg]
    try:
        import plotly.graph_objects as go
    except ImportError as exc:  # pragma: no cover - optional extra
        raise ConfigError("HTML plots need plotly: pip install 'meterkit[html]'") from exc
    fig = go.Figure()
    for (window, t, kw), color in zip(series, COLORS, strict=False):
        times = t.astype("datetime64[s]").astype(str)
        fig.add_trace(go.Scatter(x=times, y=kw, name=window.label, mode="lines", line={"color": color}))
        best = mds.get(window)
        if best is not None and best.at is not None:
            fig.add_trace(
                go.Scatter(
                    x=[best.at.replace(tzinfo=None).isoformat()],
                    y=[float(best.md_kw)],
                    name=f"MD {window.label}: {best.md_kw} kW",
                    mode="markers",
                    marker={"color": color, "size": 12, "line": {"color": "black", "width": 1}},
                )
            )
    if threshold_kw is not None:
        fig.add_hline(
            y=float(threshold_kw),
            line_dash="dash",
            line_color=THRESHOLD_COLOR,
            annotation_text=f"contracted {threshold_kw} kW",
        )
    fig.update_layout(title=_title(meter, threshold_kw), xaxis_title="end of window (UTC)", yaxis_title="demand (kW)")
    fig.write_html(path, include_plotlyjs=True, full_html=True)
