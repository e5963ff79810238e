"""Offline guessing at a read password from one sniffed P0/P2 exchange, on one core: the old password key (one
HKDF-SHA256) against the current one (scrypt, :data:`meterkit.security.keys.PASSWORD_KDF`).

Each guess is what an attacker with the P0 challenge and the P2 tag computes: the password key of the candidate,
then the 16-byte answer tag, compared with the sniffed one.  Prints guesses per second of both, the ratio, and how
long the 10^8 candidates of an 8-digit password take on one core.
"""

from __future__ import annotations

import time

from meterkit.security.challenge import answer_tag
from meterkit.security.keys import PASSWORD_KDF, MeterIdentity, hkdf_sha256, password_key

IDENT = MeterIdentity("MKT", "12345678")
CHALLENGE = bytes.fromhex("01000000070123456789ABCDEF012345")
SNIFFED = answer_tag(password_key("20261125", IDENT), IDENT, 2, CHALLENGE)


def old_password_key(password: str, identity: MeterIdentity) -> bytes:
    """The derivation before the slow KDF: HKDF-SHA256(password, info = "OP2v1-pw" ‖ FLAG ‖ serial16)."""
    return hkdf_sha256(password.encode(), b"OP2v1-pw" + identity.encode())


def rate(derive: object, seconds: float) -> tuple[float, int]:
    assert callable(derive)
    start = time.perf_counter()
    guesses = 0
    while time.perf_counter() - start < seconds:
        if answer_tag(derive(f"{guesses:08d}", IDENT), IDENT, 2, CHALLENGE) == SNIFFED:
            raise AssertionError("a benchmark candidate matched")
        guesses += 1
    return guesses / (time.perf_counter() - start), guesses


def main() -> None:
    old, n_old = rate(old_password_key, 2.0)
    new, n_new = rate(password_key, 5.0)
    print(f"old password key (HKDF-SHA256): {old:,.0f} guesses/s on one core ({n_old} guesses)")
    print(
        f"scrypt n={PASSWORD_KDF['n']} r={PASSWORD_KDF['r']} p={PASSWORD_KDF['p']}: {new:,.2f} guesses/s ({n_new} guesses)"
    )
    print(f"ratio old/new: {old / new:,.0f}")
    for name, r in (("old", old), ("scrypt", new)):
        days = 1e8 / r / 86400
        print(f"8-digit password, all 10^8 candidates on one core ({name}): {days:,.3f} days")


if __name__ == "__main__":
    main()
