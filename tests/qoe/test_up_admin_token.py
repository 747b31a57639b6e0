"""``qoe up``'s admin token (qoe.up.ensure_admin_token): one per data directory, private, reused."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import SecretStr

from foundation.access import admin_headers, admin_token_path, new_token
from foundation.settings import Settings
from qoe.up import ensure_admin_token


def test_the_token_is_generated_once_into_a_private_file_and_reused(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    first = ensure_admin_token(settings)
    path = admin_token_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == str(first)
    assert ensure_admin_token(settings) == first
    assert admin_headers(settings) == first.bearer  # what `qoe erase` and `qoe keys` present


def test_qoe_admin_token_wins_and_writes_nothing(tmp_path: Path) -> None:
    given = new_token()
    settings = Settings(_env_file=None, data_dir=tmp_path, admin_token=SecretStr(str(given)))
    assert ensure_admin_token(settings) == given
    assert not admin_token_path(settings).exists()
