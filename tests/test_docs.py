"""The README stays short and the documentation site stays whole (issue 19 item 4).

`mkdocs build --strict` (in .ci/run) catches a broken link inside the site;
these catch what it cannot: a nav entry for a page that was never written, a
page left out of the nav, and a README link that points nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT

yaml = pytest.importorskip("yaml")  # PyYAML comes with mkdocs, in the test extra

DOCS = ROOT / "docs"
README = ROOT / "README.md"


def nav_pages(entries: Any) -> Iterator[str]:
    """Every page file named in a mkdocs nav, however deep its sections."""
    if isinstance(entries, str):
        yield entries
    elif isinstance(entries, list):
        for entry in entries:
            yield from nav_pages(entry)
    elif isinstance(entries, dict):
        for value in entries.values():
            yield from nav_pages(value)


def site() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return config


def test_every_page_in_the_nav_exists_and_every_page_is_in_the_nav() -> None:
    pages = list(nav_pages(site()["nav"]))
    assert len(pages) == len(set(pages)), "a page is listed twice"
    assert [page for page in pages if not (DOCS / page).is_file()] == []
    written = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert sorted(written - set(pages)) == [], "pages in docs/ that the nav leaves out"


def test_the_site_fetches_no_web_font() -> None:
    assert site()["theme"]["font"] is False


def test_the_readme_stays_under_200_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines: move the detail into a page under docs/"


def test_every_link_in_the_readme_resolves() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links, "the README links to the docs"
    broken = []
    for link in links:
        if re.match(r"[a-z]+://", link):
            continue  # the web is not checked offline
        path, _, anchor = link.partition("#")
        target = (ROOT / path) if path else README
        if not target.exists() or anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(link)
    assert broken == []


def anchors(page: Path) -> set[str]:
    """The heading anchors of a markdown page, as mkdocs' toc and GitHub make them."""
    found = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"#{1,6} (.+)", line)
        if heading and not fenced:
            words = re.sub(r"[^\w\- ]", "", heading.group(1).lower())
            found.add(re.sub(r"[\s-]+", "-", words.strip()))
    return found
