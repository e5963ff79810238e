"""Every in-memory session of the protocol suite must keep both ends of the line on the same settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meterkit.iec62056_21.testing import ConnectionPair


@pytest.fixture(autouse=True)
def _lines_agree_in_every_pair(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Record each :class:`ConnectionPair` a test builds and fail the test if bytes ever crossed while the meter and
    the client were on different lines (baud rate, data bits, parity).  Pairs whose client was bypassed with
    ``client_send_raw`` (fuzzing the meter) are exempt: the real client never saw what the meter switched on."""
    pairs: list[ConnectionPair] = []
    original = ConnectionPair.__init__

    def init(self: ConnectionPair, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        pairs.append(self)

    monkeypatch.setattr(ConnectionPair, "__init__", init)
    yield
    for pair in pairs:
        if not pair.client_bypassed:
            pair.assert_lines_agree()
