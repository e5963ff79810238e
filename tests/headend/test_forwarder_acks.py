"""The alarm forwarder counts a broker acknowledgement that arrives before it recorded the message id."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from meterkit.headend import AlarmOutbox, AlarmSealer
from meterkit.headend.mqtt import MqttForwarder
from meterkit.storage import NvStore


def test_an_acknowledgement_faster_than_the_publishing_thread_still_marks_the_alarm_delivered(tmp_path: Path) -> None:
    state = tmp_path / "meter.sqlite"
    outbox = AlarmOutbox(NvStore(state))
    outbox.raise_alarm("TAMPER", {"event": "COVER_OPEN_UNAUTH"}, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    forwarder = MqttForwarder(state, "mqtt://127.0.0.1:1/meterkit/alarms", AlarmSealer("MKT", "12345678", None))
    published: list[str] = []

    def publish(topic: str, payload: bytes, qos: int) -> Any:
        published.append(topic)
        mid = len(published)
        forwarder._on_publish(None, None, mid, None, None)  # paho's thread acknowledges before publish() returns
        return SimpleNamespace(mid=mid)

    forwarder.client = SimpleNamespace(publish=publish, is_connected=lambda: True)  # type: ignore[assignment]
    forwarder._cycle(outbox)
    forwarder._cycle(outbox)  # the next cycle forgets what the broker acknowledged
    assert published == ["meterkit/alarms/12345678"]  # once: not sent again, not left waiting
    assert outbox.pending() == []
