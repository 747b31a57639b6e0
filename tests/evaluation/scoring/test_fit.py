"""Fitting the constants: recovery on synthetic MOS, identifiability, rounding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from evaluation.scoring.fit import fit_params, identifiable, rounded
from streams.scoring.score import FITTED_PARAMS, PRIOR_PARAMS, QoEParams, ViewColumns, score_sessions

TRUE = QoEParams(
    startup_tolerance_s=12.0,
    stall_tolerance=9.0,
    stall_event_s=PRIOR_PARAMS.stall_event_s,
    downswitch_weight=0.25,
    quality_exponent=0.8,
    bitrate_exponent=0.6,
    upscale_weight=0.2,
    framerate_weight=0.1,
)


def synthetic_views(n: int = 120, seed: int = 1, **fixed: float) -> pd.DataFrame:
    """Played views varying in everything the score reads (or not, for the ``fixed`` columns)."""
    rng = np.random.default_rng(seed)
    columns = {
        "played": np.ones(n, dtype=bool),
        "startup_ms": rng.choice([0.0, 2000.0, 5000.0, 9000.0], n),
        "stall_count": rng.integers(0, 4, n).astype(float),
        "stall_ms": rng.uniform(0, 8000, n),
        "downswitches": rng.integers(0, 3, n).astype(float),
        "avg_bitrate_kbps": rng.uniform(200, 4000, n),
        "top_bitrate_kbps": np.full(n, 4000.0),
        "avg_framerate": rng.choice([10.0, 15.0, 30.0], n),
        "upscale_pct": rng.choice([0.0, 50.0, 200.0], n),
        "avg_quality": rng.uniform(20, 100, n),
    }
    columns["stall_ms"] = np.where(columns["stall_count"] > 0, columns["stall_ms"], 0.0)
    frame = pd.DataFrame(columns)
    for name, value in fixed.items():
        frame[name] = value
    return frame


def noiseless_mos(views: pd.DataFrame, params: QoEParams) -> pd.Series:
    """MOS that the score with ``params`` explains exactly in both variants.

    Both variants are fitted to the same MOS, so the quality value is set to the one whose
    quality score equals the bitrate-based quality score of the same view.
    """
    from_bitrate = score_sessions(views, params, use_quality=False)
    views["avg_quality"] = 100.0 * (from_bitrate["quality"] / 100.0) ** (1.0 / params.quality_exponent)
    return from_bitrate["total"]


def test_fit_recovers_the_constants_that_generated_the_scores() -> None:
    views = synthetic_views()
    mos = noiseless_mos(views, TRUE)
    result = fit_params(views, mos)
    assert result.fitted == FITTED_PARAMS and result.kept == ()
    for name in FITTED_PARAMS:
        assert getattr(result.params, name) == pytest.approx(getattr(TRUE, name), rel=1e-3), name
    assert result.rmse_with_quality == pytest.approx(0.0, abs=1e-3)
    assert result.rmse_without_quality is not None


def test_constants_without_evidence_keep_their_prior() -> None:
    # No startup delay, no stall, no down-switch: like Waterloo SQoE-II.
    views = synthetic_views(startup_ms=0.0, stall_count=0.0, stall_ms=0.0, downswitches=0.0)
    mos = noiseless_mos(views, TRUE)
    result = fit_params(views, mos)
    assert set(result.kept) == {"startup_tolerance_s", "stall_tolerance", "downswitch_weight"}
    for name in result.kept:
        assert getattr(result.params, name) == getattr(PRIOR_PARAMS, name)
    assert result.params.quality_exponent == pytest.approx(TRUE.quality_exponent, rel=1e-3)


def test_identifiable_reads_the_variation_in_the_data() -> None:
    views = synthetic_views(upscale_pct=0.0, avg_framerate=30.0, avg_quality=np.nan)
    names = identifiable(ViewColumns.from_frame(views))
    assert "upscale_weight" not in names and "framerate_weight" not in names and "quality_exponent" not in names
    assert "bitrate_exponent" in names


def test_fit_rejects_misaligned_or_tiny_input() -> None:
    views = synthetic_views(n=5)
    with pytest.raises(ValueError, match="5 views but 4 MOS"):
        fit_params(views, pd.Series([50.0] * 4))
    with pytest.raises(ValueError, match="at least 3"):
        fit_params(views.iloc[:2], pd.Series([50.0, 60.0]))


def test_fitted_constants_stay_monotone_even_when_the_data_says_otherwise() -> None:
    # MOS that *rises* with stalls: the fit must not turn the stall cost negative.
    views = synthetic_views()
    mos = pd.Series(40.0 + 5.0 * views["stall_count"].to_numpy())
    result = fit_params(views, mos)
    assert all(value >= 0 for value in result.params.as_dict().values())


def test_rounded_keeps_three_significant_digits_and_zeroes_bound_values() -> None:
    params = dataclasses.replace(TRUE, startup_tolerance_s=14.34317, upscale_weight=9e-11, framerate_weight=0.0743948)
    out = rounded(params)
    assert out.startup_tolerance_s == 14.3
    assert out.upscale_weight == 0.0
    assert out.framerate_weight == 0.0744
