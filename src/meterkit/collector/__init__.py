"""The collector (head-end side): reads many meters concurrently over the IEC 62056-21 core and stores their load
profiles as partitioned Parquet in the load-profile format (``meterkit poll``)."""

from __future__ import annotations

from .poll import Collector, MeterResult, PollSettings, Summary
from .store import ProfileStore
from .targets import Credentials, Target, parse_addresses, read_password_file

__all__ = [
    "Collector",
    "Credentials",
    "MeterResult",
    "PollSettings",
    "ProfileStore",
    "Summary",
    "Target",
    "parse_addresses",
    "read_password_file",
]
