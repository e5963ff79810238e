"""The decoder's bounds: chunking never changes what comes out (long garbage lines included), floods of noise,
never-ended blocks and parity-bit bytes keep its buffer bounded, and whatever it discards it reports."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from meterkit.errors import RemoteProtocolError
from meterkit.iec62056_21.decoder import DecodedItem, Decoder
from meterkit.iec62056_21.messages import (
    CommandMessage,
    DataSet,
    IdentificationMessage,
    ModeDMessage,
    RequestMessage,
)

MIB = 1 << 20
R1 = CommandMessage(command="R", command_type="1", data_set=DataSet.single("1.8.0"))


def _shape(items: list[DecodedItem]) -> list[tuple[str, str]]:
    """Items in a comparable form: errors by their text (exceptions do not compare by value)."""
    return [(type(i).__name__, str(i) if isinstance(i, RemoteProtocolError) else repr(i)) for i in items]


def _byte_at_a_time(decoder: Decoder, stream: bytes) -> list[DecodedItem]:
    out: list[DecodedItem] = []
    for b in stream:
        out.extend(decoder.feed(bytes([b])))
    return out


def _skipped(items: list[DecodedItem]) -> int:
    total = 0
    for item in items:
        m = re.match(r"skipped (\d+) bytes of noise", str(item))
        if m:
            total += int(m.group(1))
    return total


garbage = st.binary(max_size=400).map(lambda b: bytes(c for c in b if c != 0x0A))  # a line that never ends
embedded = st.sampled_from([R1.to_bytes(), RequestMessage().to_bytes(), b"\x15", b"\x01B0\x03q"])


@given(st.lists(st.tuples(garbage, embedded), min_size=1, max_size=4), st.sampled_from(["meter", "client"]))
def test_long_garbage_lines_decode_the_same_byte_by_byte_and_in_one_chunk(
    parts: list[tuple[bytes, bytes]], role: str
) -> None:
    stream = b"".join(b"/" + g + m for g, m in parts)
    whole = Decoder(role).feed(stream)  # type: ignore[arg-type]
    single = _byte_at_a_time(Decoder(role), stream)  # type: ignore[arg-type]
    assert _shape(single) == _shape(whole)


@given(st.binary(max_size=700), st.sampled_from(["meter", "client"]), st.booleans(), st.booleans())
def test_arbitrary_bytes_decode_the_same_byte_by_byte_and_in_one_chunk(
    data: bytes, role: str, ack: bool, mode_d: bool
) -> None:
    one, two = Decoder(role, max_message=256), Decoder(role, max_message=256)  # type: ignore[arg-type]
    one.expect_option_ack = two.expect_option_ack = ack
    one.expect_mode_d = two.expect_mode_d = mode_d
    whole = one.feed(data) + one.feed(b"")
    single = _byte_at_a_time(two, data) + two.feed(b"")
    assert _shape(single) == _shape(whole)


def test_a_command_after_a_slash_line_longer_than_256_bytes_is_decoded_in_one_chunk_too() -> None:
    stream = b"/" + b"x" * 300 + R1.to_bytes() + b"\r\n"
    whole = Decoder("meter").feed(stream)
    assert R1 in whole
    assert _shape(_byte_at_a_time(Decoder("meter"), stream)) == _shape(whole)
    assert _skipped(whole) == 301  # the '/' and the garbage after it are reported as noise


def test_a_flood_of_100_mib_of_noise_keeps_the_buffer_empty_and_is_reported_in_full() -> None:
    decoder = Decoder("meter")
    chunk = bytes(range(0x30, 0x7F)) * (65536 // 79)  # printable, no start character
    fed = peak = 0
    items: list[DecodedItem] = []
    while fed < 100 * MIB:
        items.extend(decoder.feed(chunk))
        fed += len(chunk)
        peak = max(peak, decoder.buffered)
    items.extend(decoder.feed(b""))
    assert peak == 0
    assert _skipped(items) == fed  # every discarded byte is accounted for
    assert all(len(i.data) <= 64 for i in items if isinstance(i, RemoteProtocolError))
    assert len(items) <= fed // decoder.noise_report_every + 1


def test_a_never_ended_command_block_is_dropped_at_the_limit_and_the_rest_reported_as_noise() -> None:
    decoder = Decoder("meter")
    items = decoder.feed(b"\x01W1\x02(")
    peak = 0
    fed = 5
    while fed < 100 * MIB:
        items.extend(decoder.feed(b"A" * 65536))
        fed += 65536
        peak = max(peak, decoder.buffered)
    assert peak <= decoder.max_message == 4096
    assert "message longer than 4096 bytes dropped" in str(items[0])
    assert _skipped(items + decoder.feed(b"")) == fed - 4097
    # the port still works afterwards
    assert decoder.feed(R1.to_bytes()) == [R1]


def test_parity_bit_bytes_keep_the_buffer_bounded_on_both_sides() -> None:
    pattern = bytes(range(0x80, 0x100))  # masked to 7 bits: every control and start character, LF, ETX, ...
    for role, limit in (("meter", 4096), ("client", 64 * 1024)):
        decoder = Decoder(role, max_message=limit)  # type: ignore[arg-type]
        peak = 0
        for _ in range(MIB // (len(pattern) * 256)):
            decoder.feed(pattern * 256)
            peak = max(peak, decoder.buffered)
        assert peak <= limit


def test_a_slash_flood_is_scanned_linearly_not_once_per_slash() -> None:
    decoder = Decoder("meter")
    items = decoder.feed(b"/" * 200_000)
    assert decoder.scanned <= 200_000 + 256
    assert decoder.buffered <= 256
    assert _skipped(items) == 200_000 - 256 - 1 - (200_000 - 256 - 1) % decoder.noise_report_every


def test_noise_before_a_message_is_reported_before_it_and_nuls_are_silent() -> None:
    items = Decoder("meter").feed(b"\x00" * 66 + b"junk" + RequestMessage().to_bytes())
    assert _shape(items)[0] == ("RemoteProtocolError", "skipped 4 bytes of noise (bytes: b'junk')")
    assert items[1] == RequestMessage()
    assert Decoder("meter").feed(b"\x00" * 66 + RequestMessage().to_bytes()) == [RequestMessage()]


def test_a_mode_d_push_that_never_ends_is_dropped_at_the_limit() -> None:
    decoder = Decoder("client", max_message=1024)
    decoder.expect_mode_d = True
    items = decoder.feed(b"/ABC5push\r\n\r\n" + b"1.8.0(1)\r\n" * 200)
    assert any("longer than 1024" in str(i) for i in items)
    assert decoder.buffered <= 1024
    push = ModeDMessage(
        identification=IdentificationMessage(manufacturer="ABC", baud_char="5", ident="push"),
        datasets=(DataSet.single("1.8.0", "1"),),
    )
    assert push in decoder.feed(push.to_bytes())


@given(
    st.lists(
        st.one_of(
            st.sampled_from([b"/ABC5x\r\n", b"\r\n", b"1.8.0(1*kWh)\r\n", b"!\r\n", b"!12AB\r\n", b"!(\r\n", b"\x02"]),
            st.binary(max_size=20),
        ),
        max_size=12,
    )
)
def test_mode_d_streams_never_raise_and_decode_the_same_byte_by_byte(parts: list[bytes]) -> None:
    stream = b"".join(parts)
    one, two = Decoder("client", max_message=512), Decoder("client", max_message=512)
    one.expect_mode_d = two.expect_mode_d = True
    whole = one.feed(stream) + one.feed(b"")
    single = _byte_at_a_time(two, stream) + two.feed(b"")
    assert _shape(single) == _shape(whole)
    assert one.buffered == two.buffered == 0
