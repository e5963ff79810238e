"""Timing constants of IEC 62056-21 (§6.4.1.5, §6.4.2.5, §6.4.3.6, Annexes A and B), in seconds."""

from __future__ import annotations

from typing import Final

__all__ = [
    "BITS_PER_CHAR",
    "HHU_RESPONSE_TIMEOUT",
    "INACTIVITY_TIMEOUT_MAX",
    "INACTIVITY_TIMEOUT_MIN",
    "INTER_CHAR_TIMEOUT",
    "OPTION_SELECT_WAIT",
    "REACTION_TIME",
    "REACTION_TIME_FAST",
    "REACTION_TIME_MAX",
    "WAKE_UP_NUL_DURATION",
    "WAKE_UP_PAUSE",
    "char_time",
]

#: t_r: minimum time from the end of a received message to the start of the answer.
REACTION_TIME: Final = 0.200
#: t_r when the identification's third manufacturer letter is lower case.
REACTION_TIME_FAST: Final = 0.020
#: t_r upper bound; also the HHU's "no answer" limit (Annex A note 4).
REACTION_TIME_MAX: Final = 1.500
#: t_a: the longest gap allowed between two characters of one message.
INTER_CHAR_TIMEOUT: Final = 1.500
#: t_t: mode C, how long the meter waits for the option select before its fallback readout (1.5 < t_t <= 2.2).
OPTION_SELECT_WAIT: Final = 1.800
#: No answer within this time is an error for the HHU.
HHU_RESPONSE_TIMEOUT: Final = 1.500
#: Programming-mode inactivity time-out range; the meter falls back to its start state.
INACTIVITY_TIMEOUT_MIN: Final = 60.0
INACTIVITY_TIMEOUT_MAX: Final = 120.0
#: Annex B.1 wake-up: NULs for 2.1-2.3 s, then a pause of 1.5-1.7 s before the request.
WAKE_UP_NUL_DURATION: Final = 2.2
WAKE_UP_PAUSE: Final = 1.6
#: 1 start + 7 data + 1 parity + 1 stop.
BITS_PER_CHAR: Final = 10


def char_time(baud: int) -> float:
    """Seconds one character takes on the line at ``baud`` (10 bits per character)."""
    if baud <= 0:
        raise ValueError(f"baud rate must be positive, got {baud}")
    return BITS_PER_CHAR / baud
