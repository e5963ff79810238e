"""A household guessing the static password of its own meter, on a simulated clock.

Prints the attempts per day the port lets through: without a lockout (one guess per full sign-on at 9600 Bd,
about 2 s each, from the research notes' timing) and with the meter's lockout (3rd failure 60 s, doubling up to
24 h), and how long an 8-digit password (10^8 candidates, mean 5*10^7) would take in each case.
"""

from __future__ import annotations

from datetime import timedelta

from meterkit.iec62056_21.messages import CommandMessage, DataSet
from meterkit.meter.config import load_config
from meterkit.meter.virtual import VirtualMeter, demo_config_path

SIGN_ON_S = 2.07  # mode C, 300 -> 9600 Bd, full sign-on per guess, t_r = 200 ms


def attempts(days: int) -> tuple[int, list[int]]:
    text = demo_config_path().read_text().replace('kind = "synthetic"', 'kind = "live"')
    vm = VirtualMeter(load_config(text=text), follow_clock=False)
    start = vm.meter.now
    evaluated = 0
    per_day = [0] * days
    guess = 0
    while vm.meter.now < start + timedelta(days=days):
        session = vm.security.open_session()
        locked = vm.security.lockout.is_locked(vm.meter.now)
        session.handle_command(
            CommandMessage(command="P", command_type="1", data_set=DataSet.single("", f"{guess:08d}"))
        )
        if not locked:
            evaluated += 1
            per_day[(vm.meter.now - start).days] += 1
            guess += 1
        until = vm.security.lockout.locked_until
        wait = (until - vm.meter.now).total_seconds() if until and until > vm.meter.now else 0.0
        vm.meter.now += timedelta(seconds=max(SIGN_ON_S, wait))
    return evaluated, per_day


def main() -> None:
    days = 7
    total, per_day = attempts(days)
    free = 86400 / SIGN_ON_S
    print(
        f"without lockout: {free:,.0f} guesses per day; 8-digit password found in {5e7 / free / 365:.1f} years on average"
    )
    print(f"with the meter's lockout: {total} guesses evaluated in {days} days; per day: {per_day}")
    steady = per_day[-1] or 1
    print(
        f"steady state {steady} guess(es) per day: 8-digit password in about {5e7 / steady / 365:,.0f} years on average"
    )
    print(f"ratio lockout/no lockout (first day): {per_day[0] / free:.6f}")


if __name__ == "__main__":
    main()
