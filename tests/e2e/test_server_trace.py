"""The server's ``--trace``: every frame says which endpoint and connection it belongs to, with wall-clock ISO times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from meterkit.client import MeterClient
from meterkit.iec62056_21.trace import FrameRecord
from meterkit.meter.static_table import StaticTableMeter
from meterkit.transport import open_transport

from .conftest import running_server


def test_server_trace_labels_frames_with_endpoint_connection_and_wall_clock_time() -> None:
    records: list[FrameRecord] = []
    before = datetime.now(UTC)
    with running_server(StaticTableMeter(), ["tcp://127.0.0.1:0", "pty"], trace=records.append) as server:
        for _ in range(2):
            with MeterClient(open_transport(server.tcp_url)) as client:
                client.readout()
        with MeterClient(open_transport(server.pty_path)) as client:
            client.readout()
    after = datetime.now(UTC)
    tcp = server.tcp_url.replace("socket://", "tcp://")
    labels = [r.label for r in records]
    assert {f"{tcp} #1", f"{tcp} #2", f"pty {server.pty_path} #1"} == set(labels)
    first = [r for r in records if r.label == f"{tcp} #1"]
    assert [r.direction for r in first[:2]] == ["<-", "->"] and first[0].data == b"/?!\r\n"
    assert all(r.wall is not None and before <= r.wall <= after for r in records)
    line = first[0].format()
    assert re.fullmatch(
        rf"{re.escape(tcp)} #1 \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}\+00:00 <- /\?!<CR><LF>  \[2F 3F 21 0D 0A\]",
        line,
    ), line
