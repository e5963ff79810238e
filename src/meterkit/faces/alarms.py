"""The head-end alarms through the faces' MQTT link: one client, one outbox for alarms and readings.

:class:`AlarmBridge` moves each pending alarm of the meter's :class:`~meterkit.headend.AlarmOutbox` into the link's
outbox (the same signed message, :mod:`meterkit.headend.message`, and topic ``TOPIC/<meter>`` as
:class:`~meterkit.headend.mqtt.MqttForwarder`), then marks it delivered there.  Both tables live in the meter's
store, so an alarm is always in one of them until the broker acknowledged it; a crash between the two steps sends
it twice, with the same id and sequence number, which the head-end drops.
"""

from __future__ import annotations

from ..headend import AlarmOutbox, AlarmSealer
from .mqtt_link import MqttLink, MqttMessage

__all__ = ["AlarmBridge"]


class AlarmBridge:
    def __init__(self, alarms: AlarmOutbox, link: MqttLink, meter: str, topic: str = "meterkit/alarms") -> None:
        self.alarms = alarms
        self.link = link
        self.meter = meter
        self.topic = topic.strip("/")
        # an outbox without a sealer (a bare one in a test) sends unsigned messages
        self.sealer = alarms.sealer or AlarmSealer(flag="", meter=meter, key=None)

    def __call__(self) -> int:
        """Move what is pending; returns how many alarms moved."""
        pending = self.alarms.pending()
        for alarm in pending:
            self.link.enqueue([MqttMessage(topic=f"{self.topic}/{self.meter}", payload=alarm.message(self.sealer))])
            self.alarms.delivered(alarm.id)
        return len(pending)
