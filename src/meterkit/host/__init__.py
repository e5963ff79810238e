"""The meter host: the one place where a meter and its faces are put together (the composition root)."""

from .faces import ControlFace, Face, HeadendFace, OpticalFace
from .host import MeterHost, run_meter

__all__ = ["ControlFace", "Face", "HeadendFace", "MeterHost", "OpticalFace", "run_meter"]
