"""The manual as a site: mkdocs.yml's nav and docs/ name the same pages, and the strict build has no warning.

The strict build is what keeps links between pages working: mkdocs.yml's `validation` makes a link to a
missing page, a missing anchor (`page.md#heading`) or an absolute link a warning, and `--strict` makes a
warning fail the build.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def nav_pages(entries: object) -> list[str]:
    """Every page the nav names, in order (sections hold lists of entries; an entry is a title and a page)."""
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [page for entry in entries for page in nav_pages(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in nav_pages(value)]
    raise AssertionError(f"unexpected nav entry: {entries!r}")


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    assert config["docs_dir"] == "docs" and config["theme"]["name"] == "material"
    nav = nav_pages(config["nav"])
    assert len(nav) == len(set(nav)), "a page is in the nav twice"
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert sorted(pages - set(nav)) == [], "add these docs pages to mkdocs.yml's nav"
    assert sorted(set(nav) - pages) == [], "mkdocs.yml's nav names pages that do not exist"
    assert nav[0] == "index.md" and nav[-1] == "commands.md"


def test_the_site_builds_in_strict_mode_without_a_warning(tmp_path):
    missing = [name for name in ("mkdocs", "material") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not importable: install the test extra "
                    "(pip install -c constraints.txt -e '.[test]'), as CI does")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(site)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's end-of-life notice: known, in the README
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert (site / "index.html").exists() and (site / "commands" / "index.html").exists()
    assert (site / "images" / "layers.svg").exists()  # the architecture page's picture
