"""Our client reads our meter over real TCP sockets and a real pseudo-terminal."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from meterkit.client import MeterClient, PasswordAuthenticator
from meterkit.errors import DeviceError, TransportTimeout
from meterkit.iec62056_21.client import ClientConfig
from meterkit.iec62056_21.messages import DataSet
from meterkit.iec62056_21.meter import MeterPortConfig
from meterkit.meter.static_table import StaticTableMeter
from meterkit.transport import open_transport

from .conftest import running_server

MODES = [("A", "Z"), ("B", "E"), ("C", "5")]


def meter(mode: str = "C", z: str = "5", **kw: object) -> StaticTableMeter:
    return StaticTableMeter(
        config=MeterPortConfig(manufacturer="MKt", ident="E2E", baud_char=z, protocol_mode=mode, **kw)
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(("mode", "z"), MODES)
@pytest.mark.parametrize("medium", ["tcp", "pty"])
def test_client_reads_meter_in_every_readout_mode(mode: str, z: str, medium: str) -> None:
    app = meter(mode, z)
    with running_server(app, ["tcp://127.0.0.1:0", "pty"]) as server:
        url = server.tcp_url if medium == "tcp" else server.pty_path
        with MeterClient(open_transport(url)) as client:
            readout = client.readout()
    assert readout.mode == mode
    assert readout.identification.ident == "E2E"
    assert {ds.address: ds.value for ds in readout.datasets}["1.8.0"] == "001234.567"


@pytest.mark.parametrize("medium", ["tcp", "pty"])
def test_programming_session_p0_p1_r1_w1_b0_over_a_real_line(medium: str) -> None:
    app = meter()
    with running_server(app, ["tcp://127.0.0.1:0", "pty"]) as server:
        url = server.tcp_url if medium == "tcp" else server.pty_path
        with MeterClient(open_transport(url)) as client:
            assert client.programming(PasswordAuthenticator("00000000")) == app.operand
            assert client.read("1.8.0")[0].value == "001234.567"
            client.write("1.8.1", "000001.000")
            assert client.read("1.8.1")[0].value == "000001.000"
            with pytest.raises(DeviceError, match="ERUNKNOWN"):
                client.read("99.99.99")
        # a new session works after the B0 sent on close
        with MeterClient(open_transport(url)) as client:
            assert client.readout().datasets


def test_partial_block_read_over_tcp() -> None:
    app = meter()
    app.registers["P.01"] = DataSet.single("P.01", "9" * 300)
    app.block_size = 64
    with running_server(app, ["tcp://127.0.0.1:0"]) as server, MeterClient(open_transport(server.tcp_url)) as client:
        client.programming(PasswordAuthenticator("00000000"))
        datasets = client.read("P.01", partial=True)
    assert "".join(ds.value for ds in datasets) == "9" * 300 and len(datasets) == 5


def test_wrong_password_is_a_device_error_with_the_meters_text() -> None:
    with (
        running_server(meter(), ["tcp://127.0.0.1:0"]) as server,
        MeterClient(open_transport(server.tcp_url)) as client,
    ):
        with pytest.raises(DeviceError, match="refused P1: ERPASSWORD"):
            client.programming(PasswordAuthenticator("wrong"))


def test_address_mismatch_times_out_with_a_clear_error() -> None:
    app = meter(device_address="4711")
    cfg = ClientConfig(device_address="4712", response_timeout=0.5)
    with running_server(app, ["tcp://127.0.0.1:0"]) as server:
        with (
            MeterClient(open_transport(server.tcp_url), cfg) as client,
            pytest.raises(TransportTimeout, match="identification"),
        ):
            client.readout()
        with MeterClient(open_transport(server.tcp_url), ClientConfig(device_address="0004711")) as client:
            assert client.readout().identification.ident == "E2E"


def test_many_clients_at_once_and_a_garbage_client_does_not_hurt_them() -> None:
    with running_server(meter(), ["tcp://127.0.0.1:0"]) as server:
        host, port = server.tcp_url.removeprefix("socket://").split(":")
        junk = socket.create_connection((host, int(port)))
        junk.sendall(bytes(range(256)) * 8 + b"\x01\x02\x03" * 100 + b"/?" + b"A" * 5000)
        results: list[int] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                with MeterClient(open_transport(server.tcp_url)) as client:
                    results.append(len(client.readout().datasets))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        junk.close()
    assert errors == [] and results == [9] * 8


def test_trace_hook_sees_every_frame_with_the_password_redacted() -> None:
    lines: list[str] = []
    with running_server(meter(), ["tcp://127.0.0.1:0"]) as server:
        with MeterClient(open_transport(server.tcp_url), trace=lambda r: lines.append(r.format())) as client:
            client.programming(PasswordAuthenticator("00000000"))
    text = "\n".join(lines)
    assert "-> /?!<CR><LF>" in text and "<- /MKt5E2E<CR><LF>" in text
    assert "<SOH>P1<STX>(***)<ETX>" in text and "00000000" not in text
    assert "-> <SOH>B0<ETX>q" in text


def test_baud_emulation_paces_the_readout_at_the_negotiated_rate() -> None:
    app = meter("A", "Z")  # mode A stays at 300 Bd
    with running_server(app, ["tcp://127.0.0.1:0"], baud_emulation=True) as server:
        with MeterClient(open_transport(server.tcp_url)) as client:
            start = time.monotonic()
            readout = client.readout()
            elapsed = time.monotonic() - start
    size = len(readout.datasets)
    assert size == 9
    # ident (14 chars) + readout (~190 chars) at 300 Bd take well over a second; without pacing it is ~0.2 s
    assert elapsed > 1.0


@pytest.mark.parametrize(("mode", "z"), [("A", "Z"), ("B", "E")])
def test_the_hand_held_programs_a_mode_a_or_b_meter_after_its_readout(mode: str, z: str) -> None:
    from meterkit.client import MeterClient, PasswordAuthenticator
    from meterkit.client.keypackage import KeyPackageAuthenticator
    from meterkit.errors import DeviceError
    from meterkit.meter.config import load_config
    from meterkit.meter.virtual import VirtualMeter, demo_config_path
    from meterkit.security.package import KeyPackage
    from meterkit.transport import open_transport

    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    text = text.replace('protocol_mode = "C"', f'protocol_mode = "{mode}"').replace(
        'baud_char = "5"', f'baud_char = "{z}"'
    )
    vm = VirtualMeter(load_config(text=text), follow_clock=False)
    with running_server(vm, ["tcp://127.0.0.1:0"]) as server:
        with MeterClient(open_transport(server.tcp_url)) as client:
            assert client.programming(PasswordAuthenticator("20261125")) == ""  # no P0 in modes A and B
            (md,) = client.read("1.6.0")  # level 2: not in the public readout
            assert md.address == "1.6.0" and md.unit == "kW"
        package = KeyPackage(issuer="x", hhu="H", not_after=vm.meter.now, meters={})
        with MeterClient(open_transport(server.tcp_url)) as client:
            with pytest.raises(DeviceError, match="only a password can authenticate"):
                client.programming(KeyPackageAuthenticator(package, 3))
    assert [e.kind for e in vm.security.log_entries()].count("AUTH_OK") == 1
