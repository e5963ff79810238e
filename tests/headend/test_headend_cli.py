"""``meterkit keys headend``, ``keys derive --alarm`` and ``headend listen``: the key file, and one error line with
the right exit code for every bad input (no broker needed)."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from pathlib import Path
from typing import ClassVar

import pytest

import meterkit.headend.listen as listen_module
from meterkit.cli.app import main
from meterkit.cli.headend import verify_or_reject
from meterkit.headend.listen import Received
from meterkit.headend.verify import AlarmVerifier, VerifiedAlarm, load_alarm_keys
from meterkit.host.host import run_meter
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path
from meterkit.storage import NvStore
from tests.faces.meters import START

from .test_alarm_signature import DEMO_ALARM_KEY, DEMO_MASTER, EXAMPLE


@pytest.fixture
def master(tmp_path: Path) -> Path:
    path = tmp_path / "demo-master.key"
    path.write_text(DEMO_MASTER.hex() + "\n")
    return path


def test_keys_headend_writes_the_alarm_keys_only_and_refuses_to_overwrite(
    tmp_path: Path, master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "headend-keys.json"
    args = ["keys", "headend", "--master", str(master), "--meters", "MKT:12345678,MKT:87654321", "--out", str(out)]
    assert main(args) == 0
    keys = load_alarm_keys(out)
    assert keys["MKT:12345678"] == DEMO_ALARM_KEY and set(keys) == {"MKT:12345678", "MKT:87654321"}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert DEMO_MASTER.hex() not in out.read_text()
    capsys.readouterr()
    assert main(args) == 1
    assert capsys.readouterr().err == (
        f"meterkit keys headend: error: {out} exists; refusing to overwrite a key file (--force replaces it)\n"
    )
    assert main([*args, "--force"]) == 0


def test_keys_derive_alarm_prints_the_meters_alarm_key(master: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "derive", "--master", str(master), "--meter", "MKT:12345678", "--alarm"]) == 0
    assert capsys.readouterr().out == DEMO_ALARM_KEY.hex().upper() + "\n"


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["http://x", "--keys", "KEYS"], 2, "head-end 'http://x': use mqtt://HOST[:PORT]/TOPIC"),
        (["mqtt://127.0.0.1:1/a", "--keys", "MISSING"], 1, "cannot read the alarm keys (No such file or directory)"),
        (["mqtt://127.0.0.1:1/a", "--keys", "KEYS"], 1, "MQTT broker 127.0.0.1:1: Connection refused"),
        (["mqtt://127.0.0.1:1/a", "--keys", "KEYS", "--seen", "BROKEN"], 1, "not a file of accepted sequence numbers"),
        (["mqtt://127.0.0.1:1/a", "--keys", "KEYS", "--count", "0"], 2, "'--count'"),
    ],
)
def test_headend_listen_refuses_bad_input_in_one_line(
    tmp_path: Path, master: Path, capsys: pytest.CaptureFixture[str], extra: list[str], code: int, message: str
) -> None:
    keys = tmp_path / "keys.json"
    assert main(["keys", "headend", "--master", str(master), "--meters", "MKT:12345678", "--out", str(keys)]) == 0
    (tmp_path / "broken.json").write_text("{")
    names = {"KEYS": str(keys), "MISSING": str(tmp_path / "none.json"), "BROKEN": str(tmp_path / "broken.json")}
    capsys.readouterr()
    assert main(["headend", "listen", *(names.get(a, a) for a in extra)]) == code
    captured = capsys.readouterr()
    assert captured.err.startswith("meterkit headend listen: error: ") and captured.err.count("\n") == 1
    assert message in captured.err


def test_serve_warns_when_a_meter_with_only_level_keys_sends_unsigned_alarms(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = demo_config_path().read_text()
    line = next(x for x in text.splitlines() if x.startswith("master_key = "))
    keyless = VirtualMeter(
        load_config(text=text.replace(line, f'level2_key = "{"11" * 32}"\nlevel3_key = "{"22" * 32}"')),
        store=NvStore(tmp_path / "meter.sqlite"),
    )
    sealer = keyless.outbox.sealer
    assert sealer is not None and sealer.key is None
    assert "mac" not in json.loads(sealer.message(alarm_id="a", seq=1, kind="TAMPER", at=START, details={}))

    async def serve_briefly() -> None:
        stop = asyncio.Event()
        stop.set()
        await run_meter(
            keyless, ["tcp://127.0.0.1:0"], headend="mqtt://127.0.0.1:1/a", state=tmp_path / "meter.sqlite", stop=stop
        )

    with caplog.at_level(logging.WARNING, logger="meterkit.host.host"):
        asyncio.run(serve_briefly())
    assert "head-end alarms go unsigned" in caplog.text


class _Subscription:
    """Stands in for the broker: hands out the messages given, then None (as after --timeout)."""

    messages: ClassVar[list[tuple[str, bytes]]] = []

    def __init__(self, url: str) -> None:
        self.filter = "meterkit/alarms/+"
        self.queue = list(self.messages)

    def start(self) -> None:
        pass

    def next(self, timeout: float | None = None) -> Received | None:
        return Received(*self.queue.pop(0)) if self.queue else None

    def stop(self) -> None:
        pass


def test_headend_listen_rejects_a_hostile_message_in_one_line_and_goes_on(
    tmp_path: Path, master: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys.json"
    assert main(["keys", "headend", "--master", str(master), "--meters", "MKT:12345678", "--out", str(keys)]) == 0
    topic = "meterkit/alarms/12345678"
    monkeypatch.setattr(_Subscription, "messages", [(topic, b"[" * 100_000), (topic, b"[" * 3_000), (topic, EXAMPLE)])
    monkeypatch.setattr(listen_module, "AlarmSubscription", _Subscription)
    capsys.readouterr()
    assert main(["headend", "listen", "mqtt://127.0.0.1:1/meterkit/alarms", "--keys", str(keys)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        f"REJECTED {topic}: malformed: 100000 bytes, more than the 4096 bytes of any alarm",
        f"REJECTED {topic}: malformed: not JSON (nested too deeply)",
        "MKT:12345678 #7 TAMPER at 2026-11-02T09:00:00+00:00 event=COVER_OPEN_UNAUTH relay=open",
    ]


def test_a_message_the_verifier_did_not_foresee_is_rejected_not_the_listeners_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(AlarmVerifier):
        def verify(self, payload: bytes, topic: str | None = None) -> VerifiedAlarm:
            if payload == b"bug":
                raise ZeroDivisionError("division by zero")
            return super().verify(payload, topic)

    verifier = Broken({"MKT:12345678": DEMO_ALARM_KEY})
    topic = "meterkit/alarms/12345678"
    with caplog.at_level(logging.ERROR, logger="meterkit.cli.headend"):
        assert verify_or_reject(verifier, b"bug", topic) == (
            f"REJECTED {topic}: malformed: cannot be verified (ZeroDivisionError)"
        )
    assert "verifying failed (ZeroDivisionError: division by zero)" in caplog.text
    alarm = verify_or_reject(verifier, EXAMPLE, topic)
    assert isinstance(alarm, VerifiedAlarm) and alarm.seq == 7
