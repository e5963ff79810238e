"""Every example in README.md and docs/*.md runs as the document shows it (see :mod:`tests.docs.runner`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.docs.runner import ROOT, Block, all_blocks, matches, run_python, run_sh, steps

BLOCKS = all_blocks()
RUN = [b for b in BLOCKS if b.lang in ("sh", "python") and "illustrative" not in b.attrs]
LANGS = {"sh", "python", "text", "toml", "csv", "json"}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """What a reader has in a checkout: the examples folder."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


@pytest.mark.e2e
@pytest.mark.parametrize("block", RUN, ids=[b.where for b in RUN])
def test_example_runs_as_documented(block: Block, workdir: Path) -> None:
    problems = run_sh(block, workdir) if block.lang == "sh" else run_python(block, workdir)
    assert not problems, "\n\n".join(problems)


def test_every_fence_names_its_language_and_illustrative_ones_say_why() -> None:
    for block in BLOCKS:
        assert block.lang in LANGS, f"{block.where}: fence without a known language ({block.lang!r})"
        if "illustrative" in block.attrs:
            assert block.lang == "sh" and len(block.attrs["illustrative"]) > 10, f"{block.where}: say why"


def test_commands_are_not_hidden_in_text_blocks() -> None:
    for block in BLOCKS:
        if block.lang == "text":
            first = block.text.lstrip().split(maxsplit=1)[0] if block.text.strip() else ""
            assert first not in ("meterkit", "$", "make"), f"{block.where}: a command in a text block is never run"


def test_the_runner_reads_prompts_output_and_continuations() -> None:
    block = Block(ROOT / "README.md", 1, "sh", {}, "$ meterkit a \\\n  b  # note\nout 1\n...\n$ echo x\nx\n")
    got = [(s.command, s.line, s.expected) for s in steps(block)]
    assert got == [("meterkit a b  # note", 3, ["out 1", "..."]), ("echo x", 6, ["x"])]
    plain = Block(ROOT / "README.md", 1, "sh", {}, "# comment\nmeterkit x   # y\n\nmeterkit z\n")
    assert [(s.command, s.expected) for s in steps(plain)] == [("meterkit x   # y", None), ("meterkit z", None)]


def test_the_runner_matches_ellipses_and_nothing_else() -> None:
    assert matches(["listening on pty /dev/pts/...", "control on x"], ["listening on pty /dev/pts/7", "control on x"])
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"]) and matches(["a", "...", "z"], ["a", "z"])
    assert not matches(["a", "z"], ["a", "b", "z"])
    assert not matches(["0157.00 kW"], ["0158.00 kW"])
    assert matches(["x  "], ["", "x", ""])  # trailing blanks and blank edges do not count


def test_the_runner_shows_a_drift_as_a_diff(tmp_path: Path) -> None:
    block = Block(ROOT / "README.md", 10, "sh", {}, "$ meterkit --version\nmeterkit 9.9.9\n$ meterkit nonsense\n")
    problems = run_sh(block, tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith("README.md:11: the output of `meterkit --version` differs from the document:")
    assert "-meterkit 9.9.9" in problems[0] and "+meterkit 0.1.0" in problems[0]
    assert problems[1].startswith("README.md:13: `meterkit nonsense` exited 2")


def test_the_runner_writes_redirected_output_and_keeps_errors_on_screen(tmp_path: Path) -> None:
    block = Block(ROOT / "README.md", 1, "sh", {}, "$ meterkit --version > v.txt\n")
    assert run_sh(block, tmp_path) == []
    assert (tmp_path / "v.txt").read_text() == "meterkit 0.1.0\n"
