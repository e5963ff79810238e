"""Frame traces: control characters by name, hex alongside, and P1/P2 secrets never recorded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.trace import FrameRecord, FrameRing, format_frame, printable, redact


def P1(password: str) -> bytes:
    return CommandMessage(command="P", command_type="1", data_set=DataSet.single("", password)).to_bytes()


def test_control_characters_are_shown_by_name_and_other_bytes_in_hex() -> None:
    assert printable(b"\x02F.F(00)\r\n!\r\n\x03\x01") == "<STX>F.F(00)<CR><LF>!<CR><LF><ETX><SOH>"
    assert printable(b"\x00\x06\x15\x04\xff") == "<NUL><ACK><NAK><EOT><xFF>"


def test_a_formatted_frame_has_time_direction_printable_and_hex() -> None:
    assert format_frame("->", b"/?!\r\n", 12.3456) == "   12.346 -> /?!<CR><LF>  [2F 3F 21 0D 0A]"


def test_p1_and_p2_values_are_redacted_but_other_commands_are_not() -> None:
    assert redact(P1("secret12")).startswith(b"\x01P1\x02(***)\x03")
    p2 = CommandMessage(command="P", command_type="2", data_set=DataSet.single("", "ABCDEF")).to_bytes()
    assert b"ABCDEF" not in redact(p2)
    r1 = b"\x01R1\x021.8.0()\x03Z"
    assert redact(r1) == r1


@given(st.text(alphabet="0123456789ABCDEFabcdef", min_size=1, max_size=16), st.data())
def test_a_password_split_across_reads_never_reaches_the_trace(password: str, data: st.DataObject) -> None:
    frame = P1(password) + b"\x01R1\x021.8.0()\x03Z"
    cuts = sorted(data.draw(st.lists(st.integers(1, len(frame) - 1), max_size=5)))
    seen: list[FrameRecord] = []
    ring = FrameRing(size=64, hook=seen.append)
    last = 0
    for i, cut in enumerate([*cuts, len(frame)]):
        ring.record("<-", frame[last:cut], float(i))
        last = cut
    recorded = b"".join(r.data for r in ring.frames())
    assert recorded[: len(b"\x01P1\x02(***)\x03?")] == b"\x01P1\x02(***)\x03?"  # the BCC too
    assert recorded[-len(b"\x01R1\x021.8.0()\x03Z") :] == b"\x01R1\x021.8.0()\x03Z"
    assert len(recorded) == len(frame) - len(password) + 3  # only the value changed, nothing else
    assert [r.data for r in seen] == [r.data for r in ring.frames()]


def test_the_ring_keeps_only_the_most_recent_frames() -> None:
    ring = FrameRing(size=3)
    for i in range(10):
        ring.record("->", bytes([0x30 + i]), float(i))
    assert [r.data for r in ring.frames()] == [b"7", b"8", b"9"]
    assert ring.dump().splitlines()[0] == "    7.000 -> 7  [37]"


def test_the_bcc_of_a_password_frame_is_redacted_because_it_is_a_checksum_of_the_password() -> None:
    frame = P1("secret12")
    assert frame[-1] == 0x74  # the XOR of the password characters with the constant framing: it leaks
    assert redact(frame) == b"\x01P1\x02(***)\x03?"
    assert format_frame("<-", frame, 1.0) == (
        "    1.000 <- <SOH>P1<STX>(***)<ETX><BCC?>  [01 50 31 02 28 2A 2A 2A 29 03 **]"
    )
    # two passwords that differ only in their BCC give identical traces
    other = P1("secret13")
    assert frame[-1] != other[-1] and format_frame("<-", frame, 1.0) == format_frame("<-", other, 1.0)


def test_a_parity_polluted_password_frame_is_redacted_too() -> None:
    polluted = bytes(b | 0x80 for b in P1("secret12"))  # a 7E1 line read as 8N1
    shown = redact(polluted)
    assert b"secret12" not in bytes(b & 0x7F for b in shown)
    assert shown.endswith(b"***\xa9\x83?")


def test_a_bcc_arriving_in_a_later_read_is_held_back_and_redacted() -> None:
    frame = P1("secret12")
    ring = FrameRing()
    ring.record("<-", frame[:-1], 1.0)  # everything up to ETX: the BCC is still to come
    assert ring.frames() == []
    ring.record("<-", frame[-1:], 1.1)
    (record,) = ring.frames()
    assert record.data == b"\x01P1\x02(***)\x03?"
    assert "<BCC?>" in record.format() and record.format().endswith("03 **]")


def test_other_frames_keep_their_bcc() -> None:
    r1 = b"\x01R1\x021.8.0()\x03Z"
    assert format_frame("->", r1, 0.0).endswith("<ETX>Z  [01 52 31 02 31 2E 38 2E 30 28 29 03 5A]")


def test_a_labelled_ring_prints_the_side_and_wall_clock_time_in_iso_form() -> None:
    from datetime import UTC, datetime

    seen: list[str] = []
    ring = FrameRing(hook=lambda rec: seen.append(rec.format()), label="client")
    ring.record("->", b"\x01P1\x02(secret)\x03\x00", 1.0, wall=datetime(2026, 12, 1, 15, 0, 0, 123456, tzinfo=UTC))
    assert seen == [
        "client 2026-12-01T15:00:00.123+00:00 -> <SOH>P1<STX>(***)<ETX><BCC?>  [01 50 31 02 28 2A 2A 2A 29 03 **]"
    ]
    assert "secret" not in seen[0]
