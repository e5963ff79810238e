"""Real meter captures decode to the values the meters sent, with the right BCC verdicts."""

from __future__ import annotations

import pytest
from tests.fixtures.telegrams import (
    ACE3000,
    COMMAND_VECTORS,
    HAGER_EHZ_PUSH,
    IDENTIFICATIONS,
    ISK_MT174,
    KAM_MC66,
    LGZ_E350,
    LGZ_E350_ICRNL,
    ME162_ANSWER_TEXT,
    ME162_IDENT,
    ME162_OPTION,
    MT174_LINES,
    MT174_SOURCE,
    UH50,
    ZMD405_LINES,
    Telegram,
)

from meterkit.errors import RemoteProtocolError
from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.dataset import parse_datasets
from meterkit.iec62056_21.decoder import Decoder, parse_identification
from meterkit.iec62056_21.messages import (
    AckOptionSelect,
    CommandMessage,
    DataAnswer,
    DataMessage,
    IdentificationMessage,
    ModeDMessage,
)


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
    assert (ident.manufacturer, ident.baud_char, ident.ident) == ("ISk", "5", "MT174-0001")
    assert isinstance(readout, DataMessage) and readout.bcc_ok is True
    assert len(readout.datasets) == MT174_LINES.count("\r\n") == 18
    by_address = {ds.address: ds for ds in readout.datasets}
    assert [ds.address for ds in readout.datasets][:3] == ["1-0:0.9.1*255", "1-0:0.9.2*255", "1-0:0.2.0*255"]
    assert (by_address["1-0:1.8.0*255"].value, by_address["1-0:1.8.0*255"].unit) == ("0692930.505", "kWh")
    assert (by_address["1-0:5.8.0*255"].value, by_address["1-0:5.8.0*255"].unit) == ("0235104.302", "kVArh")
    assert by_address["0-0:C.1.6*255"].value == "FDF5"
    assert by_address["0-0:C.51.2*01"].value == "0230920104504"  # history entries keep their F field
    assert by_address["0-0:C.51.4*01"].value == "" and by_address["0-0:C.51.4*01"].unit == ""
    datasets, errors = parse_datasets(MT174_LINES)  # the published lines parse strictly as well
    assert errors == [] and datasets == readout.datasets
    assert MT174_SOURCE.startswith("github.com/camtarn/mt174")


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


def test_uh50_many_data_sets_per_line_are_all_read_and_the_bad_bcc_is_reported() -> None:
    ident, readout = decode_all(UH50.data)
    assert isinstance(ident, IdentificationMessage) and (ident.manufacturer, ident.baud_char) == ("SIE", "C")
    assert isinstance(readout, DataMessage) and readout.bcc_ok is False
    assert bcc(UH50.data[UH50.data.index(b"\x02") + 1 : -1]) == 0x6F != UH50.data[-1]
    assert len(readout.datasets) == 50
    by_address = {ds.address: ds.values[0] for ds in readout.datasets}
    assert (by_address["6.8"].value, by_address["6.8"].unit) == ("0029.055", "MWh")
    assert by_address["9.20"].value == "64030874"
    assert by_address["6.8.1*01"].value == ""  # empty ()
    assert by_address["9.1"].value == "0&1&0&-&CV&3&2.14"  # '&' is kept inside values
    assert by_address["6.36*02"].value == "01"
    strict = Decoder("client", lenient=False).feed(UH50.data)
    assert isinstance(strict[1], RemoteProtocolError) and "BCC mismatch" in str(strict[1])


