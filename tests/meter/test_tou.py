"""The time-of-use calendar: switching at the boundaries (incl. DST), seasons, special days and validation."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from meterkit.errors import ConfigError
from meterkit.meter.tou import TouCalendar, port_read, with_port_write

BERLIN = ZoneInfo("Europe/Berlin")


def base() -> dict[str, Any]:
    return {
        "day_profiles": {
            "workday": [["00:00", 2], ["07:00", 1], ["22:00", 2]],
            "weekend": [["00:00", 2]],
            "holiday": [["00:00", 3]],
            "summer": [["00:00", 4], ["12:00", 5]],
            "night": [["00:00", 2], ["02:30", 6], ["06:00", 2]],
        },
        "week_profiles": {
            "standard": {d: "workday" for d in ("mon", "tue", "wed", "thu", "fri")}
            | {"sat": "weekend", "sun": "weekend"},
            "summer": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "summer"),
        },
        "seasons": [{"start": "10-01", "week": "standard"}, {"start": "06-01", "week": "summer"}],
        "special_days": {"12-25": "holiday", "2026-12-24": "holiday"},
    }


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def test_default_calendar_switches_at_07_00_and_22_00_on_weekdays_only() -> None:
    cal = TouCalendar.default()
    monday = datetime(2026, 11, 2, tzinfo=UTC)
    assert cal.tariff_at(monday + timedelta(hours=6, minutes=59, seconds=59), UTC) == 2
    assert cal.tariff_at(monday + timedelta(hours=7), UTC) == 1
    assert cal.tariff_at(monday + timedelta(hours=21, minutes=59, seconds=59), UTC) == 1
    assert cal.tariff_at(monday + timedelta(hours=22), UTC) == 2
    assert cal.tariff_at(monday + timedelta(days=5, hours=12), UTC) == 2  # Saturday noon
    assert cal.tariff_at(monday + timedelta(days=6, hours=12), UTC) == 2  # Sunday noon


def test_switch_times_are_local_wall_clock_times() -> None:
    cal = TouCalendar.default()
    # 07:00 in Berlin is 06:00 UTC in winter and 05:00 UTC in summer
    assert cal.tariff_at(datetime(2026, 11, 2, 5, 59, tzinfo=UTC), BERLIN) == 2
    assert cal.tariff_at(datetime(2026, 11, 2, 6, 0, tzinfo=UTC), BERLIN) == 1
    assert cal.tariff_at(datetime(2026, 7, 6, 4, 59, tzinfo=UTC), BERLIN) == 2
    assert cal.tariff_at(datetime(2026, 7, 6, 5, 0, tzinfo=UTC), BERLIN) == 1
    # a fixed-offset timezone works too
    assert cal.tariff_at(datetime(2026, 11, 2, 2, 0, tzinfo=UTC), timezone(timedelta(hours=5))) == 1


def test_switch_inside_the_skipped_hour_takes_effect_when_the_clocks_go_forward() -> None:
    cal = TouCalendar.from_dict(base() | {"seasons": [{"start": "01-01", "week": "n"}]} | {
        "week_profiles": {"n": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "night")}
    })  # fmt: skip
    # 2026-03-29: 02:00 CET -> 03:00 CEST (01:00 UTC); the 02:30 switch has no instant of its own
    assert cal.tariff_at(datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), BERLIN) == 2  # 01:59:59 CET
    assert cal.tariff_at(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), BERLIN) == 6  # 03:00 CEST
    assert cal.tariff_at(datetime(2026, 3, 29, 3, 59, tzinfo=UTC), BERLIN) == 6  # 05:59 CEST
    assert cal.tariff_at(datetime(2026, 3, 29, 4, 0, tzinfo=UTC), BERLIN) == 2  # 06:00 CEST


def test_repeated_hour_is_judged_by_wall_clock_time_both_times_when_the_clocks_go_back() -> None:
    cal = TouCalendar.from_dict(base() | {"seasons": [{"start": "01-01", "week": "n"}]} | {
        "week_profiles": {"n": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "night")}
    })  # fmt: skip
    # 2026-10-25: 03:00 CEST -> 02:00 CET (01:00 UTC); 02:00-03:00 happens twice
    seen = [
        cal.tariff_at(datetime(2026, 10, 25, 0, 0, tzinfo=UTC) + timedelta(minutes=m), BERLIN)
        for m in range(0, 120, 15)
    ]
    # 02:00 02:15 (CEST) -> 2 2, 02:30 02:45 -> 6 6, 02:00 02:15 (CET) -> 2 2, 02:30 02:45 -> 6 6
    assert seen == [2, 2, 6, 6, 2, 2, 6, 6]


def test_seasons_wrap_around_the_new_year_and_special_days_take_precedence() -> None:
    cal = TouCalendar.from_dict(base())
    assert cal.tariff_at(local(2026, 1, 5, 12), BERLIN) == 1  # Monday in January: the winter season from 10-01
    assert cal.tariff_at(local(2026, 5, 31, 23, 59), BERLIN) == 2  # Sunday before summer starts
    assert cal.tariff_at(local(2026, 6, 1, 0, 0), BERLIN) == 4
    assert cal.tariff_at(local(2026, 6, 1, 12, 0), BERLIN) == 5
    assert cal.tariff_at(local(2026, 9, 30, 23, 59), BERLIN) == 5
    assert cal.tariff_at(local(2026, 10, 1, 12, 0), BERLIN) == 1  # Thursday, winter again
    assert cal.tariff_at(local(2026, 12, 24, 12), BERLIN) == 3  # one-off special day
    assert cal.tariff_at(local(2027, 12, 24, 12), BERLIN) == 1  # not repeated: a Friday, workday
    assert cal.tariff_at(local(2030, 12, 25, 12), BERLIN) == 3  # yearly special day


def test_plain_dict_round_trip() -> None:
    cal = TouCalendar.from_dict(base())
    again = TouCalendar.from_dict(cal.to_dict())
    assert again == cal and again.to_dict() == cal.to_dict()
    assert cal.to_dict()["seasons"] == [{"start": "06-01", "week": "summer"}, {"start": "10-01", "week": "standard"}]


def _broken(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    d = copy.deepcopy(base())
    target: Any = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("day_profiles", "workday"),
            [["00:30", 2], ["07:00", 1]],
            "tariffs.day_profiles.workday: the first switch must be at 00:00 (no gap at the start of the day)",
        ),
        (
            ("day_profiles", "workday"),
            [["00:00", 2], ["07:00", 1], ["07:00", 3]],
            "tariffs.day_profiles.workday: switch time 07:00 appears twice (overlap)",
        ),
        (
            ("day_profiles", "workday"),
            [["00:00", 2], ["22:00", 2], ["07:00", 1]],
            "tariffs.day_profiles.workday: switch times must be sorted (07:00 after 22:00)",
        ),
        (("day_profiles", "workday"), [["00:00", 9]], "tariffs.day_profiles.workday: tariff must be 1-8, got 9"),
        (("day_profiles", "workday"), [["00:00", 0]], "tariffs.day_profiles.workday: tariff must be 1-8, got 0"),
        (("day_profiles", "workday"), [["7:00", 1]], "tariffs.day_profiles.workday: '7:00' is not a time HH:MM"),
        (("day_profiles", "workday"), [], "tariffs.day_profiles.workday: a day profile needs at least one switch time"),
        (
            ("week_profiles", "standard", "sat"),
            "party",
            "tariffs.week_profiles.standard.sat: unknown day profile 'party'",
        ),
        (("seasons", 1, "week"), "autumn", "tariffs.seasons[1]: unknown week profile 'autumn'"),
        (("seasons", 1, "start"), "13-01", "tariffs.seasons[1]: start must be 'MM-DD'"),
        (("special_days", "12-26"), "party", "tariffs.special_days.12-26: unknown day profile 'party'"),
        (("special_days", "12/26"), "holiday", "tariffs.special_days: '12/26' is not MM-DD or YYYY-MM-DD"),
    ],
)
def test_invalid_calendars_are_refused_with_exact_messages(
    path: tuple[str | int, ...], value: Any, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        TouCalendar.from_dict(_broken(path, value))
    assert str(info.value) == message


def test_structural_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="at least one season"):
        TouCalendar.from_dict(base() | {"seasons": []})
    with pytest.raises(ConfigError, match="two seasons start on the same day"):
        TouCalendar.from_dict(base() | {"seasons": [{"start": "01-01", "week": "summer"}] * 2})
    with pytest.raises(ConfigError, match="unknown key"):
        TouCalendar.from_dict(base() | {"holidays": {}})
    with pytest.raises(
        ConfigError, match=r"needs exactly the days mon, tue, wed, thu, fri, sat, sun \(missing \['tue'"
    ):
        TouCalendar.from_dict(base() | {"week_profiles": {"standard": ["mon"]}})
    with pytest.raises(ConfigError, match=r"^tariffs: malformed calendar"):
        TouCalendar.from_dict(base() | {"day_profiles": {"workday": 5}})
    with pytest.raises(ConfigError, match="timezone-aware"):
        TouCalendar.default().tariff_at(datetime(2026, 1, 1), BERLIN)


def test_port_write_validates_the_whole_calendar_and_reads_back() -> None:
    cal = TouCalendar.default()
    changed = with_port_write(cal, "TOU.D.workday", "00:00=2;06:00=1;23:00=2")
    assert port_read(changed, "TOU.D.workday") == "00:00=2;06:00=1;23:00=2"
    assert changed.tariff_at(datetime(2026, 11, 2, 6, 30, tzinfo=UTC), UTC) == 1
    with pytest.raises(ConfigError, match="switch times must be sorted"):
        with_port_write(cal, "TOU.D.workday", "00:00=2;23:00=1;06:00=2")
    assert port_read(cal, "TOU.D.workday") == "00:00=2;07:00=1;22:00=2"  # the original is untouched
