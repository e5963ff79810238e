"""``meterkit --help`` reads well: ``-h`` too, no type tags, no braces in usage lines, no markup, every option an
error names is listed, ``--version``, shell completion."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from meterkit import __version__
from meterkit.cli.app import build_command, main


def _paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        out.extend(_paths(sub, (*prefix, name)))
    return out


COMMANDS = _paths(build_command())
TYPE_TAG = re.compile(r"<(bool|str|int|float|path|list\[[a-z]+\]|[a-z]+ range)>")


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_the_tree_holds_every_documented_command() -> None:
    assert {" ".join(p) for p in COMMANDS} >= {
        "serve", "read", "get", "set", "exec", "profile", "control", "demand", "demo",
        "keys", "keys new-master", "keys derive", "keys package", "keys inspect",
    }  # fmt: skip


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "meterkit" for p in COMMANDS])
def test_help_reads_well(capsys: pytest.CaptureFixture[str], path: tuple[str, ...]) -> None:
    text = _help(capsys, *path, "--help")
    assert _help(capsys, *path, "-h") == text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert usage.split("Usage: ")[1].startswith(" ".join(("meterkit", *path)))
    assert "{" not in usage and "}" not in usage, usage
    assert not TYPE_TAG.search(text), TYPE_TAG.search(text)
    assert "``" not in text and ":class:" not in text and "[/" not in text


def test_usage_lines_name_arguments_in_capitals(capsys: pytest.CaptureFixture[str]) -> None:
    assert "Usage: meterkit read [OPTIONS] PORT" in _help(capsys, "read", "--help")
    assert "Usage: meterkit exec [OPTIONS] PORT FUNCTION [VALUE]" in _help(capsys, "exec", "--help")
    assert "Usage: meterkit control [OPTIONS] URL COMMAND..." in _help(capsys, "control", "--help")
    text = _help(capsys, "read", "--help")
    assert "--timeout" in text and "TIMEOUT" in text and "table|json|csv" in text


def test_help_shows_square_brackets_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    assert "power down|up [cover-open]" in _help(capsys, "control", "--help")


@pytest.mark.parametrize("command", ["package", "inspect"])
def test_the_passphrase_option_an_error_names_is_in_the_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    assert "--passphrase" in _help(capsys, "keys", command, "--help")
    monkeypatch.delenv("METERKIT_KEY_PASSPHRASE", raising=False)
    assert main(["keys", "inspect", "order.json"]) == 1
    assert "METERKIT_KEY_PASSPHRASE (or --passphrase)" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"meterkit {__version__}\n"


def test_shell_completion_completes_commands_and_options() -> None:
    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_METERKIT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        run = subprocess.run(
            [sys.executable, "-m", "meterkit.cli.app"], env=env, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.split()

    assert complete("meterkit pro", 1) == ["profile"]
    assert complete("meterkit read x --for", 3) == ["--format"]
    assert "--install-completion" in complete("meterkit --inst", 1)
