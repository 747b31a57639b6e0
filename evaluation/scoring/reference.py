"""Mux's published per-view sub-scores (REFERENCE §3), as a baseline for our score.

Mux documents the four sub-scores but not how the three experience scores are blended; this
baseline takes their plain mean, times playback success. The record has no maximum upscale, so
the time-weighted upscale stands in for it. Views that never started score their success alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from streams.scoring.score import FloatArray, validated_columns

if TYPE_CHECKING:
    import pandas as pd


def mux_reference_score(views: pd.DataFrame) -> FloatArray:
    """The Mux-formula score (0–100) of each view, in the order of ``views``."""
    c = validated_columns(views)
    success = np.where(c.fatal_before_start | c.fatal_after_start, 0.0, np.where(c.played, 100.0, 50.0))
    startup = 100.0 * 8.0 / (8.0 + np.nan_to_num(c.startup_s, nan=0.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rebuffer_fraction = np.where(c.watch_s > 0, c.stall_s / c.watch_s, 0.0)
    smoothness = 0.5 * (100.0 / np.sqrt(1.0 + (c.stall_count / 2.0) ** 2) + 100.0 * np.exp(-10.0 * rebuffer_fraction))
    upscale = np.nan_to_num(c.upscale, nan=0.0)
    quality = 100.0 * np.exp(-0.33 * (0.15 * upscale + 0.85 * upscale))
    experience = np.where(c.played, (startup + smoothness + quality) / 3.0, 100.0)
    return np.asarray(success * experience / 100.0, dtype=np.float64)
