"""Data-set grammar (§6.6): strict when writing (see :mod:`.messages`), tolerant when reading.

Real meters put ``*`` and ``&`` into addresses (``1.8.1*12``, ``0.1.0&12``), several value groups after one address
(``1.6.1(0.50*kW)(2211120730)``), units inside values (``(024562 kWh)``), empty values (``()``), omit the address
for history sequences, and sometimes put ``!`` straight after the last data set.  :func:`parse_datasets` accepts all
of these and reports what it cannot read instead of guessing.
"""

from __future__ import annotations

from ..errors import LocalProtocolError, RemoteProtocolError
from .messages import DataSet, Value

__all__ = ["parse_datasets", "parse_value_group"]


def parse_value_group(text: str) -> Value:
    """``value*unit`` (without parentheses) as a :class:`Value`; the first ``*`` separates the unit."""
    value, sep, unit = text.partition("*")
    try:
        return Value(value=value, unit=unit if sep else "")
    except LocalProtocolError as exc:
        raise RemoteProtocolError(f"unreadable value group ({exc})", text.encode("ascii", "replace")) from exc


def parse_datasets(text: str, *, lenient: bool = False) -> tuple[tuple[DataSet, ...], list[RemoteProtocolError]]:
    """Parse a data block (lines of data sets, CR LF separated) into data sets.

    Returns the data sets and the errors found.  In strict mode the first error is raised instead; in lenient mode a
    damaged data set is skipped (and reported), the good data sets before it on the same line are kept, and parsing
    resumes at the next line.
    """
    datasets: list[DataSet] = []
    errors: list[RemoteProtocolError] = []
    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw_line
        if not line.strip():
            continue
        try:
            _parse_line(line, datasets)
        except RemoteProtocolError as exc:
            if not lenient:
                raise
            errors.append(exc)
    return tuple(datasets), errors


def _parse_line(line: str, out: list[DataSet]) -> None:
    """Append the data sets of ``line`` to ``out``; raise at the first damaged one (earlier ones stay appended)."""
    pos = 0
    n = len(line)
    while pos < n:
        open_at = line.find("(", pos)
        if open_at < 0:
            rest = line[pos:].strip()
            if rest:
                raise RemoteProtocolError(
                    f"text {rest!r} is not followed by a value group", line.encode("ascii", "replace")
                )
            break
        address = line[pos:open_at]
        if any(ch in "()/!" for ch in address):
            raise RemoteProtocolError(f"address {address!r} contains a forbidden character", address.encode())
        values: list[Value] = []
        pos = open_at
        while pos < n and line[pos] == "(":
            close_at = line.find(")", pos + 1)
            if close_at < 0:
                raise RemoteProtocolError("value group is not closed with ')'", line.encode("ascii", "replace"))
            inner = line[pos + 1 : close_at]
            if "(" in inner:
                raise RemoteProtocolError("nested '(' inside a value group", line.encode("ascii", "replace"))
            values.append(parse_value_group(inner))
            pos = close_at + 1
        try:
            # spaces around an address separate data sets on a line (the writer refuses them, see DataSet.to_text)
            out.append(DataSet(address=address.strip(" "), values=tuple(values)))
        except LocalProtocolError as exc:
            raise RemoteProtocolError(f"unreadable data set ({exc})", line.encode("ascii", "replace")) from exc
