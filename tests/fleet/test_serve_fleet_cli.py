"""``meterkit serve --fleet``: usage errors are one line with exit code 2, bad files exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterkit.cli.app import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet-1000.toml"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--history", "3d"], 2, "--history and --port-per-meter need --fleet"),
        (["--port-per-meter"], 2, "--history and --port-per-meter need --fleet"),
        (["--fleet", str(EXAMPLE), "--history", "3x"], 2, "'3x' is not a duration"),
        (["--fleet", str(EXAMPLE), "--replay", "x.csv"], 2, "with --fleet only --history, --state, --listen"),
        (["--fleet", "/nonexistent/fleet.toml"], 1, "/nonexistent/fleet.toml: cannot read"),
    ],
)
def test_fleet_serve_errors_are_one_line_with_their_exit_code(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *args]) == code
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
