"""Contracted-demand threshold: which billing periods exceed it, by how much, and the penalty.

A period without a maximum demand (no complete window: no data) is neither within the contract nor above it:
``exceeded``, ``excess_kw`` and ``penalty`` are ``None`` there ("no data").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ..errors import ConfigError
from .engine import DemandResult

__all__ = ["Exceedance", "assess", "parse_amount"]

_GROUPED_COMMA = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?")  # 1,234.5 (English grouping)
_GROUPED_DOT = re.compile(r"\d{1,3}(\.\d{3})+(,\d+)?")  # 1.234,5 (German grouping)


def parse_amount(text: str, what: str) -> Decimal:
    """A non-negative finite number as a person types it: ``12.5``, ``12,5``, ``1.234,5``, ``1,234.5``.  A lone
    comma before exactly three digits (``1,500``: 1.5 or 1500?) is ambiguous and refused, as are NaN, infinities
    and negative numbers."""
    t = text.strip().replace("\u202f", "").replace(" ", "").replace("_", "")
    if "," in t and "." in t:
        if _GROUPED_COMMA.fullmatch(t):
            t = t.replace(",", "")
        elif _GROUPED_DOT.fullmatch(t):
            t = t.replace(".", "").replace(",", ".")
        else:
            raise ConfigError(f"{what} {text!r} is not a number")
    elif t.count(",") == 1:
        whole, frac = t.split(",")
        if len(frac) == 3 and whole.lstrip("+-").isdigit():
            raise ConfigError(
                f"{what} {text!r} is ambiguous (a decimal comma or a thousands separator?); write "
                f"{whole}.{frac} or {whole}{frac}"
            )
        t = t.replace(",", ".")
    try:
        value = Decimal(t)
    except InvalidOperation:
        raise ConfigError(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise ConfigError(f"{what} {text!r} is not a finite number")
    if value < 0:
        raise ConfigError(f"{what} {text!r} must not be negative")
    return value


@dataclass(frozen=True, slots=True)
class Exceedance:
    """One result compared with the contracted demand."""

    result: DemandResult
    threshold_kw: Decimal
    excess_kw: Decimal | None  # 0 when within the contract; None when the period has no maximum demand
    penalty: Decimal | None  # excess * rate, when a rate is given and the period has a maximum demand

    @property
    def exceeded(self) -> bool | None:
        """True above the contract, False within it, None without data."""
        return None if self.excess_kw is None else self.excess_kw > 0


def assess(
    results: Sequence[DemandResult], threshold_kw: Decimal, rate_per_kw: Decimal | None = None
) -> list[Exceedance]:
    """Compare every maximum demand with ``threshold_kw`` (strictly above = exceeded)."""
    if threshold_kw < 0:
        raise ConfigError(f"the threshold must not be negative, got {threshold_kw} kW")
    if rate_per_kw is not None and rate_per_kw < 0:
        raise ConfigError(f"the penalty rate must not be negative, got {rate_per_kw} per kW")
    out = []
    for r in results:
        if r.md_kw is None:
            out.append(Exceedance(result=r, threshold_kw=threshold_kw, excess_kw=None, penalty=None))
            continue
        excess = max(Decimal(0), r.md_kw - threshold_kw)
        penalty = None if rate_per_kw is None else (excess * rate_per_kw).quantize(Decimal("0.01"), ROUND_HALF_UP)
        out.append(Exceedance(result=r, threshold_kw=threshold_kw, excess_kw=excess, penalty=penalty))
    return out
