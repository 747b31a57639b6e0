"""Read a directory in the layout of the Waterloo Streaming QoE databases into ViewQoE records.

Layout: ``data.csv`` (one row per streaming session: ``streaming_log``, ``mos``, and in the
published sets also ``content``, ``encoding_profile``, ``device``) and ``streaming_logs/*.csv``
(one row per chunk). Columns are read by name, so their order and any extra columns do not
matter. Only the chunk columns every Waterloo set has are used, plus ``vmaf`` when present:
reading the subjective or model-derived columns some sets carry (``mos`` per chunk, ``is_best``…)
would leak the answer into the score.

How a chunk log becomes what a player would report (docs/qoe-score.md, "Reading the data"):
- the first chunk's ``rebuffering_duration`` is the initial loading delay → ``startup_ms``;
  later non-zero ones are stalls → ``stall_count`` / ``stall_ms``;
- bitrate, frame rate and VMAF are weighted by ``chunk_duration``;
- a change of ``representation_index`` to a chunk of lower bitrate is a down-switch;
- ``width``/``height`` are the encoded size; the display is the session's ``device``, so
  ``upscale_pct`` is the upscale to that screen on the fitting axis;
- the top of the ladder is the highest mean chunk bitrate of any representation of the same
  content (and encoding profile) across the set, i.e. what the manifest would declare.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_DATA_COLUMNS = ("streaming_log", "mos")
REQUIRED_LOG_COLUMNS = (
    "representation_index",
    "rebuffering_duration",
    "video_bitrate",
    "chunk_duration",
    "width",
    "height",
    "framerate",
)
QUALITY_COLUMN = "vmaf"
LADDER_KEYS = ("content", "encoding_profile")
# Display size per viewing device of the Waterloo studies. The phone size is the one the
# databases' authors use in their public analysis code.
DISPLAYS: dict[str, tuple[int, int]] = {"hdtv": (1920, 1080), "uhdtv": (3840, 2160), "phone": (2436, 1126)}
DEFAULT_DEVICE = "hdtv"


class WaterlooFormatError(ValueError):
    """The directory is not in the Waterloo layout, or a file in it is unusable."""


@dataclass(frozen=True)
class WaterlooSet:
    """One database: ViewQoE columns per session (indexed by ``streaming_log``) and the MOS."""

    name: str
    views: pd.DataFrame
    mos: pd.Series

    @property
    def has_quality(self) -> bool:
        """Whether the logs carry the per-rendition quality value (VMAF)."""
        return bool(self.views["avg_quality"].notna().any())

    def __len__(self) -> int:
        return len(self.views)


def read_waterloo(directory: Path) -> WaterlooSet:
    """Read ``directory``; raises WaterlooFormatError with a one-line reason when it can't."""
    directory = Path(directory)
    if not directory.is_dir():
        raise WaterlooFormatError(f"{directory} is not a directory")
    sessions = _read_sessions(directory)
    logs = {name: _read_log(directory / "streaming_logs" / name) for name in sessions["streaming_log"]}
    tops = _ladder_tops(sessions, logs)
    rows = [
        _view_row(logs[name], tops[name], _display(device))
        for name, device in zip(sessions["streaming_log"], sessions["device"], strict=True)
    ]
    import pandas as pd

    index = pd.Index(sessions["streaming_log"], name="streaming_log")
    views = pd.DataFrame(rows, index=index)
    mos = pd.Series(sessions["mos"].to_numpy(dtype=float), index=index, name="mos")
    return WaterlooSet(name=directory.resolve().name, views=views, mos=mos)


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise WaterlooFormatError(f"{path} is missing") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WaterlooFormatError(f"{path} is not a readable CSV file: {reason}") from None


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], path: Path) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise WaterlooFormatError(f"{path} lacks required column(s): {', '.join(missing)}")


def _read_sessions(directory: Path) -> pd.DataFrame:
    import pandas as pd

    path = directory / "data.csv"
    if not path.is_file():
        raise WaterlooFormatError(f"{directory} has no data.csv: not a Waterloo-layout directory")
    if not (directory / "streaming_logs").is_dir():
        raise WaterlooFormatError(f"{directory} has no streaming_logs/ folder: not a Waterloo-layout directory")
    sessions = _read_csv(path)
    _require_columns(sessions, REQUIRED_DATA_COLUMNS, path)
    if sessions.empty:
        raise WaterlooFormatError(f"{path} lists no sessions")
    sessions["streaming_log"] = sessions["streaming_log"].astype(str)
    bad_names = [name for name in sessions["streaming_log"] if Path(name).name != name or name in {".", ".."}]
    if bad_names:
        raise WaterlooFormatError(f"{path}: streaming_log must be a file name, got {bad_names[0]!r}")
    duplicated = sessions["streaming_log"][sessions["streaming_log"].duplicated()]
    if not duplicated.empty:
        raise WaterlooFormatError(f"{path}: streaming_log {duplicated.iloc[0]!r} is listed twice")
    mos = pd.to_numeric(sessions["mos"], errors="coerce")
    if mos.isna().any():
        row = int(mos.isna().to_numpy().argmax())
        raise WaterlooFormatError(f"{path}: mos of {sessions['streaming_log'].iloc[row]} is not a number")
    sessions["mos"] = mos
    if "device" not in sessions.columns:
        sessions["device"] = DEFAULT_DEVICE
    sessions["device"] = sessions["device"].fillna(DEFAULT_DEVICE).astype(str).str.strip().str.lower()
    return sessions


