"""Time-of-use calendar: seasons -> week profiles -> day profiles (switch times -> tariff 1-8), special days.

Plain-dict form (TOML and the optical port use it)::

    {"day_profiles": {"workday": [["00:00", 2], ["07:00", 1], ["22:00", 2]], "offpeak": [["00:00", 2]]},
     "week_profiles": {"standard": {"mon": "workday", ..., "sun": "offpeak"}},
     "seasons": [{"start": "01-01", "week": "standard"}],
     "special_days": {"12-25": "offpeak", "2026-12-31": "offpeak"}}

Validation refuses gaps (each day profile starts at 00:00), overlaps (a switch time given twice, a weekday, season
start or special day given twice in a port write), unsorted switch times, unknown references and tariffs outside 1-8,
with the offending key in the message.  Special days take
precedence over seasons: a one-off date (``YYYY-MM-DD``) over a yearly one (``MM-DD``).  A season runs from its start
day until the next season's start; the last season of the year continues into January until the first one starts.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import ConfigError

__all__ = ["TouCalendar"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _time(text: object, where: str) -> time:
    try:
        if not re.fullmatch(r"\d\d:\d\d", str(text)):
            raise ValueError(text)
        return time.fromisoformat(str(text))
    except ValueError as exc:
        raise ConfigError(f"{where}: {text!r} is not a time HH:MM") from exc


@dataclass(frozen=True)
class TouCalendar:
    day_profiles: dict[str, tuple[tuple[time, int], ...]]
    week_profiles: dict[str, dict[str, str]]
    seasons: tuple[tuple[tuple[int, int], str], ...]  # ((month, day), week profile), sorted
    special_days: dict[str, str]  # "MM-DD" (yearly) or "YYYY-MM-DD" (once) -> day profile

    @classmethod
    def default(cls) -> TouCalendar:
        """Two rates: T1 weekdays 07:00-22:00, T2 otherwise."""
        return cls.from_dict(
            {
                "day_profiles": {"workday": [["00:00", 2], ["07:00", 1], ["22:00", 2]], "offpeak": [["00:00", 2]]},
                "week_profiles": {"standard": {d: ("workday" if d not in ("sat", "sun") else "offpeak") for d in DAYS}},
                "seasons": [{"start": "01-01", "week": "standard"}],
                "special_days": {},
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TouCalendar:
        """Build and validate a calendar from its plain-dict form; ConfigError names the offending key."""
        if not isinstance(d, dict):
            raise ConfigError(f"tariffs: expected a table, got {type(d).__name__}")
        try:
            return cls._from_dict(d)
        except (TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(f"tariffs: malformed calendar ({exc})") from exc

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> TouCalendar:
        unknown = set(d) - {"day_profiles", "week_profiles", "seasons", "special_days"}
        if unknown:
            raise ConfigError(f"tariffs: unknown key(s) {', '.join(sorted(unknown))}")
        days: dict[str, tuple[tuple[time, int], ...]] = {}
        for name, switches in dict(d.get("day_profiles", {})).items():
            where = f"tariffs.day_profiles.{name}"
            if not switches:
                raise ConfigError(f"{where}: a day profile needs at least one switch time")
            parsed = []
            for item in switches:
                if not isinstance(item, list | tuple) or len(item) != 2:
                    raise ConfigError(f'{where}: each switch is ["HH:MM", tariff], got {item!r}')
                t = _time(item[0], where)
                tariff = item[1]
                if not isinstance(tariff, int) or isinstance(tariff, bool) or not 1 <= tariff <= 8:
                    raise ConfigError(f"{where}: tariff must be 1-8, got {tariff!r}")
                parsed.append((t, tariff))
            if parsed[0][0] != time(0, 0):
                raise ConfigError(f"{where}: the first switch must be at 00:00 (no gap at the start of the day)")
            for (a, _), (b, _) in itertools.pairwise(parsed):
                if b == a:
                    raise ConfigError(f"{where}: switch time {a.isoformat('minutes')} appears twice (overlap)")
                if b < a:
                    raise ConfigError(
                        f"{where}: switch times must be sorted ({b.isoformat('minutes')} after {a.isoformat('minutes')})"
                    )
            days[name] = tuple(parsed)
        weeks: dict[str, dict[str, str]] = {}
        for name, mapping in dict(d.get("week_profiles", {})).items():
            where = f"tariffs.week_profiles.{name}"
            missing = [x for x in DAYS if x not in mapping]
            extra = [x for x in mapping if x not in DAYS]
            if missing or extra:
                raise ConfigError(
                    f"{where}: needs exactly the days {', '.join(DAYS)} (missing {missing}, unknown {extra})"
                )
            for day, profile in mapping.items():
                if profile not in days:
                    raise ConfigError(f"{where}.{day}: unknown day profile {profile!r}")
            weeks[name] = dict(mapping)
        seasons = []
        for i, season in enumerate(d.get("seasons", [])):
            where = f"tariffs.seasons[{i}]"
            try:
                start = str(season["start"])
                if not re.fullmatch(r"\d\d-\d\d", start):
                    raise ValueError(start)
                month, day = int(start[:2]), int(start[3:])
                date(2024, month, day)
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{where}: start must be 'MM-DD'") from exc
            if season.get("week") not in weeks:
                raise ConfigError(f"{where}: unknown week profile {season.get('week')!r}")
            seasons.append(((month, day), str(season["week"])))
        if not seasons:
            raise ConfigError("tariffs: at least one season is needed")
        seasons.sort()
        if len({s[0] for s in seasons}) != len(seasons):
            raise ConfigError("tariffs.seasons: two seasons start on the same day")
        specials = {}
        for key, profile in dict(d.get("special_days", {})).items():
            try:
                if re.fullmatch(r"\d\d-\d\d", str(key)):
                    date(2024, int(key[:2]), int(key[3:]))
                elif re.fullmatch(r"\d{4}-\d\d-\d\d", str(key)):
                    date.fromisoformat(key)
                else:
                    raise ValueError(key)
            except ValueError as exc:
                raise ConfigError(f"tariffs.special_days: {key!r} is not MM-DD or YYYY-MM-DD") from exc
            if profile not in days:
                raise ConfigError(f"tariffs.special_days.{key}: unknown day profile {profile!r}")
            specials[key] = str(profile)
        return cls(day_profiles=days, week_profiles=weeks, seasons=tuple(seasons), special_days=specials)

    def to_dict(self) -> dict[str, Any]:
        return {
            "day_profiles": {n: [[t.isoformat("minutes"), tr] for t, tr in sw] for n, sw in self.day_profiles.items()},
            "week_profiles": {n: dict(m) for n, m in self.week_profiles.items()},
            "seasons": [{"start": f"{m:02d}-{d:02d}", "week": w} for (m, d), w in self.seasons],
            "special_days": dict(self.special_days),
        }

    def tariff_at(self, when: datetime, tz: ZoneInfo | timezone) -> int:
        """The tariff active at ``when`` (an aware instant), judged by the local wall-clock time in ``tz``.

        Switch times are local wall-clock times, so they follow daylight saving time: on the day the clocks go
        forward a switch inside the skipped hour takes effect at the first instant after it; on the day they go back
        the repeated hour is judged by its wall-clock time both times.
        """
        if when.tzinfo is None:
            raise ConfigError("tariff_at needs a timezone-aware time")
        local = when.astimezone(tz)
        key_once, key_yearly = local.date().isoformat(), local.strftime("%m-%d")
        profile_name = self.special_days.get(key_once) or self.special_days.get(key_yearly)
        if profile_name is None:
            week = self.seasons[-1][1]  # a season that started last year is still running in January
            for (month, day), name in self.seasons:
                if (local.month, local.day) >= (month, day):
                    week = name
            profile_name = self.week_profiles[week][DAYS[local.weekday()]]
        tariff = 1
        for t, tr in self.day_profiles[profile_name]:
            if local.time() >= t:
                tariff = tr
        return tariff


# --- the optical-port text forms (values cannot hold parentheses, '*', '/' or '!') -------------------------------


def day_text(switches: tuple[tuple[time, int], ...]) -> str:
    """``00:00=2;07:00=1;22:00=2``"""
    return ";".join(f"{t.isoformat('minutes')}={tariff}" for t, tariff in switches)


def parse_pairs(text: str, where: str, *, unique: bool = False) -> list[tuple[str, str]]:
    """``key=value;key=value`` pairs; with ``unique`` a key given twice is refused (nothing is silently replaced)."""
    pairs: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for part in filter(None, text.split(";")):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{where}: expected key=value pairs separated by ';', got {part!r}")
        key, value = key.strip(), value.strip()
        if unique and key in seen:
            raise ConfigError(f"{where}: {key} is given twice ({key}={seen[key]} and {key}={value}); give each once")
        seen[key] = value
        pairs.append((key, value))
    return pairs


def with_port_write(calendar: TouCalendar, address: str, value: str) -> TouCalendar:
    """The calendar after writing ``value`` to a TOU address; validated as a whole (ConfigError if not valid)."""
    d = calendar.to_dict()
    if address.startswith("TOU.D."):
        name = address.removeprefix("TOU.D.")
        pairs = parse_pairs(value, address)
        try:
            d["day_profiles"][name] = [[t, int(tr)] for t, tr in pairs]
        except ValueError as exc:
            raise ConfigError(f"{address}: tariffs must be numbers 1-8") from exc
    elif address.startswith("TOU.W."):
        d["week_profiles"][address.removeprefix("TOU.W.")] = dict(parse_pairs(value, address, unique=True))
    elif address == "TOU.SEASONS":
        d["seasons"] = [{"start": k, "week": v} for k, v in parse_pairs(value, address, unique=True)]
    elif address == "TOU.SPECIAL":
        d["special_days"] = dict(parse_pairs(value, address, unique=True))
    else:
        raise ConfigError(f"{address}: not a tariff address")
    return TouCalendar.from_dict(d)


def port_read(calendar: TouCalendar, address: str) -> str | None:
    if address.startswith("TOU.D."):
        day = calendar.day_profiles.get(address.removeprefix("TOU.D."))
        return None if day is None else day_text(day)
    if address.startswith("TOU.W."):
        week = calendar.week_profiles.get(address.removeprefix("TOU.W."))
        return None if week is None else ";".join(f"{k}={v}" for k, v in week.items())
    if address == "TOU.SEASONS":
        return ";".join(f"{m:02d}-{d:02d}={w}" for (m, d), w in calendar.seasons)
    if address == "TOU.SPECIAL":
        return ";".join(f"{k}={v}" for k, v in calendar.special_days.items())
    if address == "TOU.NAMES":
        return ";".join([*(f"day={n}" for n in calendar.day_profiles), *(f"week={n}" for n in calendar.week_profiles)])
    return None
