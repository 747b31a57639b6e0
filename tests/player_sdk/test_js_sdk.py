"""Runs the browser SDK's own tests (``node --test`` in player-sdk/js) as part of ``make test``.

They drive the SDK against a fake media element, a fake hls.js emitter, a fake clock and a
fake network, and validate every payload against schemas/beacon.schema.json with ajv.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SDK_DIR = Path(__file__).resolve().parents[2] / "player-sdk" / "js"
NEEDED_MODULES = ("hls.js", "ajv", "ajv-formats")


def test_js_sdk_node_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser SDK tests need Node.js >= 20")
    missing = [m for m in NEEDED_MODULES if not (SDK_DIR / "node_modules" / m / "package.json").is_file()]
    if missing:
        pytest.skip(f"player-sdk/js/node_modules lacks {', '.join(missing)}: run `make js-deps` (npm ci)")
    test_files = sorted(str(p.relative_to(SDK_DIR)) for p in (SDK_DIR / "test").glob("*.test.js"))
    assert test_files, "no *.test.js files found in player-sdk/js/test"
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", *test_files],
        cwd=SDK_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"node --test failed:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
    assert " fail 0" in result.stdout and " pass " in result.stdout
