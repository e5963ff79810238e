""":class:`~.source.MeterSource` over today's :class:`~meterkit.meter.virtual.VirtualMeter` (read-only use of its
public state, controls through :class:`~meterkit.meter.control.ControlChannel`).  The meter host swaps this adapter
for one over its protocol-neutral meter service; the faces do not change."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Literal

from ..meter.control import Button, ControlChannel, ControlError, Cover, Load, Power, ResetButton
from ..meter.core import EVENT_CODES
from ..meter.registers import REGISTERS, read_register
from .source import (
    Control,
    CoverControl,
    FaceError,
    Identification,
    LoadControl,
    LogEntry,
    MeterStatus,
    PhaseLoad,
    Reading,
    SealedButton,
    SupplyControl,
)

if TYPE_CHECKING:
    from ..meter.virtual import VirtualMeter

__all__ = ["VirtualMeterSource"]

_MD_QUANTITY = {"1": "A+", "2": "A-", "9": "S+"}
_WARNING_KINDS = ("FAIL", "LOCK", "BRUTE", "DENIED", "REFUSED")


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def security_level(kind: str) -> Literal["info", "warning", "alarm"]:
    """Tamper and relay trips are alarms, failed logins and lockouts warnings, the rest information."""
    if kind.startswith(("COVER_OPEN_UNAUTH", "TAMPER", "RELAY_TRIP")) or "BRUTE" in kind:
        return "alarm"
    if any(word in kind for word in _WARNING_KINDS):
        return "warning"
    return "info"


class VirtualMeterSource:
    """One virtual meter as the faces see it.  ``channel``: the meter's control channel when the host already has
    one (so the cover switch state while unpowered is shared), else a new one."""

    def __init__(self, vm: VirtualMeter, channel: ControlChannel | None = None) -> None:
        self.vm = vm
        self.channel = channel or ControlChannel(vm)

    @property
    def serial(self) -> str:
        return self.vm.config.identity.serial

    def identification(self) -> Identification:
        ident = self.vm.config.identity
        return Identification(manufacturer=ident.manufacturer, model=ident.ident, serial=ident.serial)

    def readings(self) -> list[Reading]:
        meter = self.vm.meter
        now = meter.now
        out: list[Reading] = []
        for reg in REGISTERS:
            data = read_register(meter, reg.address)
            if data is None or not data.values:
                continue
            first = data.values[0]
            # numbers: values with a unit, power factors (x.7.0 without a unit) and the billing reset counter
            numeric = bool(reg.unit) or reg.address.split(".")[1] == "7" or reg.address == "0.1.0"
            number = _number(first.value) if numeric else None
            max_at: datetime | None = None
            q, kind, sub = [*reg.address.split("."), "", ""][:3]
            if kind == "6" and q in _MD_QUANTITY:
                md = meter.maximum(_MD_QUANTITY[q], None if sub == "0" else int(sub))
                max_at = None if md is None else md.at
            out.append(
                Reading(
                    address=reg.address,
                    value=number if number is not None else first.value,
                    unit=first.unit or reg.unit,
                    description=reg.description,
                    at=now,
                    max_at=max_at,
                )
            )
        return out

    def events(self, after: int = 0) -> list[LogEntry]:
        entries, dropped = self.vm.meter.events, self.vm.meter.events_dropped  # a ring: seq counts the dropped too
        first = max(after - dropped, 0)
        return [
            LogEntry(
                seq=i,
                at=e.at,
                kind=EVENT_CODES.get(e.code, f"event {e.code}"),
                text=e.text,
                level="warning" if e.code in (1, 6) else "info",
            )
            for i, e in enumerate(entries[first:], start=dropped + first + 1)
        ]

    def security_log(self, after: int = 0) -> list[LogEntry]:
        # the log's row numbers are stable across its eviction of old entries: read them (read-only)
        rows = self.vm.store.conn.execute(
            "SELECT n, at, kind, detail FROM security_log WHERE n > ? ORDER BY n", (after,)
        ).fetchall()
        return [
            LogEntry(seq=int(n), at=datetime.fromisoformat(a), kind=k, text=d, level=security_level(k))
            for n, a, k, d in rows
        ]

    def status(self) -> MeterStatus:
        vm = self.vm
        security = vm.security
        now = vm.meter.now
        live = vm.source is vm.live
        phases = vm.live.phases(now) if live else vm.meter.phase_inputs
        until = security.button_until
        powered = self.channel.powered
        return MeterStatus(
            at=now,
            powered=powered,
            cover_open=security.cover_open if powered else self.channel.cover_physically_open,
            relay_closed=security.relay_connected,
            button_armed=until is not None and now <= until,
            live_load=live,
            phases=tuple(
                PhaseLoad(voltage_v=p.voltage_v, current_a=p.current_a, angle_deg=p.angle_deg) for p in phases
            ),
            demand_window=str(vm.meter.demand_config),
            max_current_a=vm.config.metrology.max_current_a,
        )

    def control(self, command: Control) -> str:
        try:
            if isinstance(command, CoverControl):
                return self.channel.execute(Cover(open=command.open))
            if isinstance(command, SealedButton):
                return self.channel.execute(Button() if command.kind == "seal" else ResetButton())
            if isinstance(command, SupplyControl):
                return self.channel.execute(Power(up=command.on))
            if not isinstance(command, LoadControl):
                raise FaceError(f"unknown control {command!r}")
            load = command.load
            if command.phase is not None and command.phase not in (1, 2, 3):
                raise FaceError(f"phase must be 1, 2 or 3, got {command.phase}")
            targets = (0, 1, 2) if command.phase is None else (command.phase - 1,)
            triple = (load.voltage_v, load.current_a, load.angle_deg)
            return self.channel.execute(Load(phases=dict.fromkeys(targets, triple)))
        except ControlError as exc:
            raise FaceError(str(exc)) from None
