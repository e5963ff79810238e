"""The web front panel: a page that looks and behaves like the meter, a REST API under ``/api``, server-sent events."""

from .app import WebPanel

__all__ = ["WebPanel"]
