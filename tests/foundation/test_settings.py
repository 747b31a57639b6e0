from __future__ import annotations

from pathlib import Path

import pytest

from foundation.settings import Settings, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting_as_generated() -> None:
    text = README.read_text()
    start, end = "<!-- settings:start -->\n", "\n<!-- settings:end -->"
    block = text[text.index(start) + len(start) : text.index(end)]
    assert block == settings_table(), "run `python scripts/readme-settings.py`"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QOE_API_PORT", "9100")
    monkeypatch.setenv("QOE_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    settings = Settings(_env_file=None)
    assert settings.api_port == 9100
    assert not settings.embedded_broker
    assert settings.embedded_warehouse


def test_missing_research_data_is_none_not_an_error(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, shared_data_dir=tmp_path / "absent")
    assert settings.resolved_shared_data() is None
