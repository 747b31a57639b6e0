"""Factories for the QoE score: ViewQoE records and tiny Waterloo-layout directories on disk."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from streams.scoring.score import ViewQoE

LOG_COLUMNS = (
    "representation_index",
    "rebuffering_duration",
    "video_bitrate",
    "chunk_duration",
    "width",
    "height",
    "framerate",
    "vmaf",
)


def view(**overrides: Any) -> ViewQoE:
    """A view that played: 1 s startup, no stall, 3 of 5 Mbps at full motion, VMAF 90."""
    base: dict[str, Any] = {
        "played": True,
        "startup_ms": 1000.0,
        "watch_ms": 60_000.0,
        "avg_bitrate_kbps": 3000.0,
        "top_bitrate_kbps": 5000.0,
        "avg_framerate": 30.0,
        "upscale_pct": 0.0,
        "avg_quality": 90.0,
    }
    return ViewQoE(**{**base, **overrides})


@dataclass(frozen=True)
class Chunk:
    representation_index: int
    video_bitrate: float
    vmaf: float
    rebuffering_duration: float = 0.0
    chunk_duration: float = 2.0
    width: int = 1920
    height: int = 1080
    framerate: float = 30.0

    def row(self) -> dict[str, object]:
        return {column: getattr(self, column) for column in LOG_COLUMNS}


@dataclass(frozen=True)
class Session:
    name: str
    mos: float
    chunks: list[Chunk]
    content: str = "clip-a"
    device: str = "hdtv"
    extra: dict[str, object] = field(default_factory=dict)


# A three-rung ladder: 1080p at 4000 kbps, 720p at 1500 kbps, 360p at 400 kbps.
TOP = Chunk(2, 4000.0, 95.0)
MIDDLE = Chunk(1, 1500.0, 80.0, width=1280, height=720)
BOTTOM = Chunk(0, 400.0, 45.0, width=640, height=360)


def sample_sessions() -> list[Session]:
    """Six sessions whose MOS falls with lower rungs, stalls, startup delay and a down-switch."""
    return [
        Session("001.csv", 88.0, [TOP] * 4),
        Session("002.csv", 72.0, [MIDDLE] * 4),
        Session("003.csv", 35.0, [BOTTOM] * 4),
        Session("004.csv", 68.0, [TOP, TOP, replace(TOP, rebuffering_duration=3.0), TOP]),
        Session("005.csv", 50.0, [TOP, TOP, BOTTOM, BOTTOM]),
        Session("006.csv", 62.0, [replace(MIDDLE, rebuffering_duration=4.0), MIDDLE, MIDDLE, MIDDLE]),
    ]


def write_waterloo_dir(
    root: Path,
    sessions: list[Session] | None = None,
    *,
    shuffle_columns: bool = False,
    extra_columns: bool = False,
    with_vmaf: bool = True,
    drop_log_column: str | None = None,
    drop_data_column: str | None = None,
    seed: int = 0,
) -> Path:
    """Write ``data.csv`` and ``streaming_logs/*.csv`` under ``root`` and return ``root``.

    ``shuffle_columns`` reorders every file's columns, ``extra_columns`` adds columns other
    Waterloo sets carry (per-chunk ``mos``, ``qp``, ``psnr``), the ``drop_*`` options remove one.
    """
    sessions = sample_sessions() if sessions is None else sessions
    rng = random.Random(seed)
    logs = root / "streaming_logs"
    logs.mkdir(parents=True, exist_ok=True)
    data_rows = [
        {
            "streaming_log": s.name,
            "mos": s.mos,
            "content": s.content,
            "encoding_profile": "H264",
            "device": s.device,
            **s.extra,
        }
        for s in sessions
    ]
    _write(root / "data.csv", data_rows, shuffle_columns, drop_data_column, rng)
    for s in sessions:
        rows = [chunk.row() for chunk in s.chunks]
        for row in rows:
            if not with_vmaf:
                del row["vmaf"]
            if extra_columns:
                row.update({"qp": 30, "mos": 99.0, "psnr": 40.1})
        _write(logs / s.name, rows, shuffle_columns, drop_log_column, rng)
    return root


def _write(path: Path, rows: list[dict[str, object]], shuffle: bool, drop: str | None, rng: random.Random) -> None:
    columns = [c for c in rows[0] if c != drop]
    if shuffle:
        rng.shuffle(columns)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
