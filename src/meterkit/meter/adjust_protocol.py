"""The adjustment port's protocol: a few text commands for the production test bench, sans-IO.

The adjustment port is the meter's calibration header on the PCB: a separate endpoint with no connection to the
optical port (``meterkit serve --adjust-port tcp://127.0.0.1:PORT`` or ``--adjust-port pty``).  One command a line
(case-insensitive), exactly one reply line: ``ok`` and ``key=value`` fields, or ``error: reason``.

=========================================  ==========================================================================
``id``                                     ``serial`` ``fw`` (0.2.0) ``legal`` (0.2.8) ``cal`` (calibration checksum)
                                           ``sealed`` (``no`` or the time the meter left manufacturing), and the
                                           nameplate: ``un`` (V), ``iref`` and ``imax`` (A), ``class``
``read``                                   the present input as the channels see it: per phase ``Ln.raw.v``,
                                           ``Ln.raw.i``, ``Ln.raw.phi`` (uncorrected) and ``Ln.v``, ``Ln.i``,
                                           ``Ln.phi``, ``Ln.p`` (corrected: what the meter measures)
``cal``                                    the correction set: ``Ln.vgain`` ``Ln.igain`` ``Ln.phase`` ``Ln.ioffset``
``set Ln vgain|igain|phase|ioffset X``     write one correction (committed at once, logged); refused once sealed
``clear``                                  back to the identity corrections; refused once sealed
``energy``                                 the test output: ``t`` meter time, ``ap`` import active energy in
                                           10⁻¹² J (exact, the meter's integer accumulator)
``seal``                                   leave manufacturing: every later write is refused, forever
``help``
=========================================  ==========================================================================

Corrections: ``V = vgain·V'``, ``I = igain·(I' - ioffset)``, ``φ = φ' + phase`` (degrees, current lagging) for the raw
channel values ``V'``, ``I'``, ``φ'``.  A refused write after sealing is logged (event 06); writes and the seal are
logged as parameter changes (event 05), and so is the change of ``0.2.8`` they cause.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import MeterkitError
from .adjustment import CORRECTION_NAMES, PHASES
from .legal import LEGAL_VERSION, legal_checksum
from .metrology import PhaseInput, measure

if TYPE_CHECKING:
    from .virtual import VirtualMeter

__all__ = ["HELP", "MAX_LINE", "AdjustmentPort", "parse_reply"]

MAX_LINE = 256
HELP = "commands: id; read; cal; set L1|L2|L3 vgain|igain|phase|ioffset VALUE; clear; energy; seal; help"


class AdjustError(MeterkitError):
    """A command the adjustment port cannot carry out."""


def parse_reply(reply: str) -> dict[str, str]:
    """``ok a=1 b=x`` -> ``{"a": "1", "b": "x"}``; AdjustError with the reason for ``error: ...``."""
    if reply.startswith("error:"):
        raise AdjustError(reply[len("error:") :].strip())
    if not (reply == "ok" or reply.startswith("ok ")):
        raise AdjustError(f"not an adjustment-port reply: {reply[:60]!r}")
    fields: dict[str, str] = {}
    for token in reply[2:].split():
        key, eq, value = token.partition("=")
        if eq:
            fields[key] = value
    return fields


def _number(token: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise AdjustError(f"{token!r} is not a number") from None
    if not math.isfinite(value):
        raise AdjustError(f"{token!r} is not a finite number")
    return value


class AdjustmentPort:
    """One meter's adjustment port: ``handle(line) -> reply``, never raises."""

    def __init__(self, meter: VirtualMeter) -> None:
        self.vm = meter

    def handle(self, line: str) -> str:
        try:
            return " ".join(self._execute(line).split())
        except MeterkitError as exc:
            return "error: " + " ".join(str(exc).split())
        except Exception as exc:  # a bug here must not take the meter down
            return f"error: internal error: {type(exc).__name__}"

    def _execute(self, line: str) -> str:
        if len(line) > MAX_LINE:
            raise AdjustError(f"line too long (at most {MAX_LINE} characters)")
        words = line.split()
        if not words:
            raise AdjustError("empty command (try help)")
        verb, args = words[0].lower(), words[1:]
        if verb in ("help", "?") and not args:
            return "ok " + HELP
        if not self.vm.meter.powered:
            raise AdjustError("the meter is powered down")
        self.vm.tick()
        if verb == "id" and not args:
            return self._id()
        if verb == "read" and not args:
            return self._read()
        if verb == "cal" and not args:
            cal = self.vm.calibration.corrections
            return "ok " + " ".join(
                f"{PHASES[i]}.{name}={cal.value(i, name):.{places}f}"
                for i in range(3)
                for name, (_a, places, _lo, _hi) in CORRECTION_NAMES.items()
            )
        if verb == "energy" and not args:
            meter = self.vm.meter
            return f"ok t={meter.now.isoformat()} ap={meter.registers.exact('A+')}"
        if verb == "set":
            return self._set(args)
        if verb == "clear" and not args:
            self.vm.calibration.clear()
            self.vm.save()
            return f"ok cal={self.vm.calibration.corrections.checksum()}"
        if verb == "seal" and not args:
            self.vm.calibration.seal()
            self.vm.save()
            sealed = self.vm.calibration.record.sealed_at
            return f"ok sealed={sealed.isoformat() if sealed else '?'} cal={self.vm.calibration.corrections.checksum()}"
        if verb in ("id", "read", "cal", "energy", "clear", "seal", "help"):
            raise AdjustError(f"{verb} takes no arguments (try help)")
        raise AdjustError(f"unknown command {words[0]!r} (try help)")

    def _id(self) -> str:
        vm = self.vm
        sealed = vm.calibration.record.sealed_at
        metrology, adjustment = vm.config.metrology, vm.config.adjustment
        iref = adjustment.reference_current_a or metrology.max_current_a / 10
        return (
            f"ok serial={vm.config.identity.serial} fw={LEGAL_VERSION} legal={legal_checksum(vm.meter)} "
            f"cal={vm.calibration.corrections.checksum()} sealed={'no' if sealed is None else sealed.isoformat()} "
            f"un={metrology.nominal_voltage_v!r} iref={iref!r} imax={metrology.max_current_a!r} "
            f"class={adjustment.accuracy_class}"
        )

    def _read(self) -> str:
        vm = self.vm
        phases = tuple(vm.source.phases(vm.meter.now))
        raw, corrected = vm.calibration.measure_path(phases)
        powers = measure(corrected, vm.config.metrology.frequency_hz).phases if corrected else ()
        fields: list[str] = []
        for i, (r, c) in enumerate(zip(raw, corrected, strict=True)):
            name = PHASES[i]
            fields += [
                *_phase_fields(f"{name}.raw", r),
                *_phase_fields(name, c),
                f"{name}.p={powers[i].p_w:.6f}",
            ]
        return "ok " + " ".join(fields)

    def _set(self, args: list[str]) -> str:
        if len(args) != 3 or args[0].upper() not in PHASES or args[1].lower() not in CORRECTION_NAMES:
            raise AdjustError("set L1|L2|L3 vgain|igain|phase|ioffset VALUE")
        phase, name = PHASES.index(args[0].upper()), args[1].lower()
        self.vm.calibration.write(phase, name, _number(args[2]))
        self.vm.save()
        cal = self.vm.calibration.corrections
        places = CORRECTION_NAMES[name][1]
        return f"ok {PHASES[phase]}.{name}={cal.value(phase, name):.{places}f} cal={cal.checksum()}"


def _phase_fields(prefix: str, ph: PhaseInput) -> list[str]:
    return [f"{prefix}.v={ph.voltage_v:.6f}", f"{prefix}.i={ph.current_a:.6f}", f"{prefix}.phi={ph.angle_deg:.6f}"]
