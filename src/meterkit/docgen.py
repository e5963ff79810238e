"""Regenerate the documentation that is generated from code: ``python -m meterkit.docgen [DOCS_DIR]``.

``registers.md`` comes from the register catalogue (:mod:`meterkit.meter.regdoc`), the state tables of
``protocol.md`` from :mod:`meterkit.iec62056_21.transitions`.  Tests fail while a page differs from what is generated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .iec62056_21.transitions import with_states
from .meter.regdoc import registers_markdown

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    docs = Path(args[0] if args else "docs")
    (docs / "registers.md").write_text(registers_markdown(), encoding="utf-8")
    protocol = docs / "protocol.md"
    protocol.write_text(with_states(protocol.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {docs / 'registers.md'} and the state tables of {protocol}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
