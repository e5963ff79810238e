"""R3/W3 partial blocks on the client side (§6.4.7): acknowledged one by one, NAK repeats, abort by a new command."""

from __future__ import annotations

from meterkit.iec62056_21.events import AnswerReceived, ErrorReceived, PositiveAck
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.testing import ConnectionPair
from meterkit.iec62056_21.transitions import ClientState

from .partial_meter import PartialMeter


def R(code: str, address: str, value: str = "", *, partial: bool = False) -> CommandMessage:
    return CommandMessage(
        command=code[0], command_type=code[1], data_set=DataSet.single(address, value), partial=partial
    )


def test_r3_blocks_are_acknowledged_and_reassembled() -> None:
    app = PartialMeter()
    pair = ConnectionPair.for_application(app)
    pair.programming()
    event = pair.command(R("R3", "P.01"))
    assert isinstance(event, AnswerReceived) and event.answer.partial is False
    assert "".join(ds.value for ds in event.answer.datasets) == "0123456789" * 12
    assert [what for what, _ in app.log].count("ACK") == 2  # three blocks: two acknowledged, the last ends with ETX


def test_max_blocks_stops_the_transfer_and_the_next_command_aborts_it_at_the_meter() -> None:
    app = PartialMeter()
    pair = ConnectionPair.for_application(app)
    pair.programming()
    pair.client.send(R("R3", "P.01"), pair.now, max_blocks=1)
    event = pair.wait_for(AnswerReceived)
    assert isinstance(event, AnswerReceived)
    assert event.answer.partial is True  # handed over as incomplete
    assert [ds.value for ds in event.answer.datasets] == ["0123456789" * 4]
    assert pair.client.state is ClientState.PROGRAMMING
    assert pair.wire.sent_by("client")[-1] != b"\x06"  # the last block was not acknowledged
    follow = pair.command(R("R1", "C.1.0"))  # a new command: the meter drops the rest of the R3 answer
    assert isinstance(follow, AnswerReceived) and follow.answer.datasets[0].value == "12345678"
    assert ("ACK", "") not in app.log


def test_w3_sends_blocks_with_the_address_only_in_the_first_and_each_is_acknowledged() -> None:
    app = PartialMeter(nak_blocks={2})
    pair = ConnectionPair.for_application(app)
    pair.programming()
    value = "ABCDEFGHIJ" * 3
    chunks = [value[i : i + 12] for i in range(0, len(value), 12)]
    for i, chunk in enumerate(chunks):
        event = pair.command(R("W3", "C.1.0" if i == 0 else "", chunk, partial=i < len(chunks) - 1))
        assert isinstance(event, PositiveAck)
    assert app.writes == {"C.1.0": value}
    sent = [data for data in pair.wire.sent_by("client") if data.startswith(b"\x01W3")]
    assert len(sent) == 4  # block 2 was NAKed once and repeated
    assert sent[1] == sent[2] and sent[1].startswith(b"\x01W3\x02(") and sent[1][-2] == 0x04  # no address, EOT
    assert sent[0].startswith(b"\x01W3\x02C.1.0(") and sent[-1][-2] == 0x03


def test_an_error_in_the_middle_of_w3_is_reported_and_the_transfer_ends() -> None:
    app = PartialMeter()
    pair = ConnectionPair.for_application(app)
    pair.programming()
    event = pair.command(R("W3", "9.9.9", "ABC", partial=True))
    assert isinstance(event, ErrorReceived) and event.text == "ER01"
    assert pair.client.state is ClientState.PROGRAMMING
