"""The HLS ladder is built for real with ffmpeg from the Big Buck Bunny clip, then checked
with ffprobe and by reading the playlists it wrote."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ingest.media import (
    Ladder,
    LadderSpec,
    MediaError,
    Rendition,
    avc_codec_string,
    bbb_clip,
    build_hls_ladder,
    find_ffmpeg,
    load_ladder,
    parse_media_playlist,
    probe_clip,
    write_steering_playlist,
)
from tests.factories.media import attributes, listed_variants, small_spec, tag_lines


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Ladder:
    """The default ladder (four rungs, 20 s): about 20 s of encoding on two cores."""
    return build_hls_ladder(tmp_path_factory.mktemp("media") / "bbb")


def ffprobe(path: Path) -> dict[str, Any]:
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.skip("ffprobe is not installed (`make system-deps` installs ffmpeg, which brings it)")
    cmd = [exe, "-v", "error", "-show_entries", "stream=codec_name,codec_type,width,height,channels:format=duration"]
    result = subprocess.run([*cmd, "-of", "json", str(path)], capture_output=True, text=True, check=True)
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_the_clip_is_short_so_the_ladder_loops_it() -> None:
    info = probe_clip(bbb_clip(), find_ffmpeg())
    assert 5.0 < info.duration_s < 6.0
    assert (info.width, info.height, info.fps, info.has_audio) == (1280, 720, 25.0, True)


def test_default_ladder_has_distinct_rungs_of_real_h264(ladder: Ladder) -> None:
    assert len(ladder.variants) >= 3
    assert len({(v.width, v.height) for v in ladder.variants}) == len(ladder.variants)
    bandwidths = [v.bandwidth for v in ladder.variants]
    assert bandwidths == sorted(bandwidths) and len(set(bandwidths)) == len(bandwidths)
    for variant in ladder.variants:
        probed = ffprobe(ladder.directory / variant.uri)
        shape = [(s["codec_name"], s["width"], s["height"]) for s in probed["streams"]]
        assert shape == [("h264", variant.width, variant.height)]
        assert float(probed["format"]["duration"]) == pytest.approx(20.0, abs=0.1)
        assert variant.video_codec == avc_codec_string(ladder.directory / variant.name / "init.mp4")
        assert variant.video_codec.startswith("avc1.4d")  # Main profile


def test_segments_are_short_and_all_present(ladder: Ladder) -> None:
    for uri in [v.uri for v in ladder.variants] + [str(ladder.audio_uri)]:
        playlist = parse_media_playlist(ladder.directory / uri)
        folder = (ladder.directory / uri).parent
        assert all(1.0 <= duration <= 2.1 for _, duration in playlist.segments[:-1])
        assert all((folder / name).stat().st_size > 0 for name, _ in playlist.segments)
        assert playlist.duration_s == pytest.approx(20.0, abs=0.1)


def test_audio_rendition_is_stereo_aac(ladder: Ladder) -> None:
    assert ladder.audio_uri is not None
    probed = ffprobe(ladder.directory / ladder.audio_uri)
    assert [(s["codec_name"], s["channels"]) for s in probed["streams"]] == [("aac", 2)]


def test_master_playlist_describes_each_variant(ladder: Ladder) -> None:
    text = ladder.master.read_text()
    listed = listed_variants(text)
    assert [v.uri for v in listed] == [v.uri for v in ladder.variants]
    for shown, variant in zip(listed, ladder.variants, strict=True):
        assert shown.attrs["RESOLUTION"] == f"{variant.width}x{variant.height}"
        assert float(shown.attrs["FRAME-RATE"]) == 25.0
        assert shown.attrs["CODECS"] == f"{variant.video_codec},mp4a.40.2"
        assert shown.attrs["AUDIO"] == "aud"
        assert int(shown.attrs["AVERAGE-BANDWIDTH"]) <= int(shown.attrs["BANDWIDTH"])
    [media] = tag_lines(text, "EXT-X-MEDIA")
    attrs = attributes(media)
    assert (attrs["TYPE"], attrs["GROUP-ID"], attrs["URI"], attrs["CHANNELS"]) == (
        "AUDIO",
        "aud",
        "audio/index.m3u8",
        "2",
    )


def test_bandwidth_is_the_measured_peak_segment_rate(ladder: Ladder) -> None:
    top = ladder.variants[-1]
    playlist = parse_media_playlist(ladder.directory / top.uri)
    folder = ladder.directory / top.name
    peak_video = max((folder / n).stat().st_size * 8 / d for n, d in playlist.segments)
    assert ladder.audio_uri is not None
    audio = parse_media_playlist(ladder.directory / ladder.audio_uri)
    audio_folder = (ladder.directory / ladder.audio_uri).parent
    peak_audio = max((audio_folder / n).stat().st_size * 8 / d for n, d in audio.segments)
    assert top.bandwidth == pytest.approx(peak_video + peak_audio, abs=2)


def test_second_build_with_same_inputs_is_the_cached_one(ladder: Ladder) -> None:
    before = {p: p.stat().st_mtime_ns for p in ladder.directory.rglob("*")}
    again = build_hls_ladder(ladder.directory)
    assert again == ladder
    assert {p: p.stat().st_mtime_ns for p in ladder.directory.rglob("*")} == before


def test_changed_spec_rebuilds_and_a_broken_cache_is_rebuilt(tmp_path: Path) -> None:
    out = tmp_path / "small"
    first = build_hls_ladder(out, small_spec(duration_s=3.0))
    assert [v.segments for v in first.variants] == [3, 3]
    second = build_hls_ladder(out, small_spec(duration_s=5.0))
    assert second.key != first.key
    assert [v.segments for v in second.variants] == [5, 5]
    (out / "144p" / "seg_0002.m4s").unlink()
    with pytest.raises(MediaError, match="missing"):
        load_ladder(out)
    third = build_hls_ladder(out, small_spec(duration_s=5.0))
    assert (out / "144p" / "seg_0002.m4s").is_file()
    assert third.key == second.key
    assert not list(tmp_path.glob(".small.building-*")), "the work directory is cleaned up"


def test_video_only_ladder(tmp_path: Path) -> None:
    spec = LadderSpec(renditions=(Rendition("144p", 144, 150),), duration_s=2.0, segment_s=1.0, audio_kbps=None)
    built = build_hls_ladder(tmp_path / "v", spec)
    assert built.audio_uri is None
    assert tag_lines(built.master.read_text(), "EXT-X-MEDIA") == []
    assert listed_variants(built.master.read_text())[0].attrs["CODECS"] == built.variants[0].video_codec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (LadderSpec(renditions=()), "at least one"),
        (LadderSpec(renditions=(Rendition("odd", 241, 100),)), "even"),
        (LadderSpec(renditions=(Rendition("a", 240, 100), Rendition("a", 360, 200))), "distinct"),
        (LadderSpec(renditions=(Rendition("../x", 240, 100),)), "directory name"),
        (LadderSpec(segment_s=0.1), "segment_s"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(tmp_path: Path, spec: LadderSpec, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        build_hls_ladder(tmp_path / "x", spec)


def test_missing_clip_and_non_h264_init_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        build_hls_ladder(tmp_path / "x", small_spec(), clip=tmp_path / "nope.mp4")
    junk = tmp_path / "init.mp4"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(MediaError, match="avcC"):
        avc_codec_string(junk)


def test_steering_playlist_lists_every_variant_per_pathway(ladder: Ladder, tmp_path: Path) -> None:
    pathways = {"cdn-a": "http://127.0.0.1:9101/media/bbb/", "cdn-b": "http://127.0.0.1:9102/media/bbb"}
    out = write_steering_playlist(ladder, tmp_path / "steered.m3u8", pathways=pathways, server_uri="/v1/steering/bbb")
    text = out.read_text()
    [steering] = tag_lines(text, "EXT-X-CONTENT-STEERING")
    assert attributes(steering) == {"SERVER-URI": "/v1/steering/bbb", "PATHWAY-ID": "cdn-a"}
    listed = listed_variants(text)
    assert len(listed) == 2 * len(ladder.variants)
    for pathway, base in pathways.items():
        mine = [v for v in listed if v.attrs["PATHWAY-ID"] == pathway]
        assert [v.uri for v in mine] == [base.rstrip("/") + "/" + v.uri for v in ladder.variants]
        assert {v.attrs["AUDIO"] for v in mine} == {f"aud-{pathway}"}
    audio_uris = sorted(attributes(line)["URI"] for line in tag_lines(text, "EXT-X-MEDIA"))
    assert audio_uris == [
        "http://127.0.0.1:9101/media/bbb/audio/index.m3u8",
        "http://127.0.0.1:9102/media/bbb/audio/index.m3u8",
    ]


def test_steering_playlist_default_pathway_and_bad_input(ladder: Ladder, tmp_path: Path) -> None:
    pathways = {"cdn-a": "/a/", "cdn-b": "/b/"}
    out = write_steering_playlist(
        ladder, tmp_path / "s.m3u8", pathways=pathways, server_uri="https://steer.test/s", default_pathway="cdn-b"
    )
    assert 'PATHWAY-ID="cdn-b"' in tag_lines(out.read_text(), "EXT-X-CONTENT-STEERING")[0]
    for kwargs, message in [
        ({"pathways": {}, "server_uri": "/s"}, "at least one"),
        ({"pathways": {"cdn a": "/a/"}, "server_uri": "/s"}, "pathway id"),
        ({"pathways": pathways, "server_uri": '/s"x'}, "server_uri"),
        ({"pathways": pathways, "server_uri": "/s", "default_pathway": "cdn-c"}, "default pathway"),
    ]:
        with pytest.raises(MediaError, match=message):
            write_steering_playlist(ladder, tmp_path / "bad.m3u8", **kwargs)  # type: ignore[arg-type]


def test_the_imageio_ffmpeg_fallback_builds_too(tmp_path: Path) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    built = build_hls_ladder(tmp_path / "fallback", small_spec(duration_s=2.0), ffmpeg=exe)
    assert [v.segments for v in built.variants] == [2, 2]
    assert all(v.video_codec.startswith("avc1.") for v in built.variants)
