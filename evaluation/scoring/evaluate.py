"""Agreement of the score with subjective MOS: PLCC, SRCC and KRCC, per variant of the score.

PLCC is computed on the raw score (no fitted logistic mapping), so it measures the score as
shipped. Variants: ``with_quality`` (uses the per-rendition quality value; only on sets that
have it), ``without_quality`` (bitrate, upscale and frame rate only) and ``mux_reference``
(Mux's published sub-scores, a baseline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evaluation.scoring.fit import fit_params
from evaluation.scoring.reference import mux_reference_score
from evaluation.scoring.waterloo import WaterlooSet
from streams.scoring.score import DEFAULT_PARAMS, FloatArray, QoEParams, score_sessions

WITH_QUALITY = "with_quality"
WITHOUT_QUALITY = "without_quality"
MUX_REFERENCE = "mux_reference"


@dataclass(frozen=True)
class Correlations:
    plcc: float | None  # None when undefined (fewer than 2 views, or a constant score or MOS)
    srcc: float | None
    krcc: float | None
    n: int

    def as_dict(self, digits: int = 4) -> dict[str, float | int | None]:
        def cut(value: float | None) -> float | None:
            return None if value is None else round(value, digits)

        return {"plcc": cut(self.plcc), "srcc": cut(self.srcc), "krcc": cut(self.krcc), "n": self.n}


def correlations(predicted: FloatArray, mos: FloatArray) -> Correlations:
    """PLCC, SRCC and KRCC over the views where both values are finite."""
    from scipy.stats import kendalltau, pearsonr, spearmanr

    usable = np.isfinite(predicted) & np.isfinite(mos)
    x, y = predicted[usable], mos[usable]
    n = int(usable.sum())
    if n < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlations(None, None, None, n)

    def defined(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    return Correlations(
        plcc=defined(pearsonr(x, y).statistic),
        srcc=defined(spearmanr(x, y).statistic),
        krcc=defined(kendalltau(x, y).statistic),
        n=n,
    )


def variant_scores(dataset: WaterlooSet, params: QoEParams = DEFAULT_PARAMS) -> dict[str, FloatArray]:
    """The score of every view under each variant the set supports."""
    scores: dict[str, FloatArray] = {}
    if dataset.has_quality:
        scored = score_sessions(dataset.views, params, use_quality=True)
        uses_quality = (scored["quality_basis"] == "quality").to_numpy()
        scores[WITH_QUALITY] = np.where(uses_quality, scored["total"].to_numpy(dtype=float), np.nan)
    scores[WITHOUT_QUALITY] = score_sessions(dataset.views, params, use_quality=False)["total"].to_numpy(dtype=float)
    scores[MUX_REFERENCE] = mux_reference_score(dataset.views)
    return scores


def default_variant(dataset: WaterlooSet) -> str:
    """The variant production would use: with the quality value whenever the set has it."""
    return WITH_QUALITY if dataset.has_quality else WITHOUT_QUALITY


def evaluate(dataset: WaterlooSet, params: QoEParams = DEFAULT_PARAMS) -> dict[str, Correlations]:
    mos = dataset.mos.to_numpy(dtype=float)
    return {variant: correlations(scores, mos) for variant, scores in variant_scores(dataset, params).items()}


def cross_dataset(train: WaterlooSet, test: WaterlooSet) -> dict[str, Correlations]:
    """Fit on ``train`` alone (priors for what it cannot identify), then evaluate on ``test``."""
    return evaluate(test, fit_params(train.views, train.mos).params)
