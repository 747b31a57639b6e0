"""deploy/README.md documents what the deployment files configure."""

from __future__ import annotations

import re

from tests.factories.deploy import COMPOSE_FILE, DEPLOY, DOCKERFILE, K8S_DIR, QOE_VARIABLE, is_setting

README = DEPLOY / "README.md"


def test_every_variable_the_deployments_set_is_documented() -> None:
    files = [COMPOSE_FILE, DOCKERFILE, *sorted(K8S_DIR.glob("*.yaml"))]
    used = {name for path in files for name in QOE_VARIABLE.findall(path.read_text())}
    documented = set(re.findall(r"`(QOE_[A-Z0-9_]+)`", README.read_text()))
    assert used <= documented, f"undocumented in deploy/README.md: {sorted(used - documented)}"


def test_documented_variables_are_settings_and_the_settings_table_is_linked() -> None:
    text = README.read_text()
    unknown = sorted(name for name in set(QOE_VARIABLE.findall(text)) if not is_setting(name))
    assert not unknown, unknown
    assert "](../README.md#settings)" in text
    assert "## Settings" in (DEPLOY.parent / "README.md").read_text()


def test_every_manifest_is_described() -> None:
    text = README.read_text()
    for path in K8S_DIR.glob("*.yaml"):
        if path.name != "kustomization.yaml":
            assert f"`{path.name}`" in text, path.name