def _read_log(path: Path) -> pd.DataFrame:
    import pandas as pd

    log = _read_csv(path)
    _require_columns(log, REQUIRED_LOG_COLUMNS, path)
    if log.empty:
        raise WaterlooFormatError(f"{path} has no chunks")
    columns = [*REQUIRED_LOG_COLUMNS, *([QUALITY_COLUMN] if QUALITY_COLUMN in log.columns else [])]
    numeric = pd.DataFrame({column: pd.to_numeric(log[column], errors="coerce") for column in columns})
    for column in REQUIRED_LOG_COLUMNS:
        if numeric[column].isna().any():
            raise WaterlooFormatError(f"{path}: column {column} has a missing or non-numeric value")
    for column in ("chunk_duration", "width", "height", "framerate"):
        if (numeric[column] <= 0).any():
            raise WaterlooFormatError(f"{path}: column {column} must be > 0")
    for column in ("rebuffering_duration", "video_bitrate"):
        if (numeric[column] < 0).any():
            raise WaterlooFormatError(f"{path}: column {column} must be ≥ 0")
    return numeric


def _display(device: str) -> tuple[int, int]:
    if device not in DISPLAYS:
        raise WaterlooFormatError(f"unknown device {device!r} in data.csv (known: {', '.join(sorted(DISPLAYS))})")
    return DISPLAYS[device]


def _ladder_tops(sessions: pd.DataFrame, logs: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Top-of-ladder bitrate per log: the best representation's mean chunk bitrate in its ladder."""
    import pandas as pd

    keys = [key for key in LADDER_KEYS if key in sessions.columns]
    groups = sessions.groupby(keys, dropna=False)["streaming_log"] if keys else None
    members = [list(names) for _, names in groups] if groups is not None else [[n] for n in logs]
    tops: dict[str, float] = {}
    for names in members:
        chunks = pd.concat([logs[name] for name in names])
        top = float(chunks.groupby("representation_index")["video_bitrate"].mean().max())
        tops.update(dict.fromkeys(names, top))
    return tops


def _view_row(log: pd.DataFrame, top_kbps: float, display: tuple[int, int]) -> dict[str, object]:
    seconds = log["chunk_duration"].to_numpy(dtype=float)
    weights = seconds / seconds.sum()
    rebuffering = log["rebuffering_duration"].to_numpy(dtype=float)
    bitrate = log["video_bitrate"].to_numpy(dtype=float)
    representation = log["representation_index"].to_numpy()
    stalls = rebuffering[1:]
    switched = np.flatnonzero(representation[1:] != representation[:-1]) + 1
    width, height = log["width"].to_numpy(dtype=float), log["height"].to_numpy(dtype=float)
    scale = np.minimum(display[0] / width, display[1] / height)  # fit the video into the display
    upscale_pct = 100.0 * np.maximum(scale - 1.0, 0.0)
    quality = log[QUALITY_COLUMN].to_numpy(dtype=float) if QUALITY_COLUMN in log.columns else None
    has_quality = quality is not None and bool(np.isfinite(quality).all())
    return {
        "played": True,
        "exited_before_start": False,
        "fatal_before_start": False,
        "fatal_after_start": False,
        "startup_ms": 1000.0 * rebuffering[0],
        "watch_ms": 1000.0 * (seconds.sum() + stalls.sum()),
        "stall_count": int((stalls > 0).sum()),
        "stall_ms": 1000.0 * stalls.sum(),
        "downswitches": int((bitrate[switched] < bitrate[switched - 1]).sum()),
        "avg_bitrate_kbps": float(weights @ bitrate),
        "top_bitrate_kbps": top_kbps if top_kbps > 0 else None,
        "avg_framerate": float(weights @ log["framerate"].to_numpy(dtype=float)),
        "upscale_pct": float(weights @ upscale_pct),
        "avg_quality": float(weights @ quality) if has_quality and quality is not None else None,
    }
