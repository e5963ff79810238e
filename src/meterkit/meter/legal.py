"""Legally relevant identification (WELMEC 7.2): what an inspector reads over the optical port to know the meter
measures with the software and parameters that were approved.

* ``0.2.0`` - the version of the legally relevant software (:data:`LEGAL_VERSION`);
* ``0.2.8`` - a checksum of the legally relevant software and parameters: SHA-256 over the source of the legally
  relevant modules (:data:`LEGAL_MODULES`), the legally relevant parameters (:func:`legal_parameters`) and the
  calibration-set checksum, shown as 16 hex digits;
* ``C.2.8`` - the checksum of the calibration set alone (:meth:`.adjustment.CalibrationSet.checksum`).

Legally relevant parameters are those that change what the meter bills: the calibration set, the VA billing method,
the demand window and display scale, the load-profile capture period, the nominal voltage and the measuring range.
Device address, baud rate, passwords, keys, tariffs and the time are not.  :class:`LegalWatch` keeps the last
``0.2.8`` in the NV memory and logs every change (event 05) when the meter commits; nothing else changes it.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from ..storage import NvStore
from .core import Meter

__all__ = ["LEGAL_MODULES", "LEGAL_VERSION", "LegalWatch", "legal_checksum", "legal_parameters", "software_digest"]

#: the version of the legally relevant software part; bump it with every change of :data:`LEGAL_MODULES`
LEGAL_VERSION = "1.0.0"
#: the modules (relative to the package) whose source is legally relevant software
LEGAL_MODULES = (
    "meter/metrology.py",
    "meter/adjustment.py",
    "meter/calibration.py",
    "meter/demand.py",
    "meter/legal.py",
    "demand_rules.py",
)
_KV = "legal_checksum"


@cache
def software_digest() -> str:
    """SHA-256 (hex) over the legally relevant modules' source, in order, each prefixed with its name."""
    digest = hashlib.sha256()
    root = resources.files("meterkit")
    for name in LEGAL_MODULES:
        source = root.joinpath(*name.split("/")).read_bytes()
        digest.update(name.encode("ascii") + b"\0" + source + b"\0")
    return digest.hexdigest()


def legal_parameters(meter: Meter) -> str:
    """The legally relevant parameters in force, as canonical text."""
    metrology = meter.config.metrology
    return ";".join(
        (
            f"calibration={meter.calibration_checksum}",
            f"va_method={meter.registers.method}",
            f"demand={meter.demand_config}",
            f"display_scale={meter.config.demand.display_scale}",
            f"capture_min={meter.config.load_profile.capture_min}",
            f"nominal_voltage_v={metrology.nominal_voltage_v!r}",
            f"max_current_a={metrology.max_current_a!r}",
            f"max_voltage_v={metrology.voltage_limit_v!r}",
        )
    )


def legal_checksum(meter: Meter) -> str:
    """``0.2.8``: 16 hex digits of SHA-256 over the legally relevant software and parameters."""
    text = f"{LEGAL_VERSION}\n{software_digest()}\n{legal_parameters(meter)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16].upper()


class LegalWatch:
    """Logs every change of ``0.2.8`` (event 05) and keeps the last one in the NV memory."""

    def __init__(self, store: NvStore, meter: Meter) -> None:
        self.store = store
        self.meter = meter

    def check(self) -> bool:
        """Compare ``0.2.8`` with the one last committed; log and commit a change.  True when it changed."""
        now = legal_checksum(self.meter)
        before = self.store.get_value(_KV)
        if before == now:
            return False
        with self.store.transaction():
            if before is not None:
                self.meter.log(
                    5,
                    f"legally relevant software or parameters changed: 0.2.8 {before} -> {now} "
                    f"({legal_parameters(self.meter)})",
                )
            self.store.set_value(_KV, now)
        return before is not None
