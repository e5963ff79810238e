"""Real meter captures decode to the values the meters sent, with the right BCC verdicts."""

from __future__ import annotations

import pytest
from tests.fixtures.telegrams import COMMAND_VECTORS, IDENTIFICATIONS, ISK_MT174, KAM_MC66, LGZ_E350

from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.decoder import Decoder, parse_identification
from meterkit.iec62056_21.messages import CommandMessage, DataMessage, IdentificationMessage


def decode_all(data: bytes) -> list[object]:
    return list(Decoder("client").feed(data))


def test_e350_readout_decodes_with_good_bcc_and_every_register() -> None:
    items = decode_all(LGZ_E350.data)
    ident, readout = items
    assert isinstance(ident, IdentificationMessage)
    assert (ident.manufacturer, ident.baud_char, ident.ident) == ("LGZ", "4", "ZMF100AC.M26")
    assert not ident.fast_reaction
    assert isinstance(readout, DataMessage)
    assert readout.bcc_ok is True
    values = {ds.address: (ds.value, ds.unit) for ds in readout.datasets}
    assert len(readout.datasets) == 22
    assert values["1.8.0"] == ("061561.289", "kWh")
    assert values["0.0"] == ("          120858", "")  # leading spaces are kept
    assert values["C.1.1"] == ("        ", "")
    assert values["32.7"] == ("241", "V")
    assert values["31.7"] == ("000.35", "A")


def test_e350_bcc_byte_is_0x01_and_is_not_searched_for() -> None:
    body = LGZ_E350.data[LGZ_E350.data.index(b"\x02") + 1 : -1]
    assert bcc(body) == 0x01 == LGZ_E350.data[-1]


def test_mt174_fast_reaction_flag_and_obis_addresses_with_f_field() -> None:
    ident, readout = decode_all(ISK_MT174.data)
    assert isinstance(ident, IdentificationMessage) and ident.fast_reaction  # lower-case 'k'
    assert isinstance(readout, DataMessage) and readout.bcc_ok is True
    assert [ds.address for ds in readout.datasets] == [
        "1-0:0.9.2*255",
        "1-0:0.9.1*255",
        "1-0:1.8.0*255",
        "1-0:2.8.0*255",
    ]
    assert readout.datasets[3].value == "0098697.318"


def test_kamstrup_mode_a_without_crlf_before_bang_is_read_and_bad_bcc_reported() -> None:
    ident, readout = decode_all(KAM_MC66.data)
    assert isinstance(ident, IdentificationMessage) and ident.baud_char == " "
    assert isinstance(readout, DataMessage) and readout.bcc_ok is False
    assert readout.datasets[-1].address == "6.31" and readout.datasets[-1].unit == "h"
    strict = Decoder("client", lenient=False).feed(KAM_MC66.data)
    assert "BCC mismatch" in str(strict[1])


@pytest.mark.parametrize(("name", "frame"), COMMAND_VECTORS)
def test_published_command_frames_have_matching_bcc_and_reencode_identically(name: str, frame: bytes) -> None:
    assert bcc(frame[1:-1]) == frame[-1], name
    (msg,) = Decoder("meter").feed(frame)
    assert isinstance(msg, CommandMessage) and msg.bcc_ok is True
    assert msg.to_bytes(strict=False) == frame


@pytest.mark.parametrize(("line", "manufacturer", "z", "ident", "enhanced"), IDENTIFICATIONS)
def test_real_identifications_parse_leniently(
    line: bytes, manufacturer: str, z: str, ident: str, enhanced: tuple[str, ...]
) -> None:
    msg = parse_identification(line)
    assert (msg.manufacturer, msg.baud_char, msg.ident, msg.enhanced) == (manufacturer, z, ident, enhanced)
    assert msg.to_bytes(strict=False) == line + b"\r\n"


def test_over_long_identification_is_refused_when_encoding_strictly() -> None:
    msg = parse_identification(b"/AUX5\\2SX330SKH10F10013")
    with pytest.raises(Exception, match="limit is 16"):
        msg.to_bytes()


def test_7e1_bytes_read_as_8n1_are_masked_to_seven_bits() -> None:
    parity_polluted = bytes(b | 0x80 if i % 2 else b for i, b in enumerate(ISK_MT174.data))
    assert decode_all(parity_polluted) == decode_all(ISK_MT174.data)
