"""meterkit: electricity meters and their IEC 62056-21 optical port."""

__version__ = "0.1.0"
__all__ = ["__version__"]
