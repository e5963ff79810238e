"""A point-to-point target (no device address): the meter is named by the serial it reports (``0.0.0``, else
``C.1.0``), remembered in the output folder, and by its endpoint while that is unknown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from meterkit.collector.poll import Collector, MeterResult, PollSettings, Summary
from meterkit.collector.store import ProfileStore, usable_serial
from meterkit.collector.targets import Credentials, Target
from meterkit.errors import DataError, DeviceError
from meterkit.iec62056_21.messages import DataSet, IdentificationMessage, Value

ENDPOINT = "socket://127.0.0.1:1"


class AnsweringLink:
    """Answers R1 reads from a table; an address it lacks gets the meter's error answer."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def read(self, address: str) -> tuple[DataSet, ...]:
        self.asked.append(address)
        if address not in self.table:
            raise DeviceError(f"the meter refused R1 {address}: ER01")
        return (DataSet(address=address, values=(Value(value=self.table[address]),)),)


def serial_of(tmp_path: Path, table: dict[str, str]) -> tuple[str, list[str], Collector]:
    collector = Collector([Target(ENDPOINT, "", Credentials())], ProfileStore(tmp_path))
    link = AnsweringLink(table)
    serial = asyncio.run(collector._serial(link, collector.targets[0]))  # type: ignore[arg-type]
    return serial, link.asked, collector


def test_the_serial_comes_from_0_0_0_and_is_remembered_in_the_folder(tmp_path: Path) -> None:
    serial, asked, collector = serial_of(tmp_path, {"0.0.0": "31415926", "C.1.0": "other"})
    assert (serial, asked) == ("31415926", ["0.0.0"])
    assert collector.serials == {ENDPOINT: "31415926"}
    assert ProfileStore(tmp_path).known_serials() == {ENDPOINT: "31415926"}


def test_a_meter_without_0_0_0_is_named_by_c_1_0(tmp_path: Path) -> None:
    serial, asked, _ = serial_of(tmp_path, {"C.1.0": "AB-1234"})
    assert (serial, asked) == ("AB-1234", ["0.0.0", "C.1.0"])


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, f"the meter on {ENDPOINT} reports no serial (0.0.0, C.1.0): give --addresses"),
        ({"0.0.0": "12 34"}, f"the meter on {ENDPOINT} reports 0.0.0(12 34), not a usable serial"),
        ({"0.0.0": ""}, "reports 0.0.0(), not a usable serial"),
    ],
)
def test_a_meter_without_a_usable_serial_is_one_error(tmp_path: Path, table: dict[str, str], message: str) -> None:
    with pytest.raises(DataError) as caught:
        serial_of(tmp_path, table)
    assert message in str(caught.value)
    assert ProfileStore(tmp_path).known_serials() == {}


def test_a_broken_serials_file_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "_serials.json").write_text('["not", "an", "object"]')
    with pytest.raises(DataError, match="expected an object of endpoint: serial"):
        ProfileStore(tmp_path).known_serials()


class Told:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def polled(
        self,
        target: str,
        meter: str,
        datasets: Sequence[DataSet],
        identification: IdentificationMessage | None,
        at: datetime,
        duration_s: float,
    ) -> None:
        self.calls.append(("polled", target, meter))

    def failed(self, target: str, meter: str, at: datetime, duration_s: float) -> None:
        self.calls.append(("failed", target, meter))


@pytest.mark.parametrize("known", [False, True])
def test_an_unreachable_point_to_point_meter_is_named_by_its_last_serial_or_its_endpoint(
    tmp_path: Path, known: bool
) -> None:
    store = ProfileStore(tmp_path)
    if known:
        store.remember_serial(ENDPOINT, "31415926")
    told = Told()
    settings = PollSettings(timeout_s=5, retries=0)
    collector = Collector([Target(ENDPOINT, "", Credentials())], store, settings, observer=told)
    summary = asyncio.run(collector.run_once())
    name = "31415926" if known else ENDPOINT
    assert [(r.address, r.ok) for r in summary.results] == [(name, False)]
    assert told.calls == [("failed", ENDPOINT, name)]
    first = summary.lines()[1]
    assert first.startswith(f"failed {'31415926' if known else 'the meter'} on {ENDPOINT} after 1 attempt(s): ")


def test_summary_lines_of_addressed_meters_are_unchanged() -> None:
    summary = Summary([MeterResult("10000001", ENDPOINT, False, 0, 3, "no answer")])
    assert summary.lines()[1] == f"failed 10000001 on {ENDPOINT} after 3 attempt(s): no answer"


def test_endpoints_remembered_from_many_threads_at_once_are_all_kept(tmp_path: Path) -> None:
    """The collector remembers serials from worker threads, one per endpoint polled in parallel."""
    store = ProfileStore(tmp_path)
    threads = 24
    start = threading.Barrier(threads)
    errors: list[Exception] = []

    def remember(n: int) -> None:
        start.wait()
        for round_ in range(5):
            try:
                store.remember_serial(f"socket://10.0.0.{n}:{round_}", f"{n:04d}{round_}")
            except Exception as exc:  # reported below, with every thread's
                errors.append(exc)

    workers = [threading.Thread(target=remember, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    expected = {f"socket://10.0.0.{n}:{r}": f"{n:04d}{r}" for n in range(threads) for r in range(5)}
    assert ProfileStore(tmp_path).known_serials() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_serials.json"]  # no file left aside


class CountingStore(ProfileStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads = 0

    def known_serials(self) -> dict[str, str]:
        self.reads += 1
        return super().known_serials()


@pytest.mark.parametrize("given", [False, True])
def test_the_folders_serials_are_read_once_whether_the_caller_gave_them_or_not(tmp_path: Path, given: bool) -> None:
    store = CountingStore(tmp_path)
    store.remember_serial(ENDPOINT, "31415926")
    serials = store.known_serials() if given else None
    settings = PollSettings(timeout_s=5, retries=0)
    collector = Collector([Target(ENDPOINT, "", Credentials())], store, settings, serials=serials)
    for _ in range(2):
        summary = asyncio.run(collector.run_once())
        assert [(r.address, r.ok) for r in summary.results] == [("31415926", False)]  # unreachable, named by its serial
    assert store.reads == 2  # remember_serial's, then the caller's or the first cycle's


@pytest.mark.parametrize(
    ("name", "usable"),
    [("31415926", True), ("AB-12_3.4", True), ("1" * 32, True), ("1" * 33, False), ("", False), ("12 34", False)],
)
def test_the_collector_and_its_folder_agree_on_which_serials_are_usable(
    tmp_path: Path, name: str, usable: bool
) -> None:
    assert usable_serial(name) is usable
    store = ProfileStore(tmp_path)
    if usable:
        assert serial_of(tmp_path, {"0.0.0": name})[0] == name
        assert store.last_stored(name) is None
        return
    with pytest.raises(DataError, match="not a usable serial"):
        serial_of(tmp_path, {"0.0.0": name})
    with pytest.raises(DataError, match="not usable as a folder name"):
        store.last_stored(name)
