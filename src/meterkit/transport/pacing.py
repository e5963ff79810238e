"""Baud-rate emulation: how long bytes take on a real line (10 bits per character)."""

from __future__ import annotations

from ..iec62056_21.timing import BITS_PER_CHAR

__all__ = ["line_time"]


def line_time(nbytes: int, baud: int, *, bits_per_char: int = BITS_PER_CHAR) -> float:
    """Seconds ``nbytes`` characters occupy a line at ``baud``."""
    if baud <= 0:
        raise ValueError(f"baud rate must be positive, got {baud}")
    return nbytes * bits_per_char / baud
