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
    Nak,
    RequestMessage,
    Value,
)

PRINTABLE = [chr(c) for c in range(0x20, 0x7F)]
address_chars = st.sampled_from([c for c in PRINTABLE if c not in "()/!" and c != " "])
value_chars = st.sampled_from([c for c in PRINTABLE if c not in "()*/!"])
unit_chars = st.sampled_from([c for c in PRINTABLE if c not in "()/!*"])

addresses = st.text(address_chars, max_size=16)
values = st.builds(Value, value=st.text(value_chars, max_size=32), unit=st.text(unit_chars, max_size=16))
datasets = st.builds(
    DataSet,
    address=addresses.filter(lambda a: a != ""),
    values=st.lists(values, min_size=1, max_size=3).map(tuple),
)
device_addresses = st.text(st.sampled_from("0123456789ABCDEFabcdef"), max_size=32)
idents = st.text(st.sampled_from([c for c in PRINTABLE if c not in "/!\\"]), min_size=1, max_size=14)

client_bound: st.SearchStrategy[Message] = st.one_of(
    st.builds(
        IdentificationMessage,
        manufacturer=st.sampled_from(["MKT", "LGZ", "ISk", "EMH"]),
        baud_char=st.sampled_from(list("0123456ABCDEFZ")),
        ident=idents,
    ),
    st.builds(DataMessage, datasets=st.lists(datasets, max_size=6).map(tuple)),
    st.builds(DataAnswer, datasets=st.lists(datasets, min_size=1, max_size=3).map(tuple), partial=st.booleans()),
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
    ),
    st.builds(CommandMessage, command=st.just("B"), command_type=st.sampled_from(["0", "1"])),
    st.just(Nak()),
)


@given(client_bound)
def test_every_client_bound_message_round_trips(message: Message) -> None:
    items = Decoder("client").feed(message.to_bytes())
    if isinstance(message, ErrorAnswer):  # pragma: no cover - not generated
        return
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
