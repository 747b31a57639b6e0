from __future__ import annotations

from pathlib import Path

import pytest
from qoe_sim.manifest import ManifestError, load_manifest, rendition_for

from tests.factories.sim import constant_manifest


def test_a_constant_manifest_loads_with_its_geometry(tmp_path: Path) -> None:
    manifest = load_manifest(constant_manifest(tmp_path / "m.json", [400, 3000, 6000], 2000, 4))
    assert (manifest.segments, manifest.rungs, manifest.duration_ms) == (4, 3, 8000)
    assert manifest.size_bits(5, 1) == 6_000_000  # live streams cycle the encoded segments
    assert [(r.height, r.framerate) for r in manifest.renditions()] == [(270, 30.0), (720, 30.0), (1080, 60.0)]


def test_renditions_follow_the_nearest_ladder_rung() -> None:
    assert (rendition_for(230).width, rendition_for(230).height) == (416, 234)
    assert rendition_for(35_000).height == 2160


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"segment_duration_ms": 3000, "bitrates_kbps": [300, 200], "segment_sizes_bits": [[1, 2]]}', "ascending"),
        (
            '{"segment_duration_ms": 3000, "bitrates_kbps": [200, 300], "segment_sizes_bits": [[1]]}',
            "one size per rung",
        ),
        ('{"segment_duration_ms": 0, "bitrates_kbps": [200], "segment_sizes_bits": [[1]]}', "must be positive"),
        ('{"bitrates_kbps": [200]}', "not a Sabre manifest"),
    ],
)
def test_bad_manifests_say_what_is_wrong(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(body)
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


def test_a_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not a Sabre manifest"):
        load_manifest(tmp_path / "absent.json")


@pytest.mark.shared_data
def test_the_shared_manifests_load(shared_data: Path) -> None:
    bbb = load_manifest(shared_data / "manifests" / "bbb.json")
    assert (bbb.segments, bbb.rungs, bbb.segment_ms) == (199, 10, 3000)
    assert load_manifest(shared_data / "manifests" / "bbb4k.json").bitrates_kbps[-1] == 35_000
