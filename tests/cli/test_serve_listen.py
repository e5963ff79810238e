"""``meterkit serve --listen`` with a malformed endpoint: one error line and exit code 2, before anything starts."""

from __future__ import annotations

import pytest

from meterkit.cli.app import main
from meterkit.errors import ConfigError
from meterkit.transport.server import tcp_listen_address

BAD = [
    ("tcp://127.0.0.1:21OO", "Port could not be cast to integer value as '21OO'"),
    ("tcp://127.0.0.1:99999", "Port out of range 0-65535"),
    ("tcp://127.0.0.1:65536", "Port out of range 0-65535"),
    ("tcp://127.0.0.1:-1", "Port could not be cast to integer value as '-1'"),
    ("tcp://127.0.0.1", "a TCP endpoint needs a port"),
    ("tcp://::1:2100", "Port could not be cast"),
    ("tcp://127.0.0.1:2100/meter", "nothing after the port"),
    ("udp://127.0.0.1:2100", "use tcp://HOST:PORT, pty or serial:///dev/DEVICE"),
    ("serial://", "name a device"),
]


@pytest.mark.parametrize(("url", "message"), BAD, ids=[u for u, _ in BAD])
def test_a_malformed_listen_url_is_one_line_and_exit_code_2(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--listen", "pty", "--listen", url]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("meterkit serve: error: ") and "--listen" in lines[0] and message in lines[0]
    assert url in lines[0] and "Traceback" not in err and out == ""


def test_listen_addresses_keep_port_0_for_a_free_port_and_brackets_for_ipv6() -> None:
    assert tcp_listen_address("tcp://127.0.0.1:0") == ("127.0.0.1", 0)
    assert tcp_listen_address("tcp://127.0.0.1:2100") == ("127.0.0.1", 2100)
    assert tcp_listen_address("tcp://[::1]:2100") == ("::1", 2100)
    with pytest.raises(ConfigError, match=r"^--listen tcp://127.0.0.1:99999: Port out of range"):
        tcp_listen_address("tcp://127.0.0.1:99999")
