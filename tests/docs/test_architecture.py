"""docs/architecture.md is a map: every path it names must exist, so it cannot point at moved code."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"
# A path in backticks: at least one slash, or a file name with an extension.
_PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]*|[\w-]+\.(?:py|md|toml|yaml|sql|json))`")
# Backticked names in the page that are not paths of this repository.
_NOT_PATHS = {"/v1/beacons"}


def named_paths(text: str) -> list[str]:
    return [p for p in _PATH.findall(text) if p not in _NOT_PATHS and not p.startswith(("POST ", "/"))]


def resolve(path: str) -> Path:
    if (REPO / path).exists() or "/" in path:
        return REPO / path
    return next(REPO.rglob(path), REPO / path)


def test_the_scanner_finds_paths_and_skips_words() -> None:
    text = "see `warehouse/views.py`, `ingest/` and `pyproject.toml`, not `qoe up` or `Settings`"
    assert named_paths(text) == ["warehouse/views.py", "ingest/", "pyproject.toml"]


def test_every_path_in_the_architecture_page_exists() -> None:
    paths = named_paths(ARCHITECTURE.read_text())
    assert len(paths) > 40, "the page names the folders and modules newcomers need"
    missing = [p for p in paths if not resolve(p).exists()]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_linked_page_exists() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", ARCHITECTURE.read_text()):
        if not target.startswith("http"):
            assert (ARCHITECTURE.parent / target).exists(), target
