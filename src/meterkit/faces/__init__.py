"""Live faces of a meter: readings to MQTT with Home Assistant discovery, OpenMetrics, a web front panel.

Faces depend on :class:`~.source.MeterSource` only; :class:`~.virtual_source.VirtualMeterSource` adapts today's
virtual meter, :func:`~.runner.run_faces` starts the faces for one or more meters on an asyncio loop."""

from .source import (
    Control,
    CoverControl,
    FaceError,
    Identification,
    LoadControl,
    LogEntry,
    MeterSource,
    MeterStatus,
    PhaseLoad,
    Reading,
    SealedButton,
    SupplyControl,
)

__all__ = [
    "Control",
    "CoverControl",
    "FaceError",
    "Identification",
    "LoadControl",
    "LogEntry",
    "MeterSource",
    "MeterStatus",
    "PhaseLoad",
    "Reading",
    "SealedButton",
    "SupplyControl",
]
