"""Fixtures shared by every test: settings and the research data that CI always has."""

from __future__ import annotations

from pathlib import Path

import pytest

from qoe.settings import Settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or QOE_SHARED_DATA_DIR); skips the test with the reason when absent."""
    found = Settings(_env_file=None).resolved_shared_data()
    if found is None:
        found = REPO.parent / "shared" / "data"
    if not found.is_dir():
        pytest.skip(f"research data not found at {found}: set QOE_SHARED_DATA_DIR (CI always has it)")
    return found.resolve()
