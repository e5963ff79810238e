"""Values as a person writes them, turned into the register's wire form.

A data-set value may not contain ``( ) * / !`` (IEC 62056-21 §6.6), so registers whose natural spelling has a ``/``
carry another one on the wire: the demand setting ``C.60.1`` is ``sliding 15 1`` on the wire and ``sliding 15/1`` in
the configuration and in ``meterkit demand``.
"""

from __future__ import annotations

import re

__all__ = ["wire_value"]

_DEMAND = re.compile(r"\s*(sliding|fixed)\s+(\d+)\s*(?:/\s*(\d+))?\s*", re.IGNORECASE)


def wire_value(address: str, value: str) -> str:
    """``value`` for ``address`` in the form the meter takes; unchanged when no translation applies."""
    base = address.split("*")[0].split("&")[0]
    if base == "C.60.1":
        m = _DEMAND.fullmatch(value)
        if m is not None:
            return " ".join(part.lower() if i == 0 else part for i, part in enumerate(m.groups()) if part)
    return value
