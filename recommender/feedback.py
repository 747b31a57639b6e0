"""Implicit feedback from viewing: how strongly each view says "this viewer likes this title".

Input: one row per view, the columns of :data:`warehouse.interactions.VIEW_FIELDS` (the
sessionizer's ``views`` table, or the frame :mod:`evaluation.recommender.online` builds from the simulator).

Per view (constants in :class:`FeedbackRules`):

- **Played time** is ``playing_ms`` (content time on screen: startup, stalls, seeks and pauses
  excluded), or ``watch_ms − stall_ms`` where it is missing.
- **Completion** is played time ÷ the title's duration when the catalogue knows it, and 1 when the
  content played to its end (exit reason ``ended``); otherwise it is unknown.
- **Engagement** ∈ [0, 1] is the completion when known, else played time ÷ ``engagement_cap_ms``
  (20 min), capped at 1: a long watch of a title of unknown length is full engagement.
- **Impaired delivery**: the view failed (a fatal error before or after start, technical or
  business, or exit reason ``error``), exited before start after waiting (EBVS), or rebuffered for
  at least ``max_rebuffer_ratio`` (10 %) of its watch time.
- **Weight** = choice + ``engagement_weight`` (0.7) × engagement, where choice is
  ``choice_weight`` (0.3) for a clean view and ``impaired_choice_weight`` (0.1) for an impaired
  one. Picking a title is evidence of interest; watching it through is stronger evidence.
  Sub-second exits before start (``short_exit``) and views without a play intent weigh 0.

Why impaired views weigh less but never count against a title: their short watch time says
how the delivery went, not what the viewer thought of the title. So they keep only a small choice
weight plus whatever they did play (watching to the end through stalls still counts in full),
they never mark a title as finished, and nothing is ever negative: a title that failed for a
viewer stays recommendable to them.

Per viewer and title, view weights add up (repeat views are stronger evidence) to at most
``max_weight`` (3), so a title played on a loop does not drown the rest of the history. A
title is **finished** by a viewer when one of their views played to the end or reached
``finished_completion`` (90 %) of a known duration; an engagement capped at 20 min of a title of
unknown length is not enough, since a 20-minute watch may be the first quarter of a film.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.interactions import Interactions

ENDED = "ended"
ERROR = "error"


@dataclass(frozen=True)
class FeedbackRules:
    choice_weight: float = 0.3
    impaired_choice_weight: float = 0.1
    engagement_weight: float = 0.7
    engagement_cap_ms: float = 20 * 60_000
    max_rebuffer_ratio: float = 0.10
    finished_completion: float = 0.9
    max_weight: float = 3.0

    def __post_init__(self) -> None:
        if not 0 <= self.impaired_choice_weight <= self.choice_weight:
            raise ValueError("the impaired choice weight must be between 0 and the clean one")
        if self.engagement_weight < 0 or self.engagement_cap_ms <= 0 or self.max_weight <= 0:
            raise ValueError("engagement weight, cap and maximum weight must be positive")
        if not 0 < self.finished_completion <= 1 or not 0 < self.max_rebuffer_ratio <= 1:
            raise ValueError("finished completion and rebuffering ratio are shares in (0, 1]")


DEFAULT_RULES = FeedbackRules()


def assess(
    views: pd.DataFrame, durations: Mapping[str, float] | None = None, rules: FeedbackRules = DEFAULT_RULES
) -> pd.DataFrame:
    """``views`` plus the columns ``played_ms``, ``completion`` (NaN: unknown), ``engagement``,
    ``impaired``, ``finished`` and ``weight`` (see the module docstring)."""
    ended = views["exit_reason"].eq(ENDED).to_numpy(bool)
    played = views["playing_ms"].to_numpy(np.float64, na_value=np.nan)
    fallback = (views["watch_ms"].fillna(0) - views["stall_ms"].fillna(0)).clip(lower=0).to_numpy(np.float64)
    played = np.where(np.isnan(played), fallback, np.clip(played, 0, None))
    known = durations or {}
    duration = np.array([known.get(str(title), np.nan) for title in views["title_id"]], dtype=np.float64)
    duration[duration <= 0] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        completion = np.where(ended, 1.0, np.minimum(played / duration, 1.0))
        engagement = np.where(np.isnan(completion), np.minimum(played / rules.engagement_cap_ms, 1.0), completion)
    failed = views[["vsf", "vsf_business", "vpf", "vpf_business", "ebvs"]].to_numpy(bool).any(axis=1)
    failed |= views["exit_reason"].eq(ERROR).to_numpy(bool)
    impaired = failed | (views["rebuffer_ratio"].fillna(0).to_numpy(np.float64) >= rules.max_rebuffer_ratio)
    counted = views["attempt"].to_numpy(bool) & ~views["short_exit"].to_numpy(bool)
    choice = np.where(impaired, rules.impaired_choice_weight, rules.choice_weight)
    weight = np.where(counted, choice + rules.engagement_weight * engagement, 0.0)
    finished = counted & (np.nan_to_num(completion, nan=0.0) >= rules.finished_completion)
    return views.assign(
        played_ms=played,
        completion=completion,
        engagement=engagement,
        impaired=impaired,
        finished=finished,
        weight=weight.astype(np.float32),
    )


def per_title(assessed: pd.DataFrame, rules: FeedbackRules = DEFAULT_RULES) -> pd.DataFrame:
    """One row per (viewer, title) with feedback: summed weight (capped), finished, best known
    completion, number of views, whether every one of them was impaired, and the newest view's time."""
    counted = assessed[assessed["weight"] > 0]
    # Plain object keys and one cythonised reduction per column: several times faster than a
    # named aggregation on string columns, which matters when every request builds a history.
    grouped = counted.groupby([counted["viewer_id"].astype(object), counted["title_id"].astype(object)], sort=True)
    summary = pd.DataFrame(
        {
            "weight": grouped["weight"].sum(),
            "finished": grouped["finished"].any(),
            "completion": grouped["completion"].max(),
            "views": grouped["weight"].size(),
            "impaired": grouped["impaired"].all(),
            "last_at": grouped["at"].max(),
        }
    )
    summary.index.names = ["viewer_id", "title_id"]
    summary = summary.reset_index()
    summary["weight"] = np.minimum(summary["weight"], rules.max_weight).astype(np.float32)
    return summary


def interactions(assessed: pd.DataFrame, rules: FeedbackRules = DEFAULT_RULES) -> Interactions:
    """The viewer × title matrix of capped summed weights (titles: those with any weight)."""
    summary = per_title(assessed, rules)
    if summary.empty:
        raise ValueError("no view carries any weight: nothing to learn from")
    frame = summary.assign(viewer_id=summary["viewer_id"].astype(str), title_id=summary["title_id"].astype(str))
    return Interactions.from_frame(frame, user="viewer_id", item="title_id", weight="weight")
