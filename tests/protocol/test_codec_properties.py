"""Property tests: every message round-trips, the decoder never raises, chunking does not matter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meterkit.errors import RemoteProtocolError
from meterkit.iec62056_21.decoder import Decoder
from meterkit.iec62056_21.messages import (
    Ack,
    AckOptionSelect,
    CommandMessage,
    DataAnswer,
    DataMessage,
    DataSet,
    ErrorAnswer,
    IdentificationMessage,
    Message,
    ModeDMessage,
    Nak,
    RequestMessage,
    Value,
)

PRINTABLE = [chr(c) for c in range(0x20, 0x7F)]
address_chars = st.sampled_from([c for c in PRINTABLE if c not in "()/!"])
value_chars = st.sampled_from([c for c in PRINTABLE if c not in "()*/!"])
unit_chars = st.sampled_from([c for c in PRINTABLE if c not in "()/!*"])

# §6.6: an address is printable characters without ( ) / !; spaces inside are allowed, leading or trailing ones are
# not written (readers strip them: they separate data sets on a line), so they cannot round-trip
addresses = st.text(address_chars, max_size=16).filter(lambda a: a == a.strip(" "))
values = st.builds(Value, value=st.text(value_chars, max_size=32), unit=st.text(unit_chars, max_size=16))
datasets = st.builds(
    DataSet,
    address=addresses.filter(lambda a: a != ""),
    values=st.lists(values, min_size=1, max_size=3).map(tuple),
)
device_addresses = st.text(st.sampled_from("0123456789ABCDEFabcdef"), max_size=32)
idents = st.text(st.sampled_from([c for c in PRINTABLE if c not in "/!\\"]), min_size=1, max_size=14)
#: W of the enhanced identification \W: 2 = mode E, others reserved or manufacturer-specific (not / \ !)
enhanced_chars = st.sampled_from([c for c in PRINTABLE if c not in "/\\!"])


@st.composite
def identifications(draw: st.DrawFn) -> IdentificationMessage:
    enhanced = tuple(draw(st.lists(enhanced_chars, max_size=3)))
    ident = draw(idents.filter(lambda i: 2 * len(enhanced) + len(i) <= 16))
    return IdentificationMessage(
        manufacturer=draw(st.sampled_from(["MKT", "LGZ", "ISk", "EMH"])),
        baud_char=draw(st.sampled_from(list("0123456ABCDEFZ9 "))),
        ident=ident,
        enhanced=enhanced,
    )


error_texts = st.tuples(st.sampled_from(["ER", "#"]), st.text(value_chars, max_size=30)).map("".join)


def _looks_like_an_error(answer: DataAnswer) -> bool:
    """A single address-less, unit-less value with an error prefix is, on the wire, an error message."""
    if answer.partial or len(answer.datasets) != 1:
        return False
    ds = answer.datasets[0]
    return not ds.address and len(ds.values) == 1 and not ds.unit and ds.value.startswith(("ER", "#"))


# answers may carry address-less data sets (history rows), one per line
answer_datasets = st.one_of(
    datasets,
    st.builds(DataSet, address=st.just(""), values=st.lists(values, min_size=1, max_size=3).map(tuple)),
)

client_bound: st.SearchStrategy[Message] = st.one_of(
    identifications(),
    st.builds(DataMessage, datasets=st.lists(datasets, max_size=6).map(tuple)),
    st.builds(
        DataAnswer, datasets=st.lists(answer_datasets, min_size=1, max_size=3).map(tuple), partial=st.booleans()
    ).filter(lambda a: not _looks_like_an_error(a)),
    st.builds(ErrorAnswer, text=error_texts),
    st.builds(
        CommandMessage,
        command=st.just("P"),
        command_type=st.just("0"),
        data_set=st.builds(lambda v: DataSet.single("", v), st.text(value_chars, max_size=32)),
    ),
    st.just(CommandMessage(command="B", command_type="0")),
    st.just(Ack()),
    st.just(Nak()),
)

meter_bound: st.SearchStrategy[Message] = st.one_of(
    st.builds(RequestMessage, address=device_addresses),
    st.builds(
        CommandMessage,
        command=st.sampled_from(list("PWRE")),
        command_type=st.sampled_from(list("0123456789")),
        data_set=st.builds(
            DataSet,
            address=addresses,
            values=st.builds(lambda v: (Value(value=v),), st.text(value_chars, max_size=32)),
        ),
        partial=st.booleans(),  # W3/R3... partial blocks end with EOT
    ),
    st.builds(CommandMessage, command=st.just("B"), command_type=st.sampled_from(["0", "1"])),
    st.just(Nak()),
)


mode_d_pushes = st.builds(
    ModeDMessage, identification=identifications(), datasets=st.lists(datasets, max_size=6).map(tuple)
)


@given(client_bound)
def test_every_client_bound_message_round_trips(message: Message) -> None:
    items = Decoder("client").feed(message.to_bytes())
    assert items == [message]
    decoded = items[0]
    if hasattr(decoded, "bcc_ok") and not isinstance(decoded, IdentificationMessage):
        assert decoded.bcc_ok in (True, None)


@given(meter_bound)
def test_every_meter_bound_message_round_trips(message: Message) -> None:
    assert Decoder("meter").feed(message.to_bytes()) == [message]


@given(
    st.builds(
        AckOptionSelect,
        protocol=st.sampled_from("012"),
        baud_char=st.sampled_from("0123456"),
        mode=st.sampled_from("0126"),
    )
)
def test_option_select_round_trips_when_expected(option: AckOptionSelect) -> None:
    decoder = Decoder("meter")
    decoder.expect_option_ack = True
    assert decoder.feed(option.to_bytes()) == [option]


@given(st.binary(max_size=600), st.sampled_from(["client", "meter"]), st.booleans())
def test_decoder_never_raises_on_arbitrary_bytes(data: bytes, role: str, expect_ack: bool) -> None:
    decoder = Decoder(role, max_message=256)  # type: ignore[arg-type]
    decoder.expect_option_ack = expect_ack
    items = decoder.feed(data)
    for item in items:
        assert isinstance(item, Message | RemoteProtocolError)
    assert decoder.buffered <= 256
    for item in decoder.feed(b""):
        assert isinstance(item, RemoteProtocolError)
    assert decoder.buffered == 0


@given(st.lists(client_bound, min_size=1, max_size=5), st.data())
def test_split_anywhere_feeding_gives_the_same_messages(messages: list[Message], data: st.DataObject) -> None:
    stream = b"".join(m.to_bytes() for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    whole = Decoder("client").feed(stream)
    split_decoder = Decoder("client")
    pieces: list[object] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        if cut > last:  # b"" would mean the end of the stream
            pieces.extend(split_decoder.feed(stream[last:cut]))
        last = cut
    assert pieces == whole
    assert split_decoder.feed(b"") == []  # nothing unfinished is left behind


@given(st.binary(max_size=300))
def test_byte_at_a_time_equals_one_chunk_for_noise(data: bytes) -> None:
    whole = Decoder("meter").feed(data)
    one = Decoder("meter")
    parts: list[object] = []
    for b in data:
        parts.extend(one.feed(bytes([b])))
    assert [type(x) for x in parts if not isinstance(x, RemoteProtocolError)] == [
        type(x) for x in whole if not isinstance(x, RemoteProtocolError)
    ]


@given(st.lists(meter_bound, min_size=1, max_size=5), st.data())
def test_split_anywhere_feeding_gives_the_same_messages_on_the_meter_side(
    messages: list[Message], data: st.DataObject
) -> None:
    stream = b"".join(m.to_bytes() for m in messages)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=8))))
    split_decoder = Decoder("meter")
    pieces: list[object] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        if cut > last:
            pieces.extend(split_decoder.feed(stream[last:cut]))
        last = cut
    assert pieces == messages


@given(mode_d_pushes)
def test_every_mode_d_push_round_trips(message: ModeDMessage) -> None:
    decoder = Decoder("client")
    decoder.expect_mode_d = True
    assert decoder.feed(message.to_bytes()) == [message]


@given(st.lists(mode_d_pushes, min_size=1, max_size=4), st.data())
def test_split_anywhere_feeding_gives_the_same_mode_d_pushes(messages: list[ModeDMessage], data: st.DataObject) -> None:
    stream = b"".join(m.to_bytes() for m in messages)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=10))))
    decoder = Decoder("client")
    decoder.expect_mode_d = True
    pieces: list[object] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        pieces.extend(decoder.feed(stream[last:cut]))
        last = cut
    assert pieces == messages


def test_error_message_and_data_answer_are_told_apart_on_the_wire() -> None:
    (error,) = Decoder("client").feed(ErrorAnswer(text="ER05").to_bytes())
    assert error == ErrorAnswer(text="ER05") and error.bcc_ok is True
    data = DataAnswer(datasets=(DataSet.single("", "0033402.264", "kWh"),))
    assert Decoder("client").feed(data.to_bytes()) == [data]  # a unit: data, not an error
    plain = DataAnswer(datasets=(DataSet.single("", "ERR"),))
    assert Decoder("client", error_prefixes=()).feed(plain.to_bytes()) == [plain]  # prefixes switched off
    addressed = DataAnswer(datasets=(DataSet.single("C.1", "ER1"),))
    assert Decoder("client").feed(addressed.to_bytes()) == [addressed]  # an address: data


def test_strict_writing_refuses_what_reading_would_change() -> None:
    import pytest

    from meterkit.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError, match="leading or trailing spaces"):
        DataSet.single(" 1.8.0", "1").to_text()
    with pytest.raises(LocalProtocolError, match="only allowed in"):
        IdentificationMessage(manufacturer="MKT", baud_char="5", ident="A\\2").to_bytes()
    inner = DataSet.single("C.1 0", "1")
    assert Decoder("client").feed(DataAnswer(datasets=(inner,)).to_bytes()) == [DataAnswer(datasets=(inner,))]


def _readout(n_datasets: int) -> bytes:
    rows = tuple(
        DataSet.single(f"1.8.{i % 100}*{i % 90 + 10}", f"{i:010d}.{i % 1000:03d}", "kWh") for i in range(n_datasets)
    )
    return b"/MKT5TEST1\r\n" + DataMessage(datasets=rows).to_bytes()


def _feed_in_chunks(decoder: Decoder, stream: bytes, size: int) -> list[object]:
    out: list[object] = []
    for i in range(0, len(stream), size):
        out.extend(decoder.feed(stream[i : i + size]))
    return out


def test_small_chunks_are_scanned_once_not_once_per_feed() -> None:
    stream = _readout(2500)  # ~78 KB
    assert 70_000 < len(stream) < 90_000
    whole = Decoder("client")
    expected = whole.feed(stream)
    chunked = Decoder("client")
    assert _feed_in_chunks(chunked, stream, 20) == expected
    # every byte is looked at once (plus the identification line), however the stream is cut
    assert chunked.scanned == whole.scanned <= len(stream)
    meter_side = Decoder("meter")
    command = b"\x01W1\x02" + b"P.01(" + b"0" * 3900 + b")\x03"
    command += bytes([__import__("meterkit.iec62056_21.bcc", fromlist=["bcc"]).bcc(command[1:])])
    items = _feed_in_chunks(meter_side, command, 1)
    assert len(items) == 1 and meter_side.scanned <= len(command)


def test_mode_d_block_scan_resumes_at_the_unfinished_line() -> None:
    push = ModeDMessage(
        identification=IdentificationMessage(manufacturer="EBZ", baud_char="3", ident="X"),
        datasets=tuple(DataSet.single(f"1.8.{i}", str(i)) for i in range(500)),
    ).to_bytes()
    decoder = Decoder("client")
    decoder.expect_mode_d = True
    assert len(_feed_in_chunks(decoder, push, 7)) == 1
    assert decoder.scanned <= len(push)
