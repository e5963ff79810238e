"""The framing of a sealed answer on the optical port, with a stand-in cipher: the protocol core needs no crypto."""

from __future__ import annotations

import pytest

from meterkit.errors import SecurityError
from meterkit.iec62056_21.messages import MAX_VALUE_LEN_PROGRAMMING, DataSet
from meterkit.iec62056_21.sealed import ENC_ADDRESS, is_encrypted, open_answer, seal_answer, unwrap_answer


class ClearSealer:
    """Numbers answers and 'seals' them as they are (enough to pin the framing)."""

    def __init__(self, first: int = 1) -> None:
        self.counter = first - 1
        self.opened: list[int] = []

    def seal(self, plain: bytes) -> tuple[int, bytes]:
        self.counter += 1
        return self.counter, plain

    def open(self, counter: int, sealed: bytes) -> bytes:
        self.opened.append(counter)
        return sealed


def test_a_sealed_answer_is_an_enc_counter_line_and_hex_lines_of_at_most_128_digits() -> None:
    datasets = tuple(DataSet.single(f"C.{i}.0", "ABCDEFGHIJ", "kWh") for i in range(10))
    sealed = seal_answer(ClearSealer(first=0x1A), datasets)
    assert sealed[0] == DataSet.single(ENC_ADDRESS, "0000001A") and is_encrypted(sealed)
    assert MAX_VALUE_LEN_PROGRAMMING == 128
    assert [len(ds.value) for ds in sealed[1:-1]] == [128] * (len(sealed) - 2)
    assert all(ds.address == "" for ds in sealed[1:])
    text = bytes.fromhex("".join(ds.value for ds in sealed[1:])).decode("ascii")
    assert text == "".join(f"C.{i}.0(ABCDEFGHIJ*kWh)\r\n" for i in range(10))


def test_opening_hands_the_counter_and_bytes_to_the_opener_and_parses_the_block() -> None:
    datasets = (DataSet.single("1.8.0", "000001.000", "kWh"), DataSet.single("0.9.1", "081500"))
    opener = ClearSealer()
    assert open_answer(opener, seal_answer(ClearSealer(first=7), datasets)) == datasets
    assert opener.opened == [7]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((DataSet.single("1.8.0", "1"),), "plain answer in an encrypted session"),
        ((DataSet.single("ENC", "0000000G"), DataSet.single("", "00")), "not hexadecimal"),
        ((DataSet.single("ENC", "00000001"), DataSet.single("", "0")), "not hexadecimal"),
        ((DataSet.single("ENC", "00000001"), DataSet.single("", "FF")), "not a data block"),
        ((DataSet.single("ENC", "00000001"), DataSet.single("", b"1.8.0(1".hex())), "not a data block"),
    ],
)
def test_a_malformed_sealed_answer_is_one_security_error(answer: tuple[DataSet, ...], error: str) -> None:
    with pytest.raises(SecurityError, match=error):
        open_answer(ClearSealer(), answer)


def test_unwrap_passes_plain_answers_unless_encryption_is_required() -> None:
    plain = (DataSet.single("1.8.0", "1"),)
    assert unwrap_answer(None, plain) == plain
    assert unwrap_answer(ClearSealer(), plain) == plain
    with pytest.raises(SecurityError, match="plain text although encryption is required"):
        unwrap_answer(ClearSealer(), plain, require=True)
    with pytest.raises(SecurityError, match="no answer key"):
        unwrap_answer(None, seal_answer(ClearSealer(), plain))
    assert unwrap_answer(ClearSealer(), seal_answer(ClearSealer(), plain), require=True) == plain
