"""MkDocs hook: the site's home page is README.md and its changelog CHANGELOG.md, as the repository shows them.

Links from README.md into ``docs/`` (``docs/meter.md``) become links between pages of the site (``meter.md``), and a
``sh`` block written as a terminal session (``$ `` prompts with output) is highlighted as one (``console``);
everything else is the same Markdown.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"index.md": "README.md", "changelog.md": "CHANGELOG.md"}


def _site_markdown(text: str) -> str:
    return re.sub(r"\]\(docs/", "](", text)


_SESSION = re.compile(r"^```sh([^\n]*)\n(?=\$ )", re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return _SESSION.sub(r"```console\1\n", markdown)


def on_files(files: Files, config: Any) -> Files:
    for page, source in PAGES.items():
        content = _site_markdown((ROOT / source).read_text(encoding="utf-8"))
        files.append(File.generated(config, page, content=content))
    return files
