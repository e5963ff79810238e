"""A served fleet derives its meters' password keys in a worker thread, not on the event loop at a sign-on."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from meterkit.fleet import load_fleet
from meterkit.fleet.store import FleetStore
from meterkit.host.fleet import FleetHost, ServedMeter, build_fleet, warm_password_keys
from meterkit.security import keys, port
from meterkit.security.keys import password_key

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet-1000.toml"


@pytest.fixture(scope="module")
def served() -> list[ServedMeter]:
    fleet = load_fleet(text=EXAMPLE.read_text().replace("count = 1000", "count = 3"))
    return build_fleet(fleet, FleetStore(), timedelta(hours=2))


def test_warm_up_derives_every_key_in_a_worker_thread_and_sign_ons_then_derive_nothing(
    served: list[ServedMeter], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []

    def counted(password: str, identity: keys.MeterIdentity) -> bytes:
        threads.append(threading.current_thread().name)
        return password_key(password, identity)

    monkeypatch.setattr(port, "password_key", counted)
    securities = [m.meter.security for m in served]
    assert asyncio.run(warm_password_keys(served)) == len(served)
    derived = len(threads)
    assert derived == sum(1 for s in securities if s.config.password_levels and s.read_password) > 0
    assert all(name != threading.main_thread().name for name in threads)
    for s in securities:  # what a P2 uses: the same key, derived once from the meter's own password and identity
        expected = password_key(s.read_password, s.identity) if s.config.password_levels else None
        assert s.password_key == expected
    assert len(threads) == derived


def test_a_fleet_host_warms_the_keys_once_listening_and_stops_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = load_fleet(text=EXAMPLE.read_text().replace("count = 1000", "count = 2"))
    store = FleetStore()
    meters = build_fleet(fleet, store, timedelta(hours=1))
    derived: list[str] = []

    def counted(password: str, identity: keys.MeterIdentity) -> bytes:
        derived.append(identity.serial)
        return password_key(password, identity)

    monkeypatch.setattr(port, "password_key", counted)

    async def main() -> None:
        host = FleetHost(meters, store, ["tcp://127.0.0.1:0"])
        lines = await host.start()
        assert lines[0].startswith("listening on tcp://127.0.0.1:")
        warming = host._warming
        assert warming is not None
        assert await warming == len(meters)
        await host.stop()

    asyncio.run(main())
    assert sorted(derived) == sorted(m.meter.security.identity.serial for m in meters)
    assert [m.meter.security.password_key for m in meters] == [
        password_key(m.meter.security.read_password, m.meter.security.identity) for m in meters
    ]
    assert len(derived) == len(meters)  # the sign-ons' key came from the warm-up
