"""Choose the production model and its hyperparameters by validation on the training data.

The training matrix is split again per user (a different random stream from the test split, which
selection never sees); every candidate of a small grid is fitted on the inner train part and scored
by NDCG@k on the validation part.

The incumbent (the current production config, by default EASE with λ = 200) stays unless the best
candidate beats it by a clear margin: a paired t statistic over per-user NDCG differences above
``min_t`` (2 by default). On ml-latest-small the EASE λ settings differ by less than the noise of
one validation draw, so without this rule the choice would flip between retrains on noise alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recommender.metrics import measure
from recommender.models import ModelConfig
from recommender.split import split_per_user

DEFAULT_PRODUCTION = ModelConfig("ease", {"lam": 200.0})
DEFAULT_GRID: tuple[ModelConfig, ...] = (
    ModelConfig("popularity", {"weighted": True}),
    *(ModelConfig("itemknn", {"k": k}) for k in (100, 200, 400)),
    *(ModelConfig("ease", {"lam": lam}) for lam in (100.0, 200.0, 400.0, 800.0)),
)
VALIDATION_STREAM = 1  # seeds the validation split as (seed, 1), apart from the test split's seed
MIN_T = 2.0

StepCallback = Callable[[str], None]


@dataclass(frozen=True)
class CandidateScore:
    config: ModelConfig
    ndcg: float  # mean validation NDCG@k
    gain: float  # mean per-user NDCG difference to the incumbent
    t_stat: float  # paired t statistic of that difference (0 for the incumbent)


@dataclass(frozen=True)
class Selection:
    chosen: ModelConfig
    incumbent: ModelConfig
    candidates: tuple[CandidateScore, ...]
    k: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen.to_json(),
            "incumbent": self.incumbent.to_json(),
            "reason": self.reason,
            "validation": [
                {"config": c.config.to_json(), f"ndcg@{self.k}": c.ndcg, "gain": c.gain, "t": c.t_stat}
                for c in self.candidates
            ],
        }


def candidates_of(grid: Sequence[ModelConfig], incumbent: ModelConfig) -> list[ModelConfig]:
    """The grid with the incumbent in it (first), each config once."""
    ordered = [incumbent, *grid]
    return [config for i, config in enumerate(ordered) if config not in ordered[:i]]


def select_model(
    train: Any,
    grid: Sequence[ModelConfig] = DEFAULT_GRID,
    *,
    incumbent: ModelConfig = DEFAULT_PRODUCTION,
    seed: int = 0,
    validation_fraction: float = 0.2,
    k: int = 10,
    min_t: float = MIN_T,
    on_step: StepCallback | None = None,
) -> Selection:
    """Validate every candidate on a per-user split of ``train`` and pick the production config."""
    inner = split_per_user(train, validation_fraction, seed=(seed, VALIDATION_STREAM))
    per_user: dict[int, npt.NDArray[np.float64]] = {}
    configs = candidates_of(grid, incumbent)
    for index, config in enumerate(configs):
        if on_step is not None:
            on_step(f"validate {config.label}")
        per_user[index] = measure(config.build().fit(inner.train), inner, k).ndcg
    scores = tuple(_compare(config, per_user[i], per_user[0]) for i, config in enumerate(configs))
    best = max(scores, key=lambda score: score.ndcg)
    if best.config != incumbent and best.t_stat > min_t:
        reason = f"{best.config.label} beats {incumbent.label} on validation (t = {best.t_stat:.1f} > {min_t:g})"
        chosen = best.config
    else:
        reason = f"no candidate beats {incumbent.label} clearly on validation (best t = {best.t_stat:.1f})"
        chosen = incumbent
    return Selection(chosen=chosen, incumbent=incumbent, candidates=scores, k=k, reason=reason)


def _compare(config: ModelConfig, ndcg: npt.NDArray[np.float64], incumbent: npt.NDArray[np.float64]) -> CandidateScore:
    difference = ndcg - incumbent
    spread = float(difference.std(ddof=1)) if difference.size > 1 else 0.0
    t_stat = float(difference.mean() / (spread / np.sqrt(difference.size))) if spread > 0 else 0.0
    return CandidateScore(config=config, ndcg=float(ndcg.mean()), gain=float(difference.mean()), t_stat=t_stat)
