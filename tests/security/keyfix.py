"""Key material shared by the security tests: the demo meter's identity and master key, and key packages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from meterkit.client.keypackage import KeyPackageAuthenticator
from meterkit.security.keys import MeterIdentity
from meterkit.security.package import open_package, write_package

MASTER = bytes.fromhex("6d657465726b69742d64656d6f2d6d61737465722d6b65792d6e6f742d736563")
IDENT = MeterIdentity("MKT", "12345678")
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def package_file(
    tmp_path: Path,
    *,
    levels: tuple[int, ...] = (2, 3),
    days: float = 1.0,
    hhu: str = "HHU-1",
    passphrase: str = "pw",
) -> Path:
    """A key package for the demo meter, issued at START."""
    path = tmp_path / f"{hhu}.json"
    write_package(
        path,
        MASTER,
        [IDENT],
        levels=levels,
        version=1,
        valid_for=timedelta(days=days),
        now=START,
        issuer="ks",
        hhu=hhu,
        passphrase=passphrase,
    )
    return path


def package_auth(tmp_path: Path, level: int = 3, **kw: object) -> KeyPackageAuthenticator:
    """A hand-held authenticator at ``level`` with a fresh package (see :func:`package_file`)."""
    return KeyPackageAuthenticator(open_package(package_file(tmp_path, **kw), "pw", now=START), level)  # type: ignore[arg-type]
