"""Reading Waterloo-layout directories into view records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from evaluation.scoring.waterloo import WaterlooFormatError, read_waterloo
from tests.factories.scoring import BOTTOM, MIDDLE, TOP, Chunk, Session, write_waterloo_dir


def test_a_log_becomes_what_a_player_would_report(tmp_path: Path) -> None:
    chunks = [
        replace(TOP, rebuffering_duration=1.5),  # initial loading → startup
        TOP,
        replace(BOTTOM, rebuffering_duration=2.0),  # a stall, and a switch down
        replace(MIDDLE, chunk_duration=4.0, framerate=15.0),  # a switch up, at a lower frame rate
    ]
    dataset = read_waterloo(write_waterloo_dir(tmp_path, [Session("a.csv", 50.0, chunks)]))
    row = dataset.views.loc["a.csv"]
    seconds = [2.0, 2.0, 2.0, 4.0]
    assert row["startup_ms"] == 1500.0
    assert row["stall_count"] == 1 and row["stall_ms"] == 2000.0
    assert row["watch_ms"] == 1000.0 * (sum(seconds) + 2.0)
    assert row["downswitches"] == 1
    assert row["avg_bitrate_kbps"] == pytest.approx((4000 * 4 + 400 * 2 + 1500 * 4) / 10)
    assert row["avg_framerate"] == pytest.approx((30 * 6 + 15 * 4) / 10)
    # hdtv display: 360p is upscaled 200 %, 720p 50 %, 1080p not at all.
    assert row["upscale_pct"] == pytest.approx((0 * 4 + 200 * 2 + 50 * 4) / 10)
    assert row["avg_quality"] == pytest.approx((95 * 4 + 45 * 2 + 80 * 4) / 10)
    assert row["top_bitrate_kbps"] == 4000.0  # the best representation of this ladder
    assert bool(row["played"]) and dataset.mos.loc["a.csv"] == 50.0
    assert dataset.has_quality and dataset.name == tmp_path.name


def test_top_of_ladder_is_shared_by_sessions_of_the_same_content(tmp_path: Path) -> None:
    sessions = [
        Session("low.csv", 30.0, [BOTTOM] * 3),
        Session("top.csv", 90.0, [replace(TOP, video_bitrate=3900.0), replace(TOP, video_bitrate=4100.0)]),
        Session("other.csv", 60.0, [MIDDLE] * 2, content="clip-b"),
    ]
    views = read_waterloo(write_waterloo_dir(tmp_path, sessions)).views
    assert views.loc["low.csv", "top_bitrate_kbps"] == pytest.approx(4000.0)  # mean of the top rung's chunks
    assert views.loc["other.csv", "top_bitrate_kbps"] == pytest.approx(1500.0)


def test_device_sets_the_display_for_upscale(tmp_path: Path) -> None:
    sessions = [Session("tv.csv", 50.0, [TOP]), Session("uhd.csv", 50.0, [TOP], device="UHDTV")]
    views = read_waterloo(write_waterloo_dir(tmp_path, sessions)).views
    assert views.loc["tv.csv", "upscale_pct"] == 0.0
    assert views.loc["uhd.csv", "upscale_pct"] == pytest.approx(100.0)


def test_column_order_and_extra_columns_do_not_matter(tmp_path: Path) -> None:
    plain = read_waterloo(write_waterloo_dir(tmp_path / "plain"))
    shuffled = read_waterloo(write_waterloo_dir(tmp_path / "shuffled", shuffle_columns=True, extra_columns=True))
    pd.testing.assert_frame_equal(plain.views, shuffled.views)
    pd.testing.assert_series_equal(plain.mos, shuffled.mos)


def test_the_quality_column_is_optional(tmp_path: Path) -> None:
    dataset = read_waterloo(write_waterloo_dir(tmp_path, with_vmaf=False))
    assert not dataset.has_quality
    assert dataset.views["avg_quality"].isna().all()
    assert dataset.views["avg_bitrate_kbps"].notna().all()


def test_sets_without_content_or_device_columns_still_read(tmp_path: Path) -> None:
    root = write_waterloo_dir(tmp_path, drop_data_column="device")
    data = pd.read_csv(root / "data.csv").drop(columns=["content", "encoding_profile"])
    data.to_csv(root / "data.csv", index=False)
    views = read_waterloo(root).views
    # Each log is then its own ladder, and the display is an HDTV.
    assert views.loc["003.csv", "top_bitrate_kbps"] == pytest.approx(400.0)
    assert views.loc["003.csv", "upscale_pct"] == pytest.approx(200.0)


@pytest.mark.parametrize(
    "column", ["representation_index", "rebuffering_duration", "video_bitrate", "chunk_duration", "height"]
)
def test_a_missing_log_column_is_named(tmp_path: Path, column: str) -> None:
    root = write_waterloo_dir(tmp_path, drop_log_column=column, shuffle_columns=True)
    with pytest.raises(WaterlooFormatError, match=f"lacks required column\\(s\\): {column}"):
        read_waterloo(root)


@pytest.mark.parametrize("column", ["streaming_log", "mos"])
def test_a_missing_data_column_is_named(tmp_path: Path, column: str) -> None:
    with pytest.raises(WaterlooFormatError, match=f"data.csv lacks required column\\(s\\): {column}"):
        read_waterloo(write_waterloo_dir(tmp_path, drop_data_column=column))


def test_not_a_waterloo_directory(tmp_path: Path) -> None:
    with pytest.raises(WaterlooFormatError, match="is not a directory"):
        read_waterloo(tmp_path / "absent")
    with pytest.raises(WaterlooFormatError, match=r"no data\.csv"):
        read_waterloo(tmp_path)
    (tmp_path / "data.csv").write_text("streaming_log,mos\na.csv,50\n")
    with pytest.raises(WaterlooFormatError, match="no streaming_logs/"):
        read_waterloo(tmp_path)


def test_bad_files_are_reported(tmp_path: Path) -> None:
    root = write_waterloo_dir(tmp_path)
    (root / "streaming_logs" / "002.csv").unlink()
    with pytest.raises(WaterlooFormatError, match=r"002\.csv is missing"):
        read_waterloo(root)

    bad_value = write_waterloo_dir(tmp_path / "b", [Session("x.csv", 50.0, [replace(TOP, video_bitrate=-1.0)])])
    with pytest.raises(WaterlooFormatError, match="video_bitrate must be ≥ 0"):
        read_waterloo(bad_value)

    text = write_waterloo_dir(tmp_path / "c", [Session("x.csv", 50.0, [TOP])])
    log = text / "streaming_logs" / "x.csv"
    log.write_text(log.read_text().replace("4000.0", "fast"))
    with pytest.raises(WaterlooFormatError, match="video_bitrate has a missing or non-numeric value"):
        read_waterloo(text)

    with pytest.raises(WaterlooFormatError, match=r"mos of x\.csv is not a number"):
        read_waterloo(write_waterloo_dir(tmp_path / "d", [Session("x.csv", float("nan"), [TOP])]))

    with pytest.raises(WaterlooFormatError, match="unknown device 'tablet'"):
        read_waterloo(write_waterloo_dir(tmp_path / "e", [Session("x.csv", 50.0, [TOP], device="tablet")]))


def test_a_log_name_outside_the_folder_is_refused(tmp_path: Path) -> None:
    root = write_waterloo_dir(tmp_path, [Session("x.csv", 50.0, [Chunk(0, 100.0, 50.0)])])
    (root / "data.csv").write_text("streaming_log,mos\n../data.csv,50\n")
    with pytest.raises(WaterlooFormatError, match=r"must be a file name, got '\.\./data\.csv'"):
        read_waterloo(root)
