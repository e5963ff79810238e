"""The meter's non-volatile memory (SQLite, WAL, synchronous=FULL)."""

from .nvstore import NvStore

__all__ = ["NvStore"]
