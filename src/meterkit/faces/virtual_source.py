""":class:`~.source.MeterSource` over today's :class:`~meterkit.meter.virtual.VirtualMeter` (read-only use of its
public state, controls through :class:`~meterkit.meter.control.ControlChannel`).  The meter host swaps this adapter
for one over its protocol-neutral meter service; the faces do not change."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from ..meter.catalogue import DemandValue, Format, Quantity, catalogue
from ..meter.control import Button, ControlChannel, ControlError, Cover, Load, Power, ResetButton
from ..meter.core import EVENT_CODES
from ..meter.registers import format_reading
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

_WARNING_KINDS = ("FAIL", "LOCK", "BRUTE", "DENIED", "REFUSED")


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

    def readings(self, addresses: Collection[str] | None = None) -> list[Reading]:
        """The catalogue's typed values: quantities and demands as numbers in the register's unit, counts as
        numbers, the rest (times, settings, ``F.F``) as the text the port shows; those of ``addresses`` only, when
        given."""
        vm = self.vm
        meter = vm.meter
        now = meter.now
        scale = vm.config.demand.display_scale
        out: list[Reading] = []
        wanted = None if addresses is None else frozenset(addresses)
        for spec in catalogue().registers:
            if wanted is not None and spec.address not in wanted:
                continue
            typed = vm.reading(spec.address)
            value: Decimal | str
            max_at: datetime | None = None
            unit = spec.unit
            if isinstance(typed, Quantity):
                value, unit = typed.value, typed.unit or spec.unit
            elif isinstance(typed, DemandValue):
                value, max_at = typed.value_kw, typed.at
            elif spec.format is Format.INSTANT:  # no measurement yet: the port shows 0
                value = Decimal(0)
            elif spec.format is Format.COUNT and isinstance(typed, int):
                value = Decimal(typed)
            else:
                groups = format_reading(spec, typed, zone=meter.zone, scale=scale)
                if not groups:
                    continue
                value, unit = groups[0].value, groups[0].unit or spec.unit
            out.append(
                Reading(
                    address=spec.address, value=value, unit=unit, description=spec.description, at=now, max_at=max_at
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
        # the log's numbers are stable across its eviction of old entries
        return [
            LogEntry(seq=e.seq, at=e.at, kind=e.kind, text=e.detail, level=security_level(e.kind))
            for e in self.vm.security.log_entries(after)
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
