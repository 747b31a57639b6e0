"""The stored forms of viewer data: page URLs without query, viewer ids as a keyed hash."""

from __future__ import annotations

import re

import pytest

from schemas import Beacon
from schemas.privacy import pseudonymous_viewer_id, without_query
from tests.factories.beacons import beacon


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://video.example/watch?v=bbb&token=s3cret#t=30", "https://video.example/watch"),
        ("https://video.example/watch#section?not-a-query", "https://video.example/watch"),
        ("https://video.example/watch?", "https://video.example/watch"),
        ("https://video.example/watch", "https://video.example/watch"),
        ("/relative/path?q=1", "/relative/path"),
        ("", ""),
    ],
)
def test_page_urls_lose_query_and_fragment(url: str, kept: str) -> None:
    assert without_query(url) == kept


def test_a_viewer_id_hashes_the_same_under_one_key_and_differently_under_another() -> None:
    one = pseudonymous_viewer_id(b"key-one-of-sixteen-chars", "viewer-1")
    assert one == pseudonymous_viewer_id(b"key-one-of-sixteen-chars", "viewer-1")
    assert one != pseudonymous_viewer_id(b"key-two-of-sixteen-chars", "viewer-1")
    assert one != pseudonymous_viewer_id(b"key-one-of-sixteen-chars", "viewer-2")
    assert re.fullmatch(r"[0-9a-f]{64}", one)


def test_a_hashed_viewer_id_is_a_valid_id_of_the_schema() -> None:
    hashed = pseudonymous_viewer_id(b"key-one-of-sixteen-chars", "x" * 64)
    assert Beacon.model_validate(beacon(viewer_id=hashed)).viewer_id == hashed
