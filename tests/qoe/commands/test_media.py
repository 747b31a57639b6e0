"""``qoe media-ladder`` builds the demo ladder into the directory it is given."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from foundation.settings import Settings
from qoe.commands.media import register


def test_cli_builds_into_the_given_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["media-ladder", "--out", str(tmp_path / "cli"), "--duration", "2", "--segment", "1"])
    assert args.handler(args, Settings(_env_file=None)) == 0
    assert (tmp_path / "cli" / "master.m3u8").is_file()
    assert "CC BY 3.0" in capsys.readouterr().out
    bad = parser.parse_args(["media-ladder", "--out", str(tmp_path / "bad"), "--segment", "0"])
    assert bad.handler(bad, Settings(_env_file=None)) == 2
    assert "segment_s" in capsys.readouterr().out
