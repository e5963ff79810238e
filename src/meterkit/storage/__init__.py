"""The meter's non-volatile memory (SQLite, WAL, synchronous=FULL)."""

from .nvstore import NvStore
from .security import NvSecurityStore

__all__ = ["NvSecurityStore", "NvStore"]
