"""The streams tests' LocalStack, a fresh one per test: the end-to-end counts start from an empty warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.stack import LocalStack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(tmp_path / "qoe") as running:
        yield running
