"""Running one command imports only its module: ``meterkit demand`` loads none of the meter, port, security or
plotting stacks, nor numba, and the table of which module registers which command matches the full tree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer

from meterkit.cli import app as cli_app

HEAVY = (
    "numba", "matplotlib", "plotly", "cryptography", "paho", "dask", "distributed", "pyarrow",
    "meterkit.security", "meterkit.meter", "meterkit.iec62056_21", "meterkit.client", "meterkit.transport",
    "meterkit.host", "meterkit.faces", "meterkit.collector",
)  # fmt: skip


def test_every_top_level_command_is_registered_by_the_module_the_table_names() -> None:
    full = cli_app.build_command()
    assert set(full.commands) == set(cli_app.MODULE_OF)
    for name, module in cli_app.MODULE_OF.items():
        alone = typer.main.get_command(cli_app.make_app((module,)))
        assert name in getattr(alone, "commands", {}), (name, module)


def test_a_command_alone_has_the_same_help_as_in_the_full_tree() -> None:
    full = cli_app.build_command()
    alone = cli_app.build_command(["demand", "--help"])
    assert list(alone.commands) == ["demand"]
    assert [p.name for p in alone.commands["demand"].params] == [p.name for p in full.commands["demand"].params]


def test_meterkit_demand_imports_no_meter_stack_and_no_compiled_kernel(tmp_path: Path) -> None:
    data = tmp_path / "p.csv"
    rows = [f"2026-01-01T{h:02d}:{m:02d}:00Z,0.5" for h in range(2) for m in range(1, 60)]
    data.write_text("timestamp,kwh\n" + "\n".join(rows) + "\n")
    code = (
        "import sys, json\n"
        "from meterkit.cli.app import main\n"
        f"rc = main(['demand', {str(data)!r}, '--all', '--format', 'json', '--skip-incomplete'])\n"
        "print(json.dumps(sorted(m for m in sys.modules)), file=sys.stderr)\n"
        "raise SystemExit(rc)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    modules = json.loads(run.stderr.strip().splitlines()[-1])
    loaded = sorted({h for h in HEAVY for m in modules if m == h or m.startswith(h + ".")})
    assert loaded == []
    assert json.loads(run.stdout)["results"][0]["md_kw"] == 30.0
