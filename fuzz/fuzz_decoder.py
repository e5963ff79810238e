"""Byte-level fuzzer of the IEC 62056-21 decoder, both roles (what a meter receives, what a client receives).

For every input: the decoder never raises, and its output does not depend on how the bytes are cut into chunks
(all at once versus random chunks; byte by byte for every 20th input), as docs/protocol.md states.  Stops after
``--inputs`` inputs or ``--seconds``, whichever comes first; prints inputs, findings and the rate.  Exit 1 on a
finding (the first few are printed with their bytes, to be kept as regression tests).

    python fuzz/fuzz_decoder.py --inputs 1000000 --seconds 600
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import chunks, mutate, seeds

from meterkit.iec62056_21.decoder import Decoder


def decode(role: str, parts: list[bytes]) -> list[str]:
    decoder = Decoder(role)  # type: ignore[arg-type]
    out: list[str] = []
    for part in parts:
        out += [repr(item) for item in decoder.feed(part)]
    out += [repr(item) for item in decoder.feed(b"")]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pool = seeds()
    findings: list[tuple[str, bytes, str]] = []
    start = time.monotonic()
    n = 0
    while n < args.inputs and time.monotonic() - start < args.seconds:
        data = mutate(rng, pool)
        role = "meter" if n % 2 else "client"
        try:
            whole = decode(role, [data])
            cut = decode(role, chunks(rng, data))
            if cut != whole:
                findings.append((role, data, "random chunks decode differently from one chunk"))
            elif n % 20 == 0 and decode(role, [data[i : i + 1] for i in range(len(data))]) != whole:
                findings.append((role, data, "byte-by-byte decodes differently from one chunk"))
        except Exception as exc:  # a finding: the decoder must never raise on received bytes
            findings.append((role, data, f"{type(exc).__name__}: {exc}"))
        n += 1
    elapsed = time.monotonic() - start
    print(f"decoder fuzz: {n} inputs in {elapsed:.0f} s ({n / elapsed:.0f}/s), {len(findings)} findings")
    for role, data, what in findings[:10]:
        print(f"  {role}: {what}: {data!r}")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