def test_ace3000_noise_echo_and_corrupted_line_are_reported_and_the_values_recovered() -> None:
    items = decode_all(ACE3000.data)
    errors = [str(i) for i in items if isinstance(i, RemoteProtocolError)]
    assert errors[0].startswith("skipped 5 bytes of noise")
    assert any("shorter than '/XXXZ'" in e for e in errors)  # the echoed request '/?!'
    assert any(e.startswith("text 'Y") and "not followed by a value group" in e for e in errors)  # damaged line
    (ident,) = [i for i in items if isinstance(i, IdentificationMessage)]
    assert (ident.manufacturer, ident.ident, ident.enhanced) == ("ACE", "k260V01.19", ("3",))
    (readout,) = [i for i in items if isinstance(i, DataMessage)]
    assert readout.bcc_ok is False
    assert [(ds.address, ds.value) for ds in readout.datasets] == [
        ("F.F", "00"),
        ("C.1", "1126120053322353"),
        ("C.5.0", "00"),
        ("1.8.0", "013925.5"),  # kept although garbage follows on its line
    ]
    strict = Decoder("client", lenient=False).feed(ACE3000.data)
    assert not any(isinstance(i, DataMessage) for i in strict)
    assert any("BCC mismatch" in str(i) for i in strict)


def test_truncated_e350_capture_is_reported_at_the_end_of_the_stream() -> None:
    decoder = Decoder("client")
    items = decoder.feed(LGZ_E350_ICRNL.data)
    assert isinstance(items[0], IdentificationMessage) and items[0].ident == "ZMF100AC.M27"
    assert not any(isinstance(i, DataMessage) for i in items)
    (end,) = decoder.feed(b"")
    assert isinstance(end, RemoteProtocolError) and "unfinished message" in str(end)
    assert decoder.buffered == 0


def test_hager_mode_d_pushes_without_blank_line_and_with_bare_lf_after_bang() -> None:
    decoder = Decoder("client")
    decoder.expect_mode_d = True
    first, second = decoder.feed(HAGER_EHZ_PUSH.data)
    assert isinstance(first, ModeDMessage) and isinstance(second, ModeDMessage)
    assert first.identification.manufacturer == "HAG" and first.identification.ident == "eHZ010C_EHZ1vA02"
    assert [(ds.address, ds.value) for ds in first.datasets] == [("1-0:1.8.0*255", "000001.2963")]
    assert [(ds.address, ds.value) for ds in second.datasets] == [
        ("1-0:1.7.0*255", "000001.2964"),
        ("1-0:1.9.0*255", "000001.2965"),
    ]
    assert decoder.feed(b"") == []


def test_me162_session_frames_decode_on_both_sides() -> None:
    answer = b"\x02" + ME162_ANSWER_TEXT + b"\x03"
    answer += bytes([bcc(answer[1:])])
    ident, reply = Decoder("client").feed(ME162_IDENT + b"\r\n" + answer)
    assert isinstance(ident, IdentificationMessage) and ident.ident == "ME162-0033"
    assert isinstance(reply, DataAnswer) and reply.bcc_ok is True
    assert (reply.datasets[0].address, reply.datasets[0].value, reply.datasets[0].unit) == ("", "0033402.264", "kWh")
    meter_side = Decoder("meter")
    meter_side.expect_option_ack = True
    assert meter_side.feed(ME162_OPTION) == [AckOptionSelect(protocol="0", baud_char="5", mode="1")]


def test_zmd405_history_suffixes_and_repeated_addresses_parse_strictly() -> None:
    datasets, errors = parse_datasets(ZMD405_LINES)
    assert errors == []
    addresses = [ds.address for ds in datasets]
    assert addresses.count("1.8.1*00") == 2  # repeated addresses are kept in order
    assert "0.1.0&12" in addresses and "1.8.1*12" in addresses
    by_address = {ds.address: ds for ds in datasets}
    assert by_address["0.0.0"].value == ""
    assert (by_address["5.8.1*12"].value, by_address["5.8.1*12"].unit) == ("0016.0599", "kvarh")
    assert by_address["0.1.0*12"].value == "21-01-01 00:00"


@pytest.mark.parametrize("telegram", [LGZ_E350, ISK_MT174, KAM_MC66, UH50, ACE3000], ids=lambda t: t.name)
def test_recorded_bcc_verdict_of_every_framed_capture_matches_the_decoder(telegram: Telegram) -> None:
    (readout,) = [i for i in decode_all(telegram.data) if isinstance(i, DataMessage)]
    assert readout.bcc_ok is telegram.bcc_ok
    assert telegram.source  # every capture says where it was published
