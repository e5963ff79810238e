"""``docs/registers.md``, generated from the register catalogue.

Regenerate after changing :mod:`.catalogue`: ``python -m meterkit.docgen`` (or ``python -m meterkit.meter.regdoc``); a
test fails while the file differs from what :func:`registers_markdown` generates.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .catalogue import Catalogue, Format, RegisterSpec, catalogue

__all__ = ["registers_markdown"]

_HEAD = """\
# The virtual meter's registers

Addresses as used on the optical port (R1 reads, W1 writes). Level = access level needed (see [security.md](security.md#access-levels)): 1 the public readout list (configurable), 2 after the read password (`P2` keyed by it, or `P1` in clear where allowed) or the level-2 key, 3 after `P2` with the level-3 key or the sealed button; a static password never grants level 3, and every write or function but `SELFTEST` also needs the terminal cover open. History of the last billing periods: append `*NN` to an energy (`x.8.y`, `9.8.128`–`9.8.130`) or demand (`x.6.y`) address, `*01` is the newest (level 2).

Formats: energy `000123.456` (kWh, kvarh, kVAh: 6 integers, 3 decimals); time `hhmmss`, date `YYMMDD`, local to the configured time zone.

Demand registers — maximum demand `x.6.y` (and its history `x.6.y*NN`), current average `x.4.0`, last average `x.5.0`, cumulative maximum demand `x.2.0` (the sum of the maxima cleared by every MD reset, counted in `C.61.0`) — all use the configured `[demand] display_scale` and the 6-digit format `0157.00` (4 integers, 2 decimals); the unit follows the scale: `W`/`kW`/`MW` for A+ and A−, `VA`/`kVA`/`MVA` for S+ (marked "(scale)" below, the table shows the kW case). Maximum demand is followed by its time `(YYMMDDhhmm)`, empty while there is none. A scale that cannot show the meter's measuring range (3 × `max_voltage_v` × `max_current_a`; twice that for effective VA) is refused when the configuration is loaded, and inputs beyond the range saturate (F.F bit 3), so a demand register is never unreadable.

Instantaneous values (`x.7.0`, standard OBIS C codes: 21/41/61 active, 23/43/63 reactive, 29/49/69 apparent, 33/53/73 power factor, 31/51/71 current, 32/52/72 voltage for L1/L2/L3, 14 frequency) are those of the last one-second measurement; `0` before the first one and on a replayed meter (which has energies, not phases). Signs: active power and power factor negative when exporting, reactive power negative in Q3/Q4. `9.7.128`–`9.7.130` and `9.8.128`–`9.8.130` are manufacturer codes (E = 128–130) for the three VA methods (standard OBIS does not split them); `9.8.0` is S+ by the billing method (`C.60.3`). Per-phase energies (`21.8.0` … `62.8.0`) come from live measurement only.

"""

_TAIL = """\
Time ranges `(from;to)` are local `YYMMDDhhmm`, **both ends inclusive** at the minute resolution of the stamps (an
event at 09:30:45 is in `(2611020930;2611020930)`); either end may be left empty (`(;2611020930)`, `(2611020900;)`),
an empty value reads everything.

A tariff write is validated as a whole calendar (no gaps, increasing switch times, known profiles, tariffs 1-8, no
weekday, season start or special day given twice — `TOU.SPECIAL(12-25=offpeak;12-25=workday)` is refused, not "last
wins"); a refused write answers `ER03`, changes nothing and logs the reason (event 06).

## Error answers

The meter answers a request it refuses with a short error message (at most 32 characters by the standard's limit):

| code | meaning |
|---|---|
| `ER01` | unknown address, function or history period |
| `ER02` | access level too low (or the register is read-only) |
| `ER03` | invalid value: a refused write or a value the meter cannot use (bad demand setting, TOU calendar, time, …) |
| `ER04` | command not supported |
| `ER05` | refused now: a billing reset inside the reset lockout |
| `ER06` | terminal cover closed, or the write window after opening it expired |
| `ER10` | authentication failed (the same text and delay for every cause, never explained) |

The full reason of the last refusal (every code but `ER10`) is kept in `C.91.0` (level 2, volatile — not kept across a
restart): `C.91.0(ER03)(2611020931)(W1 C.60.1)(demand 'sliding 30 3' is not offered; valid: …)`, the reason split
into further values of at most 128 characters when longer. Refusals with `ER03` and `ER05` are also logged in `P.98`
(event 06, `ER03 W1 C.60.1: <reason>`), in full. Texts on the port are printable ASCII without `( ) * / !`
(`sliding 30/3` reads `sliding 30 3`).

"""


def _unit(spec: RegisterSpec) -> str:
    scaled = spec.format in (Format.DEMAND, Format.AVERAGE)
    return f"{spec.unit} (scale)" if scaled else spec.unit


def _level(level: int | None) -> str:
    return "—" if level is None else str(level)


def registers_markdown(cat: Catalogue | None = None) -> str:
    """The whole of ``docs/registers.md``."""
    cat = cat or catalogue()
    lines = [_HEAD.rstrip("\n"), "", "| address | content | unit | read level | write level |", "|---|---|---|---|---|"]
    lines += [
        f"| `{r.address}` | {r.description} | {_unit(r)} | {r.read_level} | {_level(r.write_level)} |"
        for r in cat.registers
    ]
    lines += ["", "## Profiles and functions", "", "| command | content | level |", "|---|---|---|"]

    def area_rows(prefix: str) -> list[str]:
        out = []
        for area in cat.areas:
            if area.prefix.startswith(prefix):
                for command, content, writable in area.rows:
                    level = f"{area.read_level} / {area.write_level}" if writable else _level(area.read_level)
                    out.append(f"| `{command}` | {content} | {level} |")
        return out

    lines += area_rows("P.")
    lines += [f"| `E2 {f.name}()` | {f.description} | {f.level} |" for f in cat.functions]
    lines += area_rows("TOU.")
    lines += ["", _TAIL]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the generated page to the path given (default ``docs/registers.md``)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0] if args else "docs/registers.md")
    target.write_text(registers_markdown(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
