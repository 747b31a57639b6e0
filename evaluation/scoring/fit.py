"""Fit the score's constants to subjective scores (MOS) by least squares.

Only constants the data can identify are fitted; the others keep their published prior
(``PRIOR_PARAMS``). A set with no startup delay cannot say how much startup delay costs, a set
without down-switches cannot price a down-switch, and so on; fitting them anyway would return
whatever the optimiser's start happened to be and look like evidence. Both quality variants
(with the per-rendition quality value, and from bitrate alone) are fitted at once, sharing the
startup and smoothness constants, so one parameter set serves both.

All fitted constants are bounded below by zero, which keeps every factor of the score monotone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from streams.scoring.score import (
    FITTED_PARAMS,
    PRIOR_PARAMS,
    FloatArray,
    QoEParams,
    ViewColumns,
    score_columns,
    validated_columns,
)

if TYPE_CHECKING:
    import pandas as pd

# Constants that divide must stay strictly positive.
_LOWER_BOUNDS = {"startup_tolerance_s": 1e-3, "stall_tolerance": 1e-3}


@dataclass(frozen=True)
class FitResult:
    params: QoEParams
    fitted: tuple[str, ...]  # constants the data identified
    kept: tuple[str, ...]  # constants left at their prior
    n: int
    rmse_with_quality: float | None  # None when no view carries the quality value
    rmse_without_quality: float | None


def identifiable(columns: ViewColumns, prior: QoEParams = PRIOR_PARAMS) -> tuple[str, ...]:
    """The fitted constants this set of views varies enough to estimate, in FITTED_PARAMS order."""
    played = columns.played
    share = columns.avg_bitrate_kbps / columns.top_bitrate_kbps
    evidence = {
        "startup_tolerance_s": columns.startup_s[played] > 0,
        "stall_tolerance": (columns.stall_count[played] > 0) | (columns.stall_s[played] > 0),
        "downswitch_weight": columns.downswitches[played] > 0,
        "quality_exponent": np.isfinite(columns.avg_quality[played]),
        "bitrate_exponent": share[played] < 1.0,
        "upscale_weight": columns.upscale[played] > 0,
        "framerate_weight": columns.avg_framerate[played] < prior.full_motion_fps,
    }
    return tuple(name for name in FITTED_PARAMS if bool(np.any(evidence[name])))


def _predictions(columns: ViewColumns, params: QoEParams) -> tuple[FloatArray, FloatArray]:
    with_quality = score_columns(columns, params, use_quality=True)
    without_quality = score_columns(columns, params, use_quality=False)
    # The "with" variant only counts where the quality value really was used.
    uses_quality = with_quality["basis"] == 1.0
    return np.where(uses_quality, with_quality["total"], np.nan), without_quality["total"]


def _rmse(predicted: FloatArray, mos: FloatArray) -> float | None:
    usable = np.isfinite(predicted)
    if not usable.any():
        return None
    return float(np.sqrt(np.mean((predicted[usable] - mos[usable]) ** 2)))


def fit_params(views: pd.DataFrame, mos: pd.Series, prior: QoEParams = PRIOR_PARAMS) -> FitResult:
    """Least-squares fit of the identifiable constants to ``mos`` (aligned with ``views``)."""
    from scipy.optimize import least_squares

    if len(views) != len(mos):
        raise ValueError(f"{len(views)} views but {len(mos)} MOS values")
    if len(views) < 3:
        raise ValueError("fitting needs at least 3 views")
    columns = validated_columns(views)
    target = mos.to_numpy(dtype=float)
    free = identifiable(columns, prior)

    def with_values(values: FloatArray) -> QoEParams:
        return dataclasses.replace(prior, **dict(zip(free, (float(v) for v in values), strict=True)))

    def residuals(values: FloatArray) -> FloatArray:
        both = np.concatenate(_predictions(columns, with_values(values))) - np.concatenate([target, target])
        return np.asarray(both[np.isfinite(both)], dtype=np.float64)

    params = prior
    if free:
        start = np.array([getattr(prior, name) for name in free], dtype=float)
        lower = np.array([_LOWER_BOUNDS.get(name, 0.0) for name in free])
        solution = least_squares(residuals, np.maximum(start, lower), bounds=(lower, np.inf), x_scale="jac")
        params = with_values(solution.x)
    with_quality, without_quality = _predictions(columns, params)
    return FitResult(
        params=params,
        fitted=free,
        kept=tuple(name for name in FITTED_PARAMS if name not in free),
        n=len(views),
        rmse_with_quality=_rmse(with_quality, target),
        rmse_without_quality=_rmse(without_quality, target),
    )


def rounded(params: QoEParams, digits: int = 3) -> QoEParams:
    """The constants to ``digits`` significant digits, as DEFAULT_PARAMS records them.

    A constant the optimiser pressed against its zero bound (below 1e-6) is recorded as 0.
    """

    def significant(value: float) -> float:
        if abs(value) < 1e-6:
            return 0.0
        return round(value, digits - 1 - math.floor(math.log10(abs(value))))

    return QoEParams(**{name: significant(value) for name, value in params.as_dict().items()})
