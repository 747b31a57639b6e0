"""The per-view QoE score: 0–100, with success, startup, smoothness and quality sub-scores.

The formula (docs/qoe-score.md explains every constant and how it was fitted)::

    total      = success × startup/100 × smoothness/100 × quality/100
    success    = 100 played · 50 exited before start · 0 fatal error (before or after start)
    startup    = 100 · T / (T + startup_s)
    smoothness = 100 / (1 + (stalls + stall_s / D) / C + K · downswitches · min(1, W / watch_s))
    quality    = 100 · (vmaf / 100)^γ                                    with a per-rendition quality value
               = 100 · (bitrate / top_bitrate)^β · e^(−U·upscale) · e^(−F·(24/fps − 1)⁺)   without

A sub-score that cannot be computed (the view never started, or nothing says what quality was
shown) is ``None`` and leaves the product unchanged. Every factor is monotone by construction:
all fitted constants are non-negative, so more stalls, a longer startup or a down-switch never
raise the score, and a higher quality value or bitrate never lowers it.

The same vectorised core scores one view (``score_view``, for the live sessionizer) and a
DataFrame of views (``score_sessions``, for batch jobs and the Waterloo evaluation), so the
figures in the docs are figures of the code that runs in production.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
QualityBasis = Literal["quality", "bitrate"]


@dataclass(frozen=True, slots=True)
class ViewQoE:
    """What a player (and the packager's ladder) knows about one view, as the sessionizer emits it.

    Times are milliseconds. ``startup_ms`` is play intent → first frame (None when unknown or the
    view never started); ``watch_ms`` includes stalls and excludes pauses; stalls exclude startup
    buffering and seeks (REFERENCE §2). ``downswitches`` counts rendition changes to a lower
    bitrate (``watch_ms`` spreads their cost over long views). ``avg_*`` are time-weighted over
    played time. ``top_bitrate_kbps`` is the highest rendition of the ladder (CMCD ``tb``).
    ``upscale_pct`` is the time-weighted upscale on the fitting axis, in percent (a 540p video in
    a 1080p player is 100). ``avg_quality`` is the time-weighted per-rendition quality value
    (VMAF, 0–100) when the packager publishes one.
    """

    played: bool
    exited_before_start: bool = False
    fatal_before_start: bool = False
    fatal_after_start: bool = False
    startup_ms: float | None = None
    watch_ms: float = 0.0
    stall_count: int = 0
    stall_ms: float = 0.0
    downswitches: int = 0
    avg_bitrate_kbps: float | None = None
    top_bitrate_kbps: float | None = None
    avg_framerate: float | None = None
    upscale_pct: float | None = None
    avg_quality: float | None = None

    def __post_init__(self) -> None:
        problems = _problems(ViewColumns.from_views([self]))
        if problems:
            raise ValueError(problems[0])


VIEW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ViewQoE))


@dataclass(frozen=True, slots=True)
class QoEParams:
    """The constants of the formula. Fitted ones are listed in ``FITTED_PARAMS``; the rest are fixed."""

    startup_tolerance_s: float  # T: the startup that halves the startup score
    stall_tolerance: float  # C: the stall cost (in stall events) that halves smoothness
    stall_event_s: float  # D: seconds of stalling that cost as much as one more stall event
    downswitch_weight: float  # K: smoothness cost of one switch to a lower rendition
    quality_exponent: float  # γ: curvature of the per-rendition quality value → quality score
    bitrate_exponent: float  # β: curvature of the bitrate share (bitrate ÷ top of ladder)
    upscale_weight: float  # U: cost per unit of spatial upscale (1.0 = 100 %)
    framerate_weight: float  # F: cost per unit of temporal upscale below full motion
    full_motion_fps: float = 24.0  # frame rates from here up carry no penalty (cinema rate)
    downswitch_window_s: float = 8.0  # W: K is the cost per down-switch in a view this long or shorter
    exit_before_start_score: float = 50.0  # success score of an exit before start (Mux)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"parameter {f.name} must be a finite number, got {value!r}")
            if value < 0:  # negative constants would break monotonicity
                raise ValueError(f"parameter {f.name} must be ≥ 0, got {value}")
        for name in ("startup_tolerance_s", "stall_tolerance", "stall_event_s", "downswitch_window_s"):
            if getattr(self, name) == 0:
                raise ValueError(f"parameter {name} must be > 0")

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> QoEParams:
        """Build from a mapping with every field (e.g. the JSON ``qoe qoe-model fit --out`` writes)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        missing = sorted(names - set(values))
        if unknown or missing:
            raise ValueError(f"parameters: unknown {unknown or '[]'}, missing {missing or '[]'}")
        return cls(**values)  # type: ignore[arg-type]  # __post_init__ checks every value


FITTED_PARAMS: tuple[str, ...] = (
    "startup_tolerance_s",
    "stall_tolerance",
    "downswitch_weight",
    "quality_exponent",
    "bitrate_exponent",
    "upscale_weight",
    "framerate_weight",
)

# Published values, used where a calibration set has no variation to fit a constant from.
# T = 8 s and U = 0.33 are Mux's (REFERENCE §3); F reuses Mux's upscale cost for upscale in time.
# C = 7.5 and D = 1.27 s come from the YouTube stalling model of Hoßfeld et al. (ISM 2011),
# MOS = 3.5·e^(−(0.15·L + 0.19)·N) + 1.5: D = 0.19/0.15 and C matches its slope at zero stalls
# (5 / (3.5 · 0.19)). No published down-switch cost fits our form, so K starts at no penalty.
PRIOR_PARAMS = QoEParams(
    startup_tolerance_s=8.0,
    stall_tolerance=7.5,
    stall_event_s=1.27,
    downswitch_weight=0.0,
    quality_exponent=1.0,
    bitrate_exponent=1.0,
    upscale_weight=0.33,
    framerate_weight=0.33,
)

# Fitted by least squares on the MOS of Waterloo SQoE-I and SQoE-II together (768 views, both
# variants, starting from PRIOR_PARAMS), rounded to 3 significant digits:
#   qoe qoe-model fit --dataset <shared-data>/waterloo-sqoe/sqoe-1 --dataset <shared-data>/waterloo-sqoe/sqoe-2
# The cross-dataset figures in docs/qoe-score.md (fit on one set, test on the other) justify
# shipping this fit; tests/evaluation/scoring/test_waterloo_real.py re-runs it and checks these values.
DEFAULT_PARAMS = QoEParams(
    startup_tolerance_s=14.3,
    stall_tolerance=11.2,
    stall_event_s=1.27,
    downswitch_weight=0.203,
    quality_exponent=0.937,
    bitrate_exponent=0.593,
    upscale_weight=0.0,
    framerate_weight=0.0744,
)


@dataclass(frozen=True, slots=True)
class QoEScore:
    """The score of one view: ``total`` and the sub-scores it is the product of (all 0–100)."""

    total: float
    success: float
    startup: float | None
    smoothness: float | None
    quality: float | None
    quality_basis: QualityBasis | None  # which inputs the quality score came from


@dataclass(frozen=True, slots=True)
class ViewColumns:
    """ViewQoE fields as aligned arrays (NaN where a value is unknown): the input of ``score_columns``."""

    played: BoolArray
    exited_before_start: BoolArray
    fatal_before_start: BoolArray
    fatal_after_start: BoolArray
    startup_s: FloatArray
    watch_s: FloatArray
    stall_count: FloatArray
    stall_s: FloatArray
    downswitches: FloatArray
    avg_bitrate_kbps: FloatArray
    top_bitrate_kbps: FloatArray
    avg_framerate: FloatArray
    upscale: FloatArray  # fraction, not percent
    avg_quality: FloatArray

    @classmethod
    def from_views(cls, views: Sequence[ViewQoE]) -> ViewColumns:
        def column(name: str) -> list[object]:
            return [getattr(view, name) for view in views]

        return cls._build(column)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ViewColumns:
        import pandas as pd

        if "played" not in frame.columns:
            raise ValueError("views need a 'played' column")
        defaults = {f.name: f.default for f in fields(ViewQoE) if f.name != "played"}

        def column(name: str) -> list[object]:
            if name in frame.columns:
                return [defaults[name] if pd.isna(v) else v for v in frame[name].tolist()]
            return [defaults[name]] * len(frame)

        return cls._build(column)

    @classmethod
    def _build(cls, column: Callable[[str], list[object]]) -> ViewColumns:
        return cls(
            played=_bools(column("played"), "played"),
            exited_before_start=_bools(column("exited_before_start"), "exited_before_start"),
            fatal_before_start=_bools(column("fatal_before_start"), "fatal_before_start"),
            fatal_after_start=_bools(column("fatal_after_start"), "fatal_after_start"),
            startup_s=_floats(column("startup_ms"), "startup_ms") / 1000.0,
            watch_s=_floats(column("watch_ms"), "watch_ms") / 1000.0,
            stall_count=_floats(column("stall_count"), "stall_count"),
            stall_s=_floats(column("stall_ms"), "stall_ms") / 1000.0,
            downswitches=_floats(column("downswitches"), "downswitches"),
            avg_bitrate_kbps=_floats(column("avg_bitrate_kbps"), "avg_bitrate_kbps"),
            top_bitrate_kbps=_floats(column("top_bitrate_kbps"), "top_bitrate_kbps"),
            avg_framerate=_floats(column("avg_framerate"), "avg_framerate"),
            upscale=_floats(column("upscale_pct"), "upscale_pct") / 100.0,
            avg_quality=_floats(column("avg_quality"), "avg_quality"),
        )


def _floats(values: list[object], name: str) -> FloatArray:
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        if value is None:
            out[i] = np.nan
        elif isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ValueError(f"{name} must be a number, got {value!r}")
        elif math.isinf(float(value)):
            raise ValueError(f"{name} must be finite, got {value!r}")
        else:
            out[i] = float(value)
    return out


def _bools(values: list[object], name: str) -> BoolArray:
    out = np.empty(len(values), dtype=np.bool_)
    for i, value in enumerate(values):
        if isinstance(value, bool | np.bool_) or value in (0, 1):
            out[i] = bool(value)
        else:
            raise ValueError(f"{name} must be true or false, got {value!r}")
    return out


# (array attribute, ViewQoE field it comes from)
_NON_NEGATIVE = (
    ("startup_s", "startup_ms"),
    ("watch_s", "watch_ms"),
    ("stall_count", "stall_count"),
    ("stall_s", "stall_ms"),
    ("downswitches", "downswitches"),
    ("avg_bitrate_kbps", "avg_bitrate_kbps"),
    ("upscale", "upscale_pct"),
    ("avg_quality", "avg_quality"),
)
_POSITIVE = (("top_bitrate_kbps", "top_bitrate_kbps"), ("avg_framerate", "avg_framerate"))


def _problems(c: ViewColumns, labels: Sequence[object] | None = None) -> list[str]:
    """One message per rule broken, naming the first offending view when there are labels."""
    started_flags = c.exited_before_start | c.fatal_before_start
    rules: list[tuple[BoolArray, str]] = [
        (c.played & started_flags, "a view that played cannot also have exited or failed before start"),
        (~c.played & ~started_flags, "a view that never played must be exited_before_start or fatal_before_start"),
        (c.exited_before_start & c.fatal_before_start, "exited_before_start and fatal_before_start exclude each other"),
        (c.fatal_after_start & ~c.played, "fatal_after_start needs a view that played"),
    ]
    for attribute, field in _NON_NEGATIVE:
        rules.append((getattr(c, attribute) < 0, f"{field} must be ≥ 0"))
    for attribute, field in _POSITIVE:
        rules.append((getattr(c, attribute) <= 0, f"{field} must be > 0"))
    messages = []
    for broken, message in rules:
        if broken.any():
            where = f" (view {labels[int(np.argmax(broken))]!s})" if labels is not None else ""
            messages.append(message + where)
    return messages


# --- the formula --------------------------------------------------------------------------


def startup_score(startup_s: FloatArray, p: QoEParams) -> FloatArray:
    """100 · T/(T+t): 100 at an instant start, 50 when the startup equals T."""
    t = p.startup_tolerance_s
    return np.asarray(100.0 * t / (t + startup_s), dtype=np.float64)


def smoothness_score(
    stall_count: FloatArray, stall_s: FloatArray, downswitches: FloatArray, watch_s: FloatArray, p: QoEParams
) -> FloatArray:
    """100 / (1 + stall cost / C + K · down-switches per window W); stall cost = stalls + stalled seconds / D.

    A stall interrupts the viewer whenever it happens, so its cost does not thin out over a long
    view. The harm of a down-switch measured on short clips is mostly the lower quality of what
    follows, which a long view already counts in its time-weighted quality; so beyond W seconds
    of watch time down-switches count per W seconds instead of one by one.
    """
    stall_cost = stall_count + stall_s / p.stall_event_s
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dilution = np.nan_to_num(np.minimum(1.0, p.downswitch_window_s / watch_s), nan=1.0)
    switch_cost = p.downswitch_weight * downswitches * dilution
    return np.asarray(100.0 / (1.0 + stall_cost / p.stall_tolerance + switch_cost))


def quality_score_from_quality(avg_quality: FloatArray, p: QoEParams) -> FloatArray:
    """100 · (q/100)^γ for a per-rendition quality value on VMAF's 0–100 scale."""
    return np.asarray(100.0 * (np.clip(avg_quality, 0.0, 100.0) / 100.0) ** p.quality_exponent)


def quality_score_from_bitrate(
    avg_bitrate_kbps: FloatArray, top_bitrate_kbps: FloatArray, upscale: FloatArray, fps: FloatArray, p: QoEParams
) -> FloatArray:
    """100 · share^β · e^(−U·upscale) · e^(−F·temporal upscale), share = bitrate ÷ top of the ladder.

    An unknown upscale or frame rate costs nothing; an unknown bitrate or ladder gives NaN.
    """
    share = np.clip(avg_bitrate_kbps / top_bitrate_kbps, 0.0, 1.0)
    spatial = np.nan_to_num(upscale, nan=0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        temporal = np.nan_to_num(np.maximum(p.full_motion_fps / fps - 1.0, 0.0), nan=0.0)
    penalty = np.exp(-p.upscale_weight * spatial - p.framerate_weight * temporal)
    return np.asarray(100.0 * share**p.bitrate_exponent * penalty, dtype=np.float64)


def score_columns(c: ViewColumns, p: QoEParams, use_quality: bool) -> dict[str, FloatArray]:
    """The formula over aligned arrays; ``basis`` is 1 (quality value), 2 (bitrate) or NaN."""
    fatal = c.fatal_before_start | c.fatal_after_start
    success = np.where(fatal, 0.0, np.where(c.played, 100.0, p.exit_before_start_score))
    not_started = ~c.played
    startup = np.where(not_started, np.nan, startup_score(c.startup_s, p))
    smoothness = np.where(not_started, np.nan, smoothness_score(c.stall_count, c.stall_s, c.downswitches, c.watch_s, p))
    from_quality = quality_score_from_quality(c.avg_quality, p)
    if not use_quality:
        from_quality = np.full_like(from_quality, np.nan)
    from_bitrate = quality_score_from_bitrate(c.avg_bitrate_kbps, c.top_bitrate_kbps, c.upscale, c.avg_framerate, p)
    basis = np.where(np.isfinite(from_quality), 1.0, np.where(np.isfinite(from_bitrate), 2.0, np.nan))
    quality = np.where(np.isfinite(from_quality), from_quality, from_bitrate)
    quality = np.where(not_started, np.nan, quality)
    basis = np.where(not_started, np.nan, basis)
    factor = np.ones_like(success)
    for sub in (startup, smoothness, quality):
        factor = factor * np.nan_to_num(sub / 100.0, nan=1.0)
    return {
        "total": np.asarray(success * factor, dtype=np.float64),
        "success": np.asarray(success, dtype=np.float64),
        "startup": np.asarray(startup, dtype=np.float64),
        "smoothness": np.asarray(smoothness, dtype=np.float64),
        "quality": np.asarray(quality, dtype=np.float64),
        "basis": np.asarray(basis, dtype=np.float64),
    }


def validated_columns(views: pd.DataFrame) -> ViewColumns:
    """The views as arrays; ValueError naming the first invalid view (by index label)."""
    columns = ViewColumns.from_frame(views)
    problems = _problems(columns, labels=list(views.index))
    if problems:
        raise ValueError("; ".join(problems))
    return columns


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


_BASIS_NAMES: dict[float, QualityBasis] = {1.0: "quality", 2.0: "bitrate"}


def score_view(view: ViewQoE, params: QoEParams = DEFAULT_PARAMS, *, use_quality: bool = True) -> QoEScore:
    """Score one view. ``use_quality=False`` ignores ``avg_quality`` (the variant without VMAF)."""
    scored = score_columns(ViewColumns.from_views([view]), params, use_quality)
    row = {name: values[0] for name, values in scored.items()}
    basis = row["basis"]
    return QoEScore(
        total=float(row["total"]),
        success=float(row["success"]),
        startup=_optional(row["startup"]),
        smoothness=_optional(row["smoothness"]),
        quality=_optional(row["quality"]),
        quality_basis=None if math.isnan(basis) else _BASIS_NAMES[float(basis)],
    )


def score_sessions(
    views: pd.DataFrame, params: QoEParams = DEFAULT_PARAMS, *, use_quality: bool = True
) -> pd.DataFrame:
    """Score a DataFrame whose columns are ViewQoE fields (only ``played`` is required).

    Returns columns total, success, startup, smoothness, quality (NaN when not applicable) and
    quality_basis, on the input's index. Raises ValueError naming the first invalid view.
    """
    import pandas as pd

    scored = score_columns(validated_columns(views), params, use_quality)
    basis = pd.Series(scored.pop("basis"), index=views.index).map(_BASIS_NAMES)
    out = pd.DataFrame(scored, index=views.index)
    out["quality_basis"] = basis
    return out
