"""Seeds and mutations shared by the byte-level fuzzers: valid IEC 62056-21 messages of both directions, damaged in
the ways lines damage them (flipped bits, lost, repeated and inserted bytes, cut and spliced messages, control
characters, long garbage lines)."""

from __future__ import annotations

import random

from meterkit.iec62056_21.bcc import bcc
from meterkit.iec62056_21.messages import DataMessage, DataSet

_CONTROL = b"\x01\x02\x03\x04\x06\x15\r\n/!?()*;"


def _block(body: bytes) -> bytes:
    return body + bytes([bcc(body)])


def seeds() -> list[bytes]:
    """Messages a meter sends (identification, data, errors, acks) and a client sends (request, option select,
    commands, break)."""
    rows = tuple(DataSet.single(f"1.8.{i}", f"{i:06d}.{i:03d}", "kWh") for i in range(6))
    data = DataMessage(datasets=rows).to_bytes()
    return [
        b"/MKT5VM3PH-100\r\n",
        b"/MKT5\\2VM3PH-100\r\n",
        b"/?!\r\n",
        b"/?12345678!\r\n",
        b"\x06050\r\n",
        b"\x06051\r\n",
        b"\x06052\r\n",
        data,
        b"/MKT5VM3PH-100\r\n" + data,
        b"\x01" + _block(b"P0\x02(12345678)\x03"),
        b"\x01" + _block(b"P1\x02(20261125)\x03"),
        b"\x01" + _block(b"R5\x021.8.0()\x03"),
        b"\x01" + _block(b"R5\x02P.98(2611020930;2611020931)\x03"),
        b"\x01" + _block(b"W1\x02C.60.1(fixed 15)\x03"),
        b"\x01" + _block(b"E2\x02DEMAND.RESET()\x03"),
        b"\x01" + _block(b"B0\x03"),
        b"\x02" + _block(b"(ER02)\x03"),
        b"\x02" + _block(b"1.8.0(000123.456*kWh)\x04"),
        b"\x02" + _block(b"(0123456789ABCDEF)\x03"),
        b"\x06",
        b"\x15",
    ]


def mutate(rng: random.Random, pool: list[bytes]) -> bytes:
    """One damaged input: a seed (or two spliced) with 1-8 mutations, or random bytes."""
    roll = rng.random()
    if roll < 0.05:
        return rng.randbytes(rng.randrange(1, 64))
    if roll < 0.08:  # a long garbage line (the decoder's line limit is 256)
        return b"/" + bytes(rng.choice(b"ABC?!0123/") for _ in range(rng.randrange(200, 700))) + b"\r\n"
    data = bytearray(rng.choice(pool))
    if rng.random() < 0.2:
        data += rng.choice(pool)
    for _ in range(rng.randrange(1, 9)):
        if not data:
            data += rng.choice(pool)
        op = rng.randrange(7)
        i = rng.randrange(len(data))
        if op == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            del data[i]
        elif op == 2:
            data.insert(i, rng.choice(_CONTROL))
        elif op == 3:
            data.insert(i, rng.randrange(256))
        elif op == 4:
            j = min(len(data), i + rng.randrange(1, 8))
            data[i:i] = data[i:j]  # a repeated run
        elif op == 5:
            del data[i:]
        else:
            data[i] = rng.choice(_CONTROL)
    return bytes(data)


def chunks(rng: random.Random, data: bytes) -> list[bytes]:
    """``data`` cut at random places (as a serial line or TCP delivers it)."""
    out, i = [], 0
    while i < len(data):
        n = rng.choice((1, 1, 2, 3, 7, 16, 64, 1024))
        out.append(data[i : i + n])
        i += n
    return out
