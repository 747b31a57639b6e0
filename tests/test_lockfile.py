"""The lockfile is what both make targets and the Docker image install: it must pin every
dependency pyproject.toml declares, at the same version, or a declared package silently goes
missing (the editable install of the project itself runs with --no-deps)."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.factories.deploy import REPO


def _lock_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [Requirement(text) for text in [*project["dependencies"], *(d for group in extras for d in group)]]


def test_every_declared_dependency_is_pinned_in_the_lockfile_at_its_version() -> None:
    pins = _lock_pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is in pyproject.toml but not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, pyproject.toml asks for {requirement}"
        )


def test_every_lockfile_line_is_an_exact_pin() -> None:
    for name, version in _lock_pins().items():
        assert version and not version.startswith(("=", "<", ">", "~")), f"{name} is not pinned exactly"
