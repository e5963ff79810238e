"""``meterkit headend listen``: the head-end's end of the alarms: verify each one, print it or reject it."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError, DataError
from ..headend.verify import (
    AlarmRejected,
    AlarmVerifier,
    ForgedAlarm,
    MalformedAlarm,
    ReplayedAlarm,
    UnknownMeter,
    VerifiedAlarm,
    load_alarm_keys,
)

__all__ = ["register", "verified_line", "verify_or_reject"]

log = logging.getLogger(__name__)

_WHY = {ForgedAlarm: "forged", ReplayedAlarm: "replayed", UnknownMeter: "unknown meter", MalformedAlarm: "malformed"}


def verified_line(alarm: VerifiedAlarm) -> str:
    details = " ".join(f"{k}={v}" for k, v in sorted(alarm.details.items()))
    missed = f" ({alarm.missed} missed before it)" if alarm.missed else ""
    return f"{alarm.meter} #{alarm.seq} {alarm.kind} at {alarm.at.isoformat()} {details}".rstrip() + missed


def rejected_line(topic: str, exc: AlarmRejected) -> str:
    return f"REJECTED {topic}: {_WHY.get(type(exc), 'rejected')}: {exc}"


def verify_or_reject(verifier: AlarmVerifier, payload: bytes, topic: str) -> VerifiedAlarm | str:
    """The verified alarm, or the REJECTED line of a message; whatever a message holds, the listener goes on."""
    try:
        return verifier.verify(payload, topic)
    except AlarmRejected as exc:
        return rejected_line(topic, exc)
    except Exception as exc:  # a message the verifier did not foresee is no alarm: rejected, not the listener's end
        log.error("alarm on %s: verifying failed (%s: %s)", topic, type(exc).__name__, exc)
        return rejected_line(topic, MalformedAlarm(f"cannot be verified ({type(exc).__name__})"))


def _load_seen(path: Path | None) -> dict[str, int]:
    if path is None or not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a file of accepted sequence numbers ({exc})") from exc
    if not isinstance(doc, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in doc.values()):
        raise DataError(f"{path}: not a file of accepted sequence numbers (meter -> number)")
    return {str(k): int(v) for k, v in doc.items()}


def _save_seen(path: Path, seen: dict[str, int]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(seen, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def register(app: typer.Typer) -> None:
    """Add ``headend`` with its sub-command."""
    headend = typer.Typer(help="The head-end's end of the meters' alarms.", no_args_is_help=True)
    app.add_typer(headend, name="headend")

    @headend.command("listen")
    def listen(
        url: Annotated[str, typer.Argument(help="The alarms' broker and topic: mqtt://HOST[:PORT]/TOPIC.")],
        keys: Annotated[Path, typer.Option("--keys", help="Alarm keys of the meters (meterkit keys headend).")],
        seen: Annotated[
            Path | None,
            typer.Option("--seen", help="Keep the last accepted sequence number per meter here (across restarts)."),
        ] = None,
        count: Annotated[int | None, typer.Option("--count", min=1, help="Stop after N messages.")] = None,
        timeout: Annotated[
            float | None, typer.Option("--timeout", min=0.1, help="Stop after S seconds without a message.")
        ] = None,
    ) -> int:
        """Subscribe to TOPIC/+, verify every alarm (MAC with the meter's alarm key, sequence number) and print one
        line per message: the alarm, or REJECTED with the reason (forged, replayed, unknown meter, malformed)."""
        from ..headend.listen import AlarmSubscription  # paho-mqtt only here
        from ..headend.mqtt import parse_headend_url

        try:
            parse_headend_url(url)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="URL") from exc
        verifier = AlarmVerifier(load_alarm_keys(keys), _load_seen(seen))
        subscription = AlarmSubscription(url)
        subscription.start()
        typer.echo(f"verifying alarms on {url} ({subscription.filter})")
        handled = 0
        try:
            while count is None or handled < count:
                msg = subscription.next(timeout)
                if msg is None:
                    break
                handled += 1
                alarm = verify_or_reject(verifier, msg.payload, msg.topic)
                if isinstance(alarm, str):
                    typer.echo(alarm)
                    continue
                if seen is not None:
                    _save_seen(seen, verifier.last_seq)
                typer.echo(verified_line(alarm))
        finally:
            subscription.stop()
        return 0
