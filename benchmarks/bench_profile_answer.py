"""Time to build a 31-day P.01 answer (2,976 quarter-hour rows): the meter's path before and after #10, in one run.

"before" is the former path, kept here as the baseline: every row's data sets built with per-character field checks
(``_check_chars_loop``), stamps through ``strftime`` and every energy text through ``Decimal``.  "after" is
:func:`meterkit.meter.session.profile_datasets` with the precompiled field checks.  "floor" is the same text made with
plain f-strings and one join, no data sets and no checks at all.  Each builds the data sets and encodes the first
R6 partial block (what a collector waits for before the first answer) and the whole answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from unittest import mock
from zoneinfo import ZoneInfo

from meterkit.iec62056_21 import messages
from meterkit.iec62056_21.messages import DataAnswer, DataSet, Value
from meterkit.meter.core import ProfileRow
from meterkit.meter.registers import energy_text
from meterkit.meter.session import PARTIAL_BLOCK_LINES, profile_datasets

DAYS = 31
CAPTURE_MIN = 15
REPEAT = 9
_CHANNELS = ("1.8.0", "kWh", "2.8.0", "kWh", "3.8.0", "kvarh", "4.8.0", "kvarh")


def make_rows(days: int) -> list[ProfileRow]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    n = days * 24 * 60 // CAPTURE_MIN
    return [
        ProfileRow(
            end=start + timedelta(minutes=CAPTURE_MIN * (i + 1)),
            a_plus=120_000 + (i * 7919) % 250_000,
            a_minus=0,
            r_plus=30_000 + (i * 104_729) % 60_000,
            r_minus=(i % 3) * 1_000,
            status=0,
        )
        for i in range(n)
    ]


def before(rows: Sequence[ProfileRow], capture_min: int, zone: tzinfo) -> tuple[DataSet, ...]:
    """The P.01 data sets as the session built them before (one Value per field, strftime stamps)."""
    header = DataSet(
        address="P.01",
        values=tuple(Value(value=v) for v in (str(len(rows)), str(capture_min), "4", *_CHANNELS)),
    )
    lines = [
        DataSet(
            address="",
            values=(
                Value(value=r.end.astimezone(zone).strftime("%y%m%d%H%M")),
                Value(value=f"{r.status:02X}"),
                Value(value=energy_text(r.a_plus)),
                Value(value=energy_text(r.a_minus)),
                Value(value=energy_text(r.r_plus)),
                Value(value=energy_text(r.r_minus)),
            ),
        )
        for r in rows
    ]
    return (header, *lines)


def floor(rows: Sequence[ProfileRow], capture_min: int, zone: tzinfo) -> bytes:
    """The same text with f-strings and one join: no data sets, no checks."""

    def kwh(milli: int) -> str:
        wh, rest = divmod(milli, 1000)
        wh += rest >= 500
        return f"{wh // 1000:06d}.{wh % 1000:03d}"

    head = f"P.01({len(rows)})({capture_min})(4)(1.8.0)(kWh)(2.8.0)(kWh)(3.8.0)(kvarh)(4.8.0)(kvarh)\r\n"
    body = "".join(
        f"({r.end.astimezone(zone):%y%m%d%H%M})({r.status:02X})({kwh(r.a_plus)})({kwh(r.a_minus)})"
        f"({kwh(r.r_plus)})({kwh(r.r_minus)})\r\n"
        for r in rows
    )
    return (head + body).encode("ascii")


def timed(builds: dict[str, Callable[[], object]], *, slow_checks: frozenset[str]) -> dict[str, float]:
    """Best time of each build over ``REPEAT`` rounds, the builds interleaved in every round (so a busy machine slows
    them alike); the ones named in ``slow_checks`` run with the per-character field check."""
    best = dict.fromkeys(builds, float("inf"))
    for _ in range(REPEAT):
        for name, build in builds.items():
            with mock.patch.object(
                messages, "_check_chars", messages._check_chars_loop if name in slow_checks else messages._check_chars
            ):
                t0 = time.perf_counter()
                build()
                best[name] = min(best[name], time.perf_counter() - t0)
    return best


def first_block_and_all(datasets: tuple[DataSet, ...]) -> None:
    DataAnswer(datasets=datasets[:PARTIAL_BLOCK_LINES], partial=True).to_bytes()
    DataAnswer(datasets=datasets).to_bytes()


def main() -> None:
    zone = ZoneInfo("Europe/Berlin")
    rows = make_rows(DAYS)
    old = before(rows, CAPTURE_MIN, zone)
    new = profile_datasets(rows, CAPTURE_MIN, zone)
    assert DataAnswer(datasets=old).to_bytes() == DataAnswer(datasets=new).to_bytes(), "the answers differ"
    assert DataAnswer(datasets=new).to_bytes()[1:-2] == floor(rows, CAPTURE_MIN, zone), "the floor text differs"

    t = timed(
        {
            "before": lambda: first_block_and_all(before(rows, CAPTURE_MIN, zone)),
            "before_build": lambda: before(rows, CAPTURE_MIN, zone),
            "after": lambda: first_block_and_all(profile_datasets(rows, CAPTURE_MIN, zone)),
            "after_build": lambda: profile_datasets(rows, CAPTURE_MIN, zone),
            "floor": lambda: floor(rows, CAPTURE_MIN, zone),
        },
        slow_checks=frozenset({"before", "before_build"}),
    )
    t_before, t_before_build, t_after, t_after_build, t_floor = (
        t[k] for k in ("before", "before_build", "after", "after_build", "floor")
    )
    print(f"P.01 answer, {DAYS} days = {len(rows)} rows of {CAPTURE_MIN} min (best of {REPEAT}):")
    print(f"  before: {t_before * 1e3:7.1f} ms (data sets {t_before_build * 1e3:.1f} ms + encoding)")
    print(f"  after:  {t_after * 1e3:7.1f} ms (data sets {t_after_build * 1e3:.1f} ms + encoding)")
    print(f"  floor:  {t_floor * 1e3:7.1f} ms (f-strings and one join, no data sets, no checks)")
    print(f"  before/after = {t_before / t_after:.2f}x; after/floor = {t_after / t_floor:.2f}x")


if __name__ == "__main__":
    main()
