"""``meterkit keys``: key administration for challenge-response (the key server's and the hand-held's side)."""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from ..clock import SystemClock
from ..errors import ConfigError
from ..security.keys import MeterIdentity, alarm_key, derive_meter_key, parse_key_hex, valid_hhu_id
from ..security.package import MIN_PASSPHRASE_LEN, open_package, write_package
from .errors import usage_error
from .render import console

__all__ = ["register"]

PASSPHRASE_ENV = "METERKIT_KEY_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
PassphraseOpt = Annotated[
    str | None,
    typer.Option(
        "--passphrase",
        help=f"Package passphrase (default: ${PASSPHRASE_ENV}; prefer the variable, a command line is visible to others).",
    ),
]


def _master(path: Path) -> bytes:
    try:
        return parse_key_hex(path.read_text(encoding="ascii"), f"master key {path}")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the master key ({exc.strerror})") from exc


def _passphrase(given: str | None, *, new: bool = False) -> str:
    value = given if given is not None else os.environ.get(PASSPHRASE_ENV)
    if not value:
        raise ConfigError(f"give the package passphrase in {PASSPHRASE_ENV} (or --passphrase)")
    if new and len(value) < MIN_PASSPHRASE_LEN:
        raise ConfigError(f"the package passphrase needs at least {MIN_PASSPHRASE_LEN} characters")
    return value


def _meters(spec: str) -> list[MeterIdentity]:
    out = []
    for item in filter(None, (x.strip() for x in spec.split(","))):
        flag, sep, serial = item.partition(":")
        if not sep:
            raise typer.BadParameter(f"meter {item!r}: write FLAG:SERIAL, e.g. MKT:12345678")
        out.append(MeterIdentity(flag=flag, serial=serial))
    if not out:
        raise typer.BadParameter("name at least one meter")
    return out


def register(app: typer.Typer) -> None:
    """Add ``keys`` with its sub-commands."""
    keys = typer.Typer(help="Per-meter keys and key packages for hand-held units.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("new-master")
    def new_master(out: Annotated[Path, typer.Argument(help="File for the new master key (mode 0600).")]) -> int:
        """Create a random 256-bit master key (keep it on the key server only)."""
        if out.exists():
            raise ConfigError(f"{out} exists; refusing to overwrite a master key")
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        console().print(f"master key written to {out}")
        return 0

    @keys.command("derive")
    def derive(
        master: Annotated[Path, typer.Option("--master", help="Master key file.")],
        meter: Annotated[str, typer.Option("--meter", help="FLAG:SERIAL, e.g. MKT:12345678.")],
        level: Annotated[int, typer.Option("--level", help="Access level 2 or 3.")] = 3,
        version: Annotated[int, typer.Option("--version", help="Key version.")] = 1,
        alarm: Annotated[bool, typer.Option("--alarm", help="The alarm key instead ([security] alarm_key).")] = False,
    ) -> int:
        """Print one meter's key (hex): its [security] level2_key / level3_key at manufacture, or a rotation; with
        --alarm its alarm_key (signs its head-end alarms)."""
        if level not in (2, 3):
            usage_error(f"--level {level}: a meter has keys for levels 2 and 3 only")
        (identity,) = _meters(meter)
        if alarm:
            typer.echo(alarm_key(_master(master), identity).hex().upper())
            return 0
        typer.echo(derive_meter_key(_master(master), identity, level, version).hex().upper())
        return 0

    @keys.command("package")
    def package(
        master: Annotated[Path, typer.Option("--master", help="Master key file.")],
        meters: Annotated[str, typer.Option("--meters", help="FLAG:SERIAL,... of the work order.")],
        out: Annotated[Path, typer.Option("--out", help="Package file to write.")],
        hhu: Annotated[str, typer.Option("--hhu", help="Id of the hand-held unit it is for.")],
        levels: Annotated[str, typer.Option("--levels", help="Levels to include, e.g. 2,3.")] = "2,3",
        version: Annotated[
            str, typer.Option("--version", help="Key version for every level (1), or per level (2=1,3=2).")
        ] = "1",
        valid_days: Annotated[float, typer.Option("--valid-days", help="Days until the package expires.")] = 7.0,
        issuer: Annotated[str, typer.Option("--issuer", help="Who issued it.")] = "key-server",
        passphrase: PassphraseOpt = None,
        force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    ) -> int:
        """Issue an expiring, encrypted package with only the keys of the meters on one work order.

        The passphrase comes from METERKIT_KEY_PASSPHRASE and needs at least 12 characters; an existing --out file
        is refused unless --force."""
        try:
            lv = tuple(int(x) for x in levels.split(","))
        except ValueError as exc:
            raise typer.BadParameter("--levels takes numbers, e.g. 2,3") from exc
        if not lv or any(x not in (2, 3) for x in lv):
            raise typer.BadParameter("--levels may hold 2 and 3")
        try:
            versions: int | dict[int, int] = (
                {int(a): int(b) for a, b in (part.split("=") for part in version.split(","))}
                if "=" in version
                else int(version)
            )
        except ValueError as exc:
            raise typer.BadParameter("--version takes a number (1) or level=version pairs (2=1,3=2)") from exc
        if isinstance(versions, dict) and set(versions) != set(lv):
            raise typer.BadParameter("--version must name a version for each level of --levels")
        if not valid_hhu_id(hhu):
            raise typer.BadParameter("--hhu takes 1-16 letters, digits, '-', '_' or '.'")
        if not 0 < valid_days <= 366:
            raise typer.BadParameter("--valid-days must be between 0 and 366")
        secret = _passphrase(passphrase, new=True)
        if out.exists() and not force:
            raise ConfigError(f"{out} exists; refusing to overwrite a key package (--force replaces it)")
        pkg = write_package(
            out,
            _master(master),
            _meters(meters),
            levels=lv,
            version=versions,
            valid_for=timedelta(days=valid_days),
            now=SystemClock().now(),
            issuer=issuer,
            hhu=hhu,
            passphrase=secret,
            overwrite=force,
        )
        console().print(
            f"{out}: {len(pkg.meters)} meter(s), levels {levels}, for {hhu}, valid until {pkg.not_after:%Y-%m-%d %H:%M} UTC"
        )
        return 0

    @keys.command("headend")
    def headend_keys(
        master: Annotated[Path, typer.Option("--master", help="Master key file.")],
        meters: Annotated[str, typer.Option("--meters", help="FLAG:SERIAL,... the head-end serves.")],
        out: Annotated[Path, typer.Option("--out", help="Key file to write (mode 0600).")],
        force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    ) -> int:
        """Write the head-end's key file: the alarm keys of the meters (nothing that opens a meter's port)."""
        from ..headend.verify import write_alarm_keys

        ids = _meters(meters)
        key = _master(master)
        write_alarm_keys(out, {f"{m.flag}:{m.serial}": alarm_key(key, m) for m in ids}, overwrite=force)
        console().print(f"{out}: alarm keys of {len(ids)} meter(s)")
        return 0

    @keys.command("inspect")
    def inspect(
        package_file: Annotated[Path, typer.Argument(help="Key package.")],
        passphrase: PassphraseOpt = None,
    ) -> int:
        """Show a package's metadata (never the keys)."""
        pkg = open_package(package_file, _passphrase(passphrase), now=SystemClock().now())
        doc = {
            "issuer": pkg.issuer,
            "hhu": pkg.hhu,
            "not_after": pkg.not_after.isoformat(),
            "meters": {m: {str(lv): sorted(vs) for lv, vs in e.items()} for m, e in pkg.meters.items()},
        }
        typer.echo(json.dumps(doc, indent=2))
        return 0
