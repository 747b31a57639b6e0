"""Fixtures of the foundation tests."""

from __future__ import annotations

import shutil

import pytest

from tests.foundation.tls import TlsFiles, make_tls_files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl tool makes the test certificates; it is not installed")
    return make_tls_files(tmp_path_factory.mktemp("tls"))
