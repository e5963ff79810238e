"""The ``meterkit`` console script.  Loading the commands takes most of a second; a SIGINT or SIGTERM in that time
ends the process with one line on stderr (and exit 128 + the signal) instead of a traceback or a silent death.
``serve`` keeps this until it takes the signals over itself (:mod:`.serve`: at any moment, the replay included);
every other command gets the usual handling back before it runs."""

from __future__ import annotations

import signal
import sys
from types import FrameType

__all__ = ["main"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stopped(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stopped(signum)


def main() -> int:
    previous = {sig: signal.signal(sig, _stop) for sig in _SIGNALS}
    try:
        from .app import main as run

        if sys.argv[1:2] != ["serve"]:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return run()
    except _Stopped as exc:
        print(f"meterkit: stopped by {signal.Signals(exc.signum).name} while starting", file=sys.stderr, flush=True)
        return 128 + exc.signum


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
