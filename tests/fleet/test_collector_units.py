"""The collector's pieces without a network: addresses, password files, P.01 parsing, the store's idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit.cli.app import main
from meterkit.client.auth import PasswordAuthenticator
from meterkit.collector.config import load_poll_config, parse_duration
from meterkit.collector.poll import parse_profile
from meterkit.collector.store import ProfileRecord, ProfileStore
from meterkit.collector.targets import parse_addresses, read_password_file
from meterkit.errors import ConfigError, DataError
from meterkit.iec62056_21.messages import DataSet, Value


def test_addresses_keep_their_width_and_mix_ranges_and_singles() -> None:
    assert parse_addresses("0098-0101,A7") == ["0098", "0099", "0100", "0101", "A7"]
    with pytest.raises(ConfigError, match="listed twice"):
        parse_addresses("1-3,2")
    with pytest.raises(ConfigError, match="needs numbers"):
        parse_addresses("A-B")


def test_password_file_most_specific_line_wins(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("default  # all others\n10-19 group\n15 single\n")
    creds = read_password_file(path)

    def password(serial: str) -> str:
        auth = creds.for_meter(serial)
        assert isinstance(auth, PasswordAuthenticator)
        return auth._password

    assert [password(s) for s in ("15", "16", "20")] == ["single", "group", "default"]
    path.write_text("a\nb\n")
    with pytest.raises(ConfigError, match=r"pw:2: a second default"):
        read_password_file(path)


def test_poll_config_file_resolves_paths_and_refuses_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text("secret\n")
    path = tmp_path / "poll.toml"
    path.write_text(
        '[poll]\nout = "data"\ninterval = "15m"\n[[endpoints]]\nport = "socket://127.0.0.1:2100"\n'
        'addresses = ["10000000-10000002", "10000009"]\npassword_file = "pw.txt"\n'
    )
    plan = load_poll_config(path)
    assert plan.out == tmp_path / "data" and plan.interval == timedelta(minutes=15) and not plan.once
    assert [t.address for t in plan.targets] == ["10000000", "10000001", "10000002", "10000009"]
    path.write_text(path.read_text().replace('interval = "15m"', 'interval = "15m"\ncolour = 1'))
    with pytest.raises(ConfigError, match=r"poll.toml: poll.colour: Extra inputs"):
        load_poll_config(path)
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration("soon")


def header(capture: int = 15) -> DataSet:
    return DataSet(address="P.01", values=tuple(Value(value=v) for v in ("2", str(capture), "4")))


def line(stamp: str, *energies: str, status: str = "00") -> DataSet:
    return DataSet(address="", values=tuple(Value(value=v) for v in (stamp, status, *energies)))


def test_profile_lines_become_utc_records_in_watt_hours() -> None:
    rows = parse_profile(
        [header(), line("2611011015", "000001.234", "000000.000", "000000.500", "000000.001", status="01")],
        ZoneInfo("Europe/Berlin"),
        "M1",
    )
    assert rows == [
        ProfileRecord(
            end=datetime(2026, 11, 1, 9, 15, tzinfo=UTC),
            status=1,
            a_plus_wh=1234,
            a_minus_wh=0,
            r_plus_varh=500,
            r_minus_varh=1,
            capture_s=900,
        )
    ]
    with pytest.raises(DataError, match=r"meter M1, P\.01 line 1"):
        parse_profile([header(), line("2611011015", "x", "0", "0", "0")], ZoneInfo("UTC"), "M1")
    with pytest.raises(DataError, match=r"no P\.01 header"):
        parse_profile([line("2611011015", "1", "0", "0", "0")], ZoneInfo("UTC"), "M1")


def record(end: datetime, wh: int = 1000) -> ProfileRecord:
    return ProfileRecord(end=end, status=0, a_plus_wh=wh, a_minus_wh=0, r_plus_varh=0, r_minus_varh=0, capture_s=900)


@given(cuts=st.lists(st.integers(0, 200), min_size=1, max_size=6))
def test_the_store_keeps_every_interval_once_however_the_reads_overlap(
    cuts: list[int], tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = ProfileStore(tmp_path_factory.mktemp("store"))
    start = datetime(2026, 11, 29, tzinfo=UTC)  # across the month end
    ends = [start + timedelta(minutes=15 * (i + 1)) for i in range(200)]
    for cut in cuts:  # each poll sees everything up to its cut, from the start (overlapping) or from the last stored
        store.append("M1", [record(e) for e in ends[:cut]])
    top = max(cuts)
    assert store.stored_rows("M1") == top
    assert store.last_stored("M1") == (ends[top - 1] if top else None)
    months = {p.parent.name for p in (store.root / "meter=M1").glob("month=*/part-*.parquet")}
    assert months <= {"month=2026-11", "month=2026-12"}


def test_a_binary_password_file_is_one_config_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pw.bin"
    path.write_bytes(b"secret\n\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match=r"pw.bin: not a password file \(not UTF-8 text: byte 7\)"):
        read_password_file(path)
    args = ["poll", "socket://127.0.0.1:1", "--addresses", "1", "--password-file", str(path), "--out", str(tmp_path)]
    args.append("--once")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err == f"meterkit poll: error: {path}: not a password file (not UTF-8 text: byte 7)\n"
