"""Byte-level fuzzer of the hand-held side (:class:`~meterkit.iec62056_21.client.ClientConnection`): what a damaged,
hostile or confused meter sends, cut into random chunks, with timers firing at random moments.

The client drives a session as ``meterkit read``/``get`` do (sign-on; on an identification the option select for
programming; in programming mode a password and reads; in a readout the end) and each input is a sequence of meter
messages, mutated.  Invariants: received bytes and timers never raise; the client is always in one of its states;
what it asks to transmit is bytes; a session always ends or waits with a timer armed (never stuck with no timer while
it awaits something).  Stops after ``--inputs`` inputs or ``--seconds``; exit 1 on a finding.

    python fuzz/fuzz_client.py --inputs 1000000 --seconds 600
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import chunks, mutate, seeds

from meterkit.errors import LocalProtocolError
from meterkit.iec62056_21.client import ClientConnection
from meterkit.iec62056_21.events import IdentificationReceived, Transmit
from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.iec62056_21.transitions import ClientState

_AWAITING = {
    ClientState.AWAIT_IDENT,
    ClientState.AWAIT_READOUT,
    ClientState.AWAIT_OPERAND,
    ClientState.AWAIT_ANSWER,
    ClientState.AWAIT_MODE_E,
}
_READ = CommandMessage(command="R", command_type="5", data_set=DataSet.single("1.8.0", ""))
_PASSWORD = CommandMessage(command="P", command_type="1", data_set=DataSet.single("", "20261125"))


def session(rng: random.Random, data: bytes) -> str | None:
    """Run one fuzzed session; a finding as text, or None."""
    client = ClientConnection()
    now = 0.0
    client.sign_on(now)
    for part in chunks(rng, data):
        now += rng.choice((0.0, 0.01, 0.2, 1.0, 3.0))
        deadline = client.deadline()
        if deadline is not None and now >= deadline and rng.random() < 0.5:
            client.handle_timer(deadline)
        client.receive_data(part, now)
        for directive in client.outputs():
            if isinstance(directive, Transmit) and not isinstance(directive.data, bytes):
                return f"transmit of {type(directive.data).__name__}"
        while (event := client.next_event()) is not None:
            try:  # what the user does next; refusals of the user's own calls are not findings
                if isinstance(event, IdentificationReceived) and client.state is ClientState.IDENTIFIED:
                    client.select_option(now, mode="1")
                elif client.state is ClientState.PROGRAMMING:
                    client.send(_PASSWORD if rng.random() < 0.3 else _READ, now)
            except LocalProtocolError:
                pass
        if not isinstance(client.state, ClientState):
            return f"state {client.state!r}"
    client.receive_data(b"", now + 1)
    if client.state in _AWAITING and client.deadline() is None:
        return f"stuck in {client.state.value} with no timer"
    deadline = client.deadline()
    if deadline is not None:
        client.handle_timer(deadline)
    return None


def script(rng: random.Random, pool: list[bytes]) -> bytes:
    """A plausible meter side of a session, each message damaged with probability 0.3."""
    from meterkit.iec62056_21.bcc import bcc

    operand = b"P0\x02(12345678)\x03"
    answers = [b"\x06", b"\x02" + b"(000123.456*kWh)\x03", b"\x02(ER02)\x03", b"\x15"]
    parts = [b"/MKT5VM3PH-100\r\n", b"\x01" + operand + bytes([bcc(operand)])]
    for _ in range(rng.randrange(1, 5)):
        answer = rng.choice(answers)
        if answer.startswith(b"\x02"):
            answer = answer + bytes([bcc(answer[1:])])
        parts.append(answer)
    return b"".join(mutate(rng, [p]) if rng.random() < 0.3 else p for p in parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pool = seeds()
    findings: list[tuple[bytes, str]] = []
    start = time.monotonic()
    n = 0
    while n < args.inputs and time.monotonic() - start < args.seconds:
        data = script(rng, pool) if n % 2 else b"".join(mutate(rng, pool) for _ in range(rng.randrange(1, 4)))
        try:
            found = session(rng, data)
        except Exception as exc:  # received bytes and timers must never raise
            found = f"{type(exc).__name__}: {exc}"
        if found is not None:
            findings.append((data, found))
        n += 1
    elapsed = time.monotonic() - start
    print(f"client fuzz: {n} inputs in {elapsed:.0f} s ({n / elapsed:.0f}/s), {len(findings)} findings")
    for data, what in findings[:10]:
        print(f"  {what}: {data!r}")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
