"""The documentation site (MkDocs, Material theme) builds from README.md and docs/ with no broken internal link."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.runner import ROOT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
    reason="mkdocs and mkdocs-material are not installed (they come with the test extras: pip install -e '.[test]')",
)


def _build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(project / "mkdocs.yml"), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("mkdocs.yml", "README.md", "CHANGELOG.md"):
        shutil.copy(ROOT / name, project / name)
    for folder in ("docs", "scripts"):
        shutil.copytree(ROOT / folder, project / folder)
    return project


def test_the_site_builds_strict_with_every_page_and_link(tmp_path: Path) -> None:
    run = _build(_copy_project(tmp_path), tmp_path / "site")
    assert run.returncode == 0, run.stderr
    assert "WARNING" not in run.stderr, run.stderr
    site = tmp_path / "site"
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "meterkit demo" in home and 'href="meter/' in home  # README's docs/meter.md link, as a page link
    for page in ("meter", "registers", "client-and-serve", "protocol", "security", "analytics", "changelog"):
        assert (site / page / "index.html").is_file(), page


def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    with (project / "docs" / "protocol.md").open("a", encoding="utf-8") as fh:
        fh.write("\nSee [the meter](meter.md#no-such-section) and [nothing](nowhere.md).\n")
    run = _build(project, tmp_path / "site")
    assert run.returncode != 0
    assert "nowhere.md" in run.stderr and "no-such-section" in run.stderr
