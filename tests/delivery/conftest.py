"""The delivery tests' LocalStack: one per module that asks for ``stack``, as starting one takes seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from foundation.stack import LocalStack


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """QOE_* variables of the module's stack; a module overrides this fixture to set some."""
    return {}


@pytest.fixture(scope="module")
def stack(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The embedded broker, the real worker with its score agent and the warehouse, the real gateway."""
    with LocalStack(tmp_path_factory.mktemp("stack"), env=stack_env) as running:
        yield running
