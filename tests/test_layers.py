"""The layers in pyproject.toml hold, and a wrong import breaks `make lint`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def root_packages() -> list[str]:
    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"])


def package_dir(name: str) -> Path:
    return REPO / name if (REPO / name).is_dir() else REPO / "player-sdk" / "python" / name


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_the_tree(into: Path) -> Path:
    for name in root_packages():
        shutil.copytree(package_dir(name), into / name, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    shutil.copy(REPO / "pyproject.toml", into / "pyproject.toml")
    return into


def test_every_layer_contract_is_kept() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout


def test_ingest_importing_the_warehouse_breaks_the_build(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    beacons = tree / "ingest" / "beacons.py"
    beacons.write_text(beacons.read_text() + "\nfrom warehouse import events as _events  # planted\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "ingest.beacons -> warehouse.events" in result.stdout


def test_a_lower_layer_importing_the_composition_root_breaks_the_build(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    settings = tree / "foundation" / "settings.py"
    settings.write_text(settings.read_text() + "\nimport qoe.cli  # planted\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "foundation.settings -> qoe.cli" in result.stdout
