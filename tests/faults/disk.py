"""An injected full disk: every commit of the state file fails with SQLite's own error while ``full`` is set."""

from __future__ import annotations

import sqlite3


class FullDisk:
    def __init__(self) -> None:
        self.full = False
        self.refused = 0

    def check(self) -> None:
        if self.full:
            self.refused += 1
            raise sqlite3.OperationalError("database or disk is full")
