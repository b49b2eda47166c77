"""The README stands alone in a fresh clone: every file it names is in the repository, and the only addresses it
gives are the local demo's (no link to a page outside the repository)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_file_the_readme_names_is_in_the_repository() -> None:
    named = set(re.findall(r"\b((?:docs|scripts|bench|simulator|siyu|tests)/[A-Za-z0-9_./-]*[A-Za-z0-9_])", README))
    named |= {target for target in re.findall(r"\]\(([^)#]+)", README) if "://" not in target}
    assert len(named) > 10  # the README points at its docs
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_the_readme_links_nowhere_outside_the_repository() -> None:
    addresses = re.findall(r"[a-z][a-z0-9+.-]*://[^\s)\"'`>]+", README)
    assert addresses  # it does show the demo's address
    assert [a for a in addresses if not re.match(r"https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)", a)] == []
