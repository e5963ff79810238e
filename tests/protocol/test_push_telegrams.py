"""Pushed telegrams of several manufacturers (mode D, DSMR P1 with CRC16), decoded by the listener."""

from __future__ import annotations

import pytest
from tests.fixtures.push_telegrams import ALL, DSMR, EASYMETER_Q3D, ISKRA_DSMR50, KAIFA_DSMR42, Push

from meterkit.client.listener import BrokenTelegram, Telegram, listen
from meterkit.clock import SimulatedClock
from meterkit.errors import TransportError
from meterkit.iec62056_21.bcc import crc16
from meterkit.iec62056_21.decoder import Decoder
from meterkit.iec62056_21.events import SetLine


class Feed:
    """A transport that hands over prepared chunks, then reports the line closed."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.lines: list[SetLine] = []

    def write(self, data: bytes) -> None:
        raise AssertionError("a listener never sends")

    def read(self, timeout: float) -> bytes:
        if not self.chunks:
            raise TransportError("closed")
        return self.chunks.pop(0)

    def set_line(self, line: SetLine) -> None:
        self.lines.append(line)

    def close(self) -> None:
        return None


@pytest.mark.parametrize("push", DSMR, ids=lambda p: p.name)
def test_dsmr_telegrams_have_a_matching_crc16(push: Push) -> None:
    body = push.data[: push.data.index(b"!") + 1]
    assert f"{crc16(body):04X}" == push.crc


@pytest.mark.parametrize("push", ALL, ids=lambda p: p.name)
def test_each_manufacturers_push_is_one_telegram_with_every_data_set(push: Push) -> None:
    (item,) = [i for i in listen(Feed(push.data), clock=SimulatedClock()) if isinstance(i, Telegram)]
    assert len(item.datasets) == push.datasets
    assert item.crc_ok is (None if push.crc is None else True)


def test_dsmr_values_keep_units_history_groups_and_empty_values() -> None:
    (item,) = listen(Feed(KAIFA_DSMR42.data), clock=SimulatedClock())
    assert isinstance(item, Telegram)
    assert (item.identification.manufacturer, item.identification.ident) == ("KFM", "KAIFA-METER")
    by = {ds.address: ds for ds in item.datasets}
    assert (by["1-0:1.8.1"].value, by["1-0:1.8.1"].unit) == ("001581.123", "kWh")
    assert [v.value for v in by["1-0:99.97.0"].values][:3] == ["3", "0-0:96.7.19", "000104180320W"]
    assert by["0-0:96.13.0"].value == ""
    assert [(v.value, v.unit) for v in by["0-1:24.2.1"].values] == [("161129200000W", ""), ("00981.443", "m3")]


def test_a_telegram_with_a_wrong_crc_is_reported_with_its_bytes_and_listening_goes_on() -> None:
    damaged = KAIFA_DSMR42.data.replace(b"001581.123", b"001581.124")
    items = list(listen(Feed(damaged, ISKRA_DSMR50.data), clock=SimulatedClock()))
    assert isinstance(items[0], BrokenTelegram)
    assert items[0].reason.startswith("CRC mismatch: the telegram says 6796, its bytes give ")
    assert items[0].data == damaged
    assert isinstance(items[1], Telegram) and items[1].identification.ident == "MT382-1000"
    assert items[1].identification.enhanced == ("2",)


def test_gateway_lines_after_the_bang_are_reported_as_noise_before_the_next_telegram() -> None:
    items = list(listen(Feed(EASYMETER_Q3D.data * 2), clock=SimulatedClock()))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Telegram", "BrokenTelegram", "Telegram", "BrokenTelegram"]  # the last at the end of the line
    noise = items[1]
    assert isinstance(noise, BrokenTelegram) and noise.reason == "skipped 47 bytes of noise"
    assert noise.data.startswith(b"  25803103\r\n\x7f")  # 0xFF filler read with its parity bit masked


def test_a_telegram_cut_short_by_the_end_of_the_line_is_reported() -> None:
    items = list(listen(Feed(ISKRA_DSMR50.data[:300]), clock=SimulatedClock()))
    (item,) = items
    assert isinstance(item, BrokenTelegram) and "unfinished" in item.reason


def test_count_stops_after_n_telegrams_and_the_line_is_set_to_the_asked_framing() -> None:
    feed = Feed(ISKRA_DSMR50.data, ISKRA_DSMR50.data, ISKRA_DSMR50.data)
    items = list(listen(feed, baud=115200, framing="8N1", count=2, clock=SimulatedClock()))
    assert len(items) == 2 and len(feed.chunks) == 1
    assert feed.lines == [SetLine(baud=115200, bytesize=8, parity="N")]


@pytest.mark.parametrize("push", ALL, ids=lambda p: p.name)
def test_pushes_decode_the_same_byte_by_byte(push: Push) -> None:
    whole = Decoder("client")
    whole.expect_mode_d = True
    single = Decoder("client")
    single.expect_mode_d = True
    one = whole.feed(push.data)
    parts = [item for b in push.data for item in single.feed(bytes([b]))]
    assert [repr(i) for i in parts] == [repr(i) for i in one]
