"""Months of meter history for a whole fleet in seconds: the meter's replay path, vectorised across meters.

What one meter does interval by interval (:meth:`meterkit.meter.core.Meter.add_interval` feeding its
:class:`~meterkit.meter.demand.DemandEngine` per quantity and per tariff, the load profile, the billing resets) is
computed here with numpy for many meters at once, with the same integer arithmetic, so the results are EQUAL to a
replay of the same intervals through the single-meter engine (tests hold them equal register by register):

* energy registers per interval exactly as ``add_interval`` forms them (reactive and apparent from the power
  factor, rounded per interval), totals and per tariff (the tariff active at the start of the interval);
* demand: intervals longer than a minute are split into minutes with the engine's cumulative half-up rule, summed
  into the engine's sub-periods (aligned to the local full hour), and windows are valid when all their sub-periods
  are complete - with the engine's rules for start-up, for a tariff engine's inactive time (power-down at the end of
  an interval of another tariff, power-up with the first energy) and for ties (the first window keeps the maximum);
* billing resets on the configured day and time, each freezing the registers and every engine's maximum;
* the load profile (``P.01``) per capture period.

Meters are simulated in groups that share a demand window, tariff calendar, time zone and billing and profile
settings; every meter of a group is one row of the arrays.  The result per meter is a :class:`MeterHistory`:
the meter's state in the form of :meth:`Meter.snapshot() <meterkit.meter.core.Meter.snapshot>` plus its load
profile, billing history and events, ready to be loaded into a served meter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..meter.config import MeterConfig
from ..meter.core import DEMAND_QUANTITIES, BillingRecord, Event, ProfileRow
from ..meter.demand import PLACES, DemandEngine, to_kw
from ..meter.metrology import REGISTER_NAMES
from .config import FleetConfig, MeterSpec
from .load import IntervalLoad, file_load, local_minutes, synthetic_load

__all__ = ["MeterHistory", "fleet_load", "group_key", "simulate_fleet", "simulate_group"]

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
QUANTITIES = ("A+", "A-", "S+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STEPS = (60, 120, 300, 600, 900, 1200, 1800, 3600)
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, eq=False)
class MeterHistory:
    """One meter after its simulated history.

    ``state`` is :meth:`Meter.snapshot() <meterkit.meter.core.Meter.snapshot>`'s dict (registers, demand engines,
    capture accumulators, reset count); ``profile_*`` hold the load profile as arrays (``profile_rows`` gives the
    :class:`ProfileRow` objects); ``billing`` the billing history (oldest first, trimmed like the meter trims it)
    and ``events`` the events the meter logged (billing resets)."""

    serial: str
    config: MeterConfig
    start: datetime
    end: datetime
    state: dict[str, Any]
    profile_end_s: I64  # epoch seconds of each row's end
    profile_energy: I64  # (rows, 4): A+, A-, R+, R- in mWh / mvarh
    profile_status: npt.NDArray[np.uint8]
    billing: tuple[BillingRecord, ...]
    events: tuple[Event, ...]

    def profile_rows(self) -> list[ProfileRow]:
        """The load profile as the meter holds it."""
        return [
            ProfileRow(
                end=_EPOCH + timedelta(seconds=int(t)),
                a_plus=int(e[0]),
                a_minus=int(e[1]),
                r_plus=int(e[2]),
                r_minus=int(e[3]),
                status=int(s),
            )
            for t, e, s in zip(
                self.profile_end_s.tolist(), self.profile_energy.tolist(), self.profile_status.tolist(), strict=True
            )
        ]

    @property
    def nbytes(self) -> int:
        """Memory held by the profile arrays."""
        return int(self.profile_end_s.nbytes + self.profile_energy.nbytes + self.profile_status.nbytes)


def group_key(config: MeterConfig) -> str:
    """Meters with equal keys are simulated together (one row each in the same arrays)."""
    return json.dumps(
        {
            "window": str(config.demand_config),
            "scale": config.demand.display_scale,
            "tz": config.clock.timezone,
            "tariffs": config.calendar.to_dict(),
            "billing": config.billing.model_dump(mode="json"),
            "profile": config.load_profile.model_dump(mode="json"),
            "va": str(config.metrology.va_method),
        },
        sort_keys=True,
    )


# --- the fleet ------------------------------------------------------------------------------------------------


def simulate_fleet(
    fleet: FleetConfig,
    span: timedelta,
    *,
    start: datetime | None = None,
    specs: Sequence[MeterSpec] | None = None,
    chunk: int = 64,
    progress: Progress | None = None,
) -> Iterator[MeterHistory]:
    """Simulate ``span`` from ``start`` (default: the template's ``[clock] start``) for every meter of the fleet
    (or ``specs``); yields one :class:`MeterHistory` per meter, group by group, ``chunk`` meters per array."""
    specs = list(fleet.meters() if specs is None else specs)
    if not specs:
        return
    configs = [s.meter_config() for s in specs]
    begin = (start or configs[0].clock.start).astimezone(UTC)
    end = begin + span
    if span.total_seconds() <= 0 or span.total_seconds() % 60:
        raise ConfigError(f"a fleet history spans whole minutes, got {span}")
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (spec, cfg) in enumerate(zip(specs, configs, strict=True)):
        groups.setdefault((group_key(cfg), "file" if spec.shape == "file" else "synthetic"), []).append(i)
    done = 0
    total = len(specs)
    for (_, kind), members in groups.items():
        for at in range(0, len(members), chunk):
            part = members[at : at + chunk]
            if kind == "file":
                path = fleet.profiles_path
                assert path is not None
                load = file_load(path, [specs[i].serial for i in part], begin, end)
            else:
                load = synthetic_load(
                    begin,
                    int(span.total_seconds()) // 60,
                    configs[part[0]].zone,
                    [specs[i].shape for i in part],
                    [specs[i].peak_kw for i in part],
                    [specs[i].base_kw for i in part],
                    [specs[i].noise for i in part],
                    [specs[i].seed for i in part],
                )
            yield from simulate_group([configs[i] for i in part], load)
            done += len(part)
            if progress is not None:
                progress(done, total)


def fleet_load(fleet: FleetConfig, spec: MeterSpec, start: datetime, span: timedelta) -> IntervalLoad:
    """The load one meter of the fleet gets in :func:`simulate_fleet` (to replay it through a single meter)."""
    cfg = spec.meter_config()
    begin = start.astimezone(UTC)
    if spec.shape == "file":
        path = fleet.profiles_path
        assert path is not None
        return file_load(path, [spec.serial], begin, begin + span)
    return synthetic_load(
        begin,
        int(span.total_seconds()) // 60,
        cfg.zone,
        [spec.shape],
        [spec.peak_kw],
        [spec.base_kw],
        [spec.noise],
        [spec.seed],
    )


# --- one group ------------------------------------------------------------------------------------------------


def simulate_group(configs: Sequence[MeterConfig], load: IntervalLoad) -> list[MeterHistory]:
    """Run the meters of one group (equal :func:`group_key`) through ``load`` (row ``i`` is meter ``i``)."""
    if len(configs) != load.a_plus.shape[0]:
        raise ConfigError(f"{len(configs)} meter configurations for {load.a_plus.shape[0]} load rows")
    if len({group_key(c) for c in configs}) > 1:
        raise ConfigError("simulate_group: the meters differ in demand, tariff, billing or profile settings")
    return _Group(configs, load).run()


class _Group:
    def __init__(self, configs: Sequence[MeterConfig], load: IntervalLoad) -> None:
        cfg = configs[0]
        self.configs = configs
        self.cfg = cfg
        self.zone = cfg.zone
        self.t0 = load.start.astimezone(UTC)
        self.t0_s = int(self.t0.timestamp())
        if self.t0.microsecond or self.t0_s % 60:
            raise ConfigError(f"a fleet history starts on a whole minute, not {self.t0.isoformat()}")
        self.step = load.step_s
        if self.step not in _STEPS:
            raise ConfigError(f"interval length {self.step} s: use one of {', '.join(map(str, _STEPS))} s")
        self.k = load.intervals
        self.mpi = self.step // 60  # minutes per interval
        self.end_s = self.t0_s + self.k * self.step
        self.ap = load.a_plus
        self.am = load.a_minus
        self.m = self.ap.shape[0]
        if (self.ap < 0).any() or (self.am < 0).any():
            raise ConfigError("interval energies must not be negative")
        self.demand = cfg.demand_config
        self.places = PLACES[cfg.demand.display_scale]
        pf = np.array([c.source.replay_pf for c in configs], dtype=np.float64)[:, None]
        ratio = np.array(
            [(1 / c.source.replay_pf**2 - 1) ** 0.5 if c.source.replay_pf < 1 else 0.0 for c in configs],
            dtype=np.float64,
        )[:, None]
        # exactly add_interval's arithmetic: Q1 = round(A+ · ratio), S± = round(A± / pf), half to even
        self.q1 = np.rint(self.ap * ratio).astype(np.int64)
        self.sp = np.rint(self.ap / pf).astype(np.int64)
        self.sm = np.rint(self.am / pf).astype(np.int64)
        self.tariff = self._tariffs()
        self.resets = self._resets()

    # --- schedule -------------------------------------------------------------------------------------

    def _tariffs(self) -> npt.NDArray[np.int8]:
        """The tariff of each interval (the one active at its start, as the meter takes it).  The calendar is asked
        only where the answer can change: the first interval, a new local day or UTC offset, a switch time passed."""
        cal = self.cfg.calendar
        minute_of_day, _ = local_minutes(self.t0, self.k * self.mpi, self.zone)
        starts = minute_of_day[:: self.mpi]
        switches = np.array(
            sorted({t.hour * 60 + t.minute for day in cal.day_profiles.values() for t, _ in day}), dtype=np.int64
        )
        passed = np.searchsorted(switches, starts, side="right")
        ask = np.ones(self.k, dtype=bool)
        ask[1:] = (np.diff(starts) != self.mpi) | (np.diff(passed) != 0)
        out = np.empty(self.k, dtype=np.int8)
        where = np.flatnonzero(ask)
        answers = [cal.tariff_at(self.t0 + timedelta(seconds=int(i) * self.step), self.zone) for i in where]
        run = np.cumsum(ask) - 1
        out[:] = np.asarray(answers, dtype=np.int8)[run]
        return out

    def _reset_after(self, t: datetime) -> datetime:
        local = t.astimezone(self.zone)
        b = self.cfg.billing
        year, month = local.year, local.month
        for _ in range(3):
            candidate = datetime(year, month, b.reset_day, b.reset_time.hour, b.reset_time.minute, tzinfo=self.zone)
            if candidate.astimezone(UTC) > t:
                return candidate.astimezone(UTC)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise ConfigError("cannot schedule the next billing reset")  # pragma: no cover

    def _resets(self) -> list[tuple[datetime, int]]:
        """(reset time, index of the interval after which it happens) for the scheduled resets in the span."""
        out: list[tuple[datetime, int]] = []
        nxt = self._reset_after(self.t0)
        while True:
            r_s = int(nxt.timestamp())
            i = -(-(r_s - self.t0_s) // self.step) - 1  # first interval whose end reaches the reset time
            if i >= self.k:
                return out
            out.append((nxt, i))
            nxt = self._reset_after(nxt)

    # --- running ---------------------------------------------------------------------------------------

    def run(self) -> list[MeterHistory]:
        checkpoints = [i for _, i in self.resets] + [self.k - 1]
        registers = self._registers(checkpoints)
        engines = {q: self._engines(q, e) for q, e in (("A+", self.ap), ("A-", self.am), ("S+", self.sp))}
        profile = self._profile()
        out = []
        method = str(self.cfg.metrology.va_method)
        calendar = self.cfg.calendar.to_dict()
        end = _EPOCH + timedelta(seconds=self.end_s)
        keep_history = self.cfg.billing.history
        for row, cfg in enumerate(self.configs):
            billing: list[BillingRecord] = []
            events: list[Event] = []
            cumulative = dict.fromkeys(DEMAND_QUANTITIES, Decimal(0))  # the maxima every MD reset cleared
            for n, (at, _) in enumerate(self.resets):
                total, tariffs = registers[n][row]
                maxima: dict[str, tuple[str, str] | None] = {}
                for key, eng in _engine_items(engines):
                    if eng.created <= self.resets[n][1]:
                        md = eng.maxima[n][row]
                        maxima[key] = None if md is None else (str(md[0]), md[1].isoformat())
                for q in DEMAND_QUANTITIES:
                    cleared = maxima.get(q)
                    cumulative[q] += Decimal(0) if cleared is None else Decimal(cleared[0])
                billing.append(
                    BillingRecord(
                        at=at,
                        reason="scheduled",
                        energy=total,
                        maxima=maxima,
                        tariff_energy={str(t): dict(r) for t, r in tariffs.items()},
                    )
                )
                events.append(Event(at=at, code=4, text=f"billing reset (scheduled), count {n + 1}"))
            del billing[: max(0, len(billing) - keep_history)]
            total, tariffs = registers[-1][row]
            last_reset = self.resets[-1][0] if self.resets else None
            state = {
                "now": end.isoformat(),
                "demand_config": str(self.demand),
                "registers": {
                    "method": method,
                    "total": dict(total),
                    "tariffs": {str(t): dict(r) for t, r in tariffs.items()},
                    "phases": {},
                    "rem": {},
                },
                "engines": {q: engines[q][0].state(row) for q in QUANTITIES},
                "tariff_engines": {key: eng.state(row) for key, eng in _engine_items(engines) if "/T" in key},
                "reset_count": len(self.resets),
                "last_reset": None if last_reset is None else last_reset.isoformat(),
                "capture_end": profile.capture_end.isoformat(),
                "capture_acc": {k: int(v[row]) for k, v in profile.acc.items()},
                "capture_incomplete": profile.capture_incomplete,
                "capture_clock_set": False,
                "error_register": 0,
                "calendar": calendar,
                "device_address": cfg.identity.device_address,
                "baud_char": cfg.port.baud_char,
                "reset_day": cfg.billing.reset_day,
                "md_reset_count": len(self.resets),
                "cumulative_md": {q: str(v) for q, v in cumulative.items()},
            }
            out.append(
                MeterHistory(
                    serial=cfg.identity.serial,
                    config=cfg,
                    start=self.t0,
                    end=end,
                    state=state,
                    profile_end_s=profile.end_s,
                    profile_energy=np.ascontiguousarray(profile.energy[row]),
                    profile_status=profile.status,
                    billing=tuple(billing),
                    events=tuple(events),
                )
            )
        return out

    # --- energy registers -----------------------------------------------------------------------------

    def _registers(self, checkpoints: list[int]) -> list[list[tuple[dict[str, int], dict[int, dict[str, int]]]]]:
        """Per checkpoint (interval index, inclusive) and meter: the totals and the per-tariff registers."""
        cuts = np.array(checkpoints, dtype=np.int64)
        change = np.flatnonzero(np.diff(self.tariff)) if self.k > 1 else np.array([], dtype=np.int64)
        # runs of constant tariff, also broken at every checkpoint: their sums are differences of cumulative sums
        run_ends = np.unique(np.concatenate([change, cuts, [self.k - 1]]))
        run_tariff = self.tariff[run_ends]
        names = ("A+", "A-", "Q1", "S+", "S-")
        sums: dict[str, I64] = {}
        for name, arr in zip(names, (self.ap, self.am, self.q1, self.sp, self.sm), strict=True):
            cs = np.cumsum(arr, axis=1)[:, run_ends]
            sums[name] = np.diff(cs, axis=1, prepend=0)  # (meters, runs)
        tariffs = sorted({int(t) for t in run_tariff})
        out = []
        for cut in checkpoints:
            upto = run_ends <= cut
            per: dict[int, dict[str, I64]] = {}
            for t in tariffs:
                mask = upto & (run_tariff == t)
                per[t] = {n: sums[n][:, mask].sum(axis=1) for n in names}
            rows = []
            for row in range(self.m):
                reg_t: dict[int, dict[str, int]] = {}
                total = dict.fromkeys(REGISTER_NAMES, 0)
                for t in tariffs:
                    vals = {n: int(per[t][n][row]) for n in names}
                    if not any(vals.values()):
                        continue  # the meter creates a tariff's registers with its first energy
                    regs = dict.fromkeys(REGISTER_NAMES, 0)
                    regs.update(vals)
                    regs["SA"] = regs["SV"] = regs["SE"] = vals["S+"] + vals["S-"]
                    reg_t[t] = regs
                    for n in REGISTER_NAMES:
                        total[n] += regs[n]
                rows.append((total, dict(sorted(reg_t.items()))))
            out.append(rows)
        return out

    # --- demand ------------------------------------------------------------------------------------------

    def _minutes(self, energy: I64) -> I64:
        """Interval energies split into minutes with the engine's cumulative half-up rule (identity for minutes)."""
        if self.mpi == 1:
            return energy
        j = np.arange(self.mpi + 1, dtype=np.int64) * 60
        share = (2 * energy[:, :, None] * j + self.step) // (2 * self.step)
        return np.diff(share, axis=2).reshape(self.m, self.k * self.mpi)

    def _engines(self, quantity: str, energy: I64) -> list[_Engine]:
        """The total engine of ``quantity`` and one per tariff used in the span (in the order the meter creates
        them)."""
        minutes = self._minutes(energy)
        out = [self._engine(quantity, None, energy, minutes, 0)]
        firsts = sorted((int(np.argmax(self.tariff == t)), int(t)) for t in np.unique(self.tariff))
        for first, t in firsts:
            out.append(self._engine(quantity, t, energy, minutes, first))
        return out

    def _engine(self, quantity: str, tariff: int | None, energy: I64, minutes: I64, created: int) -> _Engine:
        k, mpi = self.k, self.mpi
        idx = np.arange(k, dtype=np.int64)
        if tariff is None:
            active = np.ones(k, dtype=bool)
            e_int, e_min = energy, minutes
        else:
            active = self.tariff == tariff
            e_int = np.where(active, energy, 0)
            e_min = np.where(np.repeat(active, mpi), minutes, 0)
        # up/down: a tariff engine goes down at the end of each interval of another tariff and comes up again with
        # the first energy of its own tariff; it is up when created
        pos = active & (e_int > 0)
        last_inactive = np.maximum.accumulate(np.where(active, -1, idx))
        last_pos = np.maximum.accumulate(np.where(pos, idx, -1), axis=1)
        up_after = active & ((last_inactive < created) | (last_pos > last_inactive))  # (m, k)
        up_before = np.empty_like(up_after)
        up_before[:, 1:] = up_after[:, :-1]
        up_before[:, created] = True
        up_during = up_before | pos  # the state while the interval runs, after any power-up at its start
        # power-downs at the end of intervals of other tariffs (after the engine exists), on the minute grid
        downs = np.zeros(k * mpi + 1, dtype=np.int64)
        downs[(idx[(~active) & (idx >= created)] + 1) * mpi] = 1
        downs_cs = np.cumsum(downs)  # downs_cs[x] = power-downs at minute boundaries <= x

        cfg = self.demand
        ls = cfg.sub_period_min
        n = cfg.sub_periods
        created_s = self.t0_s + created * self.step
        offset = (_EPOCH + timedelta(seconds=created_s)).astimezone(self.zone).utcoffset()
        align = (int(offset.total_seconds()) if offset is not None else 0) % 3600
        phase = ((self.t0_s + align) % (ls * 60)) // 60  # minutes from the sub-period boundary before t0 to t0
        total_min = k * mpi
        n_closed = (phase + total_min) // ls  # sub-periods ending at or before the end
        padded = np.zeros((self.m, n_closed * ls), dtype=np.int64)
        keep = n_closed * ls - phase
        padded[:, phase:] = e_min[:, :keep]
        subs = padded.reshape(self.m, n_closed, ls).sum(axis=2)  # (m, S)
        j = np.arange(n_closed, dtype=np.int64)
        s0 = j * ls - phase  # start minute of each sub-period (relative to t0)
        s1 = s0 + ls
        c_min = created * mpi
        exists = s0 >= c_min
        iv = np.clip(s0, 0, total_min - 1) // mpi
        interior = downs_cs[np.clip(s1 - 1, 0, total_min)] - downs_cs[np.clip(s0, 0, total_min)]
        complete = exists[None, :] & up_during[:, iv] & (interior == 0)[None, :]
        # windows of n sub-periods, valid when all are complete
        cs = np.zeros((self.m, n_closed + 1), dtype=np.int64)
        np.cumsum(subs, axis=1, out=cs[:, 1:])
        bad = np.zeros((self.m, n_closed + 1), dtype=np.int64)
        np.cumsum(~complete, axis=1, out=bad[:, 1:])
        win = np.full((self.m, n_closed), -1, dtype=np.int64)
        if n_closed >= n:
            energy_w = cs[:, n:] - cs[:, :-n]
            ok = (bad[:, n:] - bad[:, :-n]) == 0
            win[:, n - 1 :] = np.where(ok, energy_w, -1)
        end_s = self.t0_s + s1 * 60  # end of each window (epoch s)
        # maxima per billing period: windows ending after the previous reset's interval, up to this one's
        bounds = [self.t0_s + (i + 1) * self.step for _, i in self.resets] + [self.end_s]
        maxima: list[list[tuple[Any, datetime, int] | None]] = []
        lo = 0
        for bound in bounds:
            hi = int(np.searchsorted(end_s, bound, side="right"))
            maxima.append(self._period_max(win[:, lo:hi], end_s[lo:hi], n_closed))
            lo = hi
        # the last valid window (last_average_kw)
        valid = win >= 0
        any_valid: B = np.asarray(valid.any(axis=1))
        last_idx = n_closed - 1 - np.argmax(valid[:, ::-1], axis=1) if n_closed else np.zeros(self.m, dtype=np.int64)
        # the running sub-period and the engine's buffer
        run_start = n_closed * ls - phase
        cur = e_min[:, keep:].sum(axis=1)
        if run_start < c_min:
            cur_complete = np.zeros(self.m, dtype=bool)
        else:
            w0 = up_during[:, run_start // mpi] if run_start < total_min else up_after[:, k - 1]
            after = downs_cs[total_min] - downs_cs[min(run_start, total_min)]
            cur_complete = w0 & (after == 0)
        since_created = int(np.count_nonzero(s1 > c_min))
        buf = min(n, since_created)
        template = DemandEngine(
            cfg, start=_EPOCH + timedelta(seconds=self.end_s), places=self.places, align_s=align
        ).state()
        return _Engine(
            key=quantity if tariff is None else f"{quantity}/T{tariff}",
            created=created,
            period_min=cfg.period_min,
            places=self.places,
            maxima=maxima,
            last_avg=[
                to_kw(int(win[r, last_idx[r]]), cfg.period_min, self.places) if any_valid[r] else None
                for r in range(self.m)
            ],
            buf_energy=subs[:, n_closed - buf :] if buf else np.zeros((self.m, 0), dtype=np.int64),
            buf_ok=complete[:, n_closed - buf :] if buf else np.zeros((self.m, 0), dtype=bool),
            sub_start_us=(self.t0_s + run_start * 60) * 1_000_000,
            cur=cur,
            cur_complete=cur_complete,
            down=~up_after[:, k - 1],
            template=template,
        )

    def _period_max(self, win: I64, end_s: I64, n_closed: int) -> list[tuple[Any, datetime, int] | None]:
        if win.shape[1] == 0:
            return [None] * self.m
        best = np.argmax(win, axis=1)  # the first of equal energies: ties keep the first window
        value = win[np.arange(self.m), best]
        out: list[tuple[Any, datetime, int] | None] = []
        for r in range(self.m):
            if value[r] < 0:
                out.append(None)
            else:
                e = int(value[r])
                out.append(
                    (to_kw(e, self.demand.period_min, self.places), _EPOCH + timedelta(seconds=int(end_s[best[r]])), e)
                )
        return out

    # --- load profile ------------------------------------------------------------------------------------

    def _profile(self) -> _Profile:
        cap = self.cfg.load_profile.capture_min * 60
        c0 = self.t0_s - self.t0_s % cap + cap  # the first capture end
        prev_end = self.t0_s + np.arange(self.k, dtype=np.int64) * self.step  # end of the previous interval
        row_of = np.where(prev_end >= c0, (prev_end - c0) // cap + 1, 0)
        n_rows = max(0, (self.end_s - c0) // cap + 1) if self.end_s >= c0 else 0
        arrays = (self.ap, self.am, self.q1)
        energy = np.zeros((self.m, n_rows, 4), dtype=np.int64)
        last = np.searchsorted(row_of, np.arange(n_rows), side="right") - 1  # last interval of each row
        for col, arr in enumerate(arrays):
            cs = np.zeros((self.m, self.k + 1), dtype=np.int64)
            np.cumsum(arr, axis=1, out=cs[:, 1:])
            at = cs[:, last + 1]
            energy[:, :, col] = np.diff(at, axis=1, prepend=0)
        acc_from = int(last[-1]) + 1 if n_rows else 0
        acc = {
            "A+": self.ap[:, acc_from:].sum(axis=1),
            "A-": self.am[:, acc_from:].sum(axis=1),
            "R+": self.q1[:, acc_from:].sum(axis=1),
            "R-": np.zeros(self.m, dtype=np.int64),
        }
        status = np.zeros(n_rows, dtype=np.uint8)
        unaligned = self.t0_s % cap != 0
        if n_rows and unaligned:
            status[0] = 1
        end_s = c0 + np.arange(n_rows, dtype=np.int64) * cap
        keep = self.cfg.load_profile.keep_days * 86400 // cap
        if n_rows > keep:
            energy, status, end_s = energy[:, n_rows - keep :], status[n_rows - keep :], end_s[n_rows - keep :]
        return _Profile(
            end_s=end_s,
            energy=energy,
            status=status,
            acc=acc,
            capture_end=_EPOCH + timedelta(seconds=c0 + n_rows * cap),
            capture_incomplete=bool(unaligned and n_rows == 0),
        )


@dataclass(slots=True)
class _Profile:
    end_s: I64
    energy: I64  # (m, rows, 4)
    status: npt.NDArray[np.uint8]
    acc: dict[str, I64]
    capture_end: datetime
    capture_incomplete: bool


@dataclass(slots=True)
class _Engine:
    key: str
    created: int  # index of the interval at whose start the meter creates the engine
    period_min: int
    places: int
    maxima: list[list[tuple[Any, datetime, int] | None]]  # per billing period (the last: running), per meter
    last_avg: list[Any]
    buf_energy: I64
    buf_ok: B
    sub_start_us: int
    cur: I64
    cur_complete: B
    down: B
    template: dict[str, Any]

    def state(self, row: int) -> dict[str, Any]:
        """The engine's :meth:`DemandEngine.state` for one meter at the end of the span."""
        md = self.maxima[-1][row]
        avg = self.last_avg[row]
        return {
            **self.template,
            "subs": [int(x) for x in self.buf_energy[row]],
            "ok": [bool(x) for x in self.buf_ok[row]],
            "sub_start": self.sub_start_us,
            "cur": int(self.cur[row]),
            "cur_complete": bool(self.cur_complete[row]),
            "down": bool(self.down[row]),
            "max": None if md is None else [str(md[0]), md[1].isoformat(), md[2]],
            "last_avg": None if avg is None else str(avg),
        }


def _engine_items(engines: dict[str, list[_Engine]]) -> Iterator[tuple[str, _Engine]]:
    for q in QUANTITIES:
        for eng in engines[q]:
            yield eng.key, eng
