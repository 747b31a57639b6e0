"""What a viewer is recommended, and why: the rules behind ``GET /v1/recommendations/{viewer_id}``.

Pure functions over a viewer's assessed views (:func:`recommender.feedback.assess`), the current
model and the recent demand per audience segment, so the API and the online evaluation
(:mod:`evaluation.recommender.online`) run the very same code.

- **Personal** (the model knows at least one title of the viewer's history): the model ranks the
  catalogue from the viewer's weighted history. Every title the viewer has watched is left out:
  finished ones for good, unfinished ones go to ``continue_watching`` instead (newest first,
  with how far they got, and "try again" when every view of it was impaired). Each title says
  which title of the history contributed most to it ("because you watched X"). Titles the model
  gives no positive score fill no slot; popular titles of the viewer's segment fill the rest.
- **Cold start** (no history the model knows, e.g. a new viewer): what is popular where the
  viewer watches, from the newest view's region and device type: the most demanded titles
  among viewers of the same region and device type, then country and device type, country,
  device type, and overall, each level filling what the previous left open. A title is popular
  in a segment only when at least ``min_viewers`` (2) distinct viewers there asked for it.
- **No model yet**: the same popularity, with a note saying so.

Demand = distinct viewers who asked to play a title (a play intent, not a sub-second short exit),
in the recent views (7 days by default), whatever the delivery did: a title people want is
popular even where it failed them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.explain import NO_LINK, strongest_links
from recommender.feedback import DEFAULT_RULES, FeedbackRules, per_title
from recommender.interactions import check_interactions
from recommender.models import top_k_row
from recommender.trained import TrainedRecommender

MAX_K = 100
MIN_SEGMENT_VIEWERS = 2
CONTINUE_LIMIT = 5
SCORE_BATCH = 256  # viewers scored at once in recommend_many

BECAUSE_YOU_WATCHED = "because_you_watched"
POPULAR = "popular"
CONTINUE = "continue_watching"

STRATEGY_PERSONAL = "personal"
STRATEGY_COLD_START = "cold_start"
STRATEGY_NO_MODEL = "popular_no_model"

# Segment levels from the most to the least specific; () is everyone.
LEVELS: tuple[tuple[str, ...], ...] = (
    ("region", "device_type"),
    ("country", "device_type"),
    ("country",),
    ("device_type",),
    (),
)
SEGMENT_FIELDS = ("country", "region", "device_type")


@dataclass(frozen=True)
class Segment:
    """Where a viewer watches; empty strings are unknown."""

    country: str = ""
    region: str = ""
    device_type: str = ""

    def restricted(self, level: tuple[str, ...]) -> Segment | None:
        """This segment narrowed to ``level``'s fields, or None when one of them is unknown."""
        values = {name: getattr(self, name) for name in level}
        if any(not value for value in values.values()):
            return None
        return Segment(**values)

    def describe(self) -> str:
        where = self.region or self.country
        parts = ["popular"]
        if where:
            parts.append(f"in {where}")
        if self.device_type:
            parts.append(f"on {self.device_type}")
        return " ".join(parts) if len(parts) > 1 else "popular overall"

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SEGMENT_FIELDS if getattr(self, name)}


@dataclass(frozen=True)
class Reason:
    code: str  # BECAUSE_YOU_WATCHED, POPULAR or CONTINUE
    because: str | None = None  # the history title behind a personal pick
    segment: Segment | None = None  # where a popular pick is popular
    progress: float | None = None  # how much of a title to continue was played, when known
    impaired: bool = False  # every view of a title to continue was impaired

    def text(self, names: Mapping[str, str]) -> str:
        if self.code == BECAUSE_YOU_WATCHED and self.because is not None:
            return f"because you watched {names.get(self.because, self.because)}"
        if self.code == POPULAR and self.segment is not None:
            return self.segment.describe()
        if self.code == CONTINUE:
            if self.impaired:
                return "playback did not go well last time: try again"
            if self.progress is not None and not math.isnan(self.progress):
                return f"you watched {self.progress:.0%} of it"
            return "you started it"
        return "recommended for you"


@dataclass(frozen=True)
class Pick:
    title_id: str
    score: float  # model score (personal) or distinct viewers in the segment (popular)
    reason: Reason


@dataclass(frozen=True)
class ViewerHistory:
    """A viewer's titles with their feedback (rows of :func:`recommender.feedback.per_title`)."""

    viewer_id: str
    titles: pd.DataFrame
    context: Segment | None

    @classmethod
    def from_views(cls, viewer_id: str, assessed: pd.DataFrame, rules: FeedbackRules = DEFAULT_RULES) -> ViewerHistory:
        """From one viewer's assessed views (oldest first); the context is the newest view's."""
        mine = assessed[assessed["viewer_id"] == viewer_id]
        context = None
        if not mine.empty:
            newest = mine.sort_values("at", kind="stable").iloc[-1]
            context = Segment(**{name: str(newest[name]) for name in SEGMENT_FIELDS})
        return cls(viewer_id, per_title(mine, rules), context)

    @property
    def seen(self) -> frozenset[str]:
        return frozenset(self.titles["title_id"].astype(str))

    @property
    def finished(self) -> frozenset[str]:
        return frozenset(self.titles.loc[self.titles["finished"], "title_id"].astype(str))


@dataclass(frozen=True)
class Recommendations:
    viewer_id: str
    strategy: str
    picks: list[Pick]
    continue_watching: list[Pick]
    context: Segment | None
    notes: list[str] = field(default_factory=list)


class PopularTitles:
    """Titles ranked by demand in every segment of :data:`LEVELS`."""

    def __init__(self, demand: pd.DataFrame, min_viewers: int = MIN_SEGMENT_VIEWERS) -> None:
        """``demand``: columns title_id, country, region, device_type, viewers (distinct viewers)."""
        self.min_viewers = min_viewers
        self._rankings: dict[tuple[str, ...], dict[tuple[str, ...], list[tuple[str, float]]]] = {}
        for level in LEVELS:
            self._rankings[level] = _rank_level(demand, level, 1 if not level else min_viewers)

    @classmethod
    def from_views(cls, views: pd.DataFrame, min_viewers: int = MIN_SEGMENT_VIEWERS) -> PopularTitles:
        return cls(demand_from_views(views), min_viewers)

    @property
    def empty(self) -> bool:
        return not self._rankings[()]

    def picks(self, context: Segment | None, k: int, exclude: set[str]) -> list[Pick]:
        """Up to ``k`` titles not in ``exclude``, from the most specific segment of ``context`` on."""
        chosen: list[Pick] = []
        taken = set(exclude)
        for level in LEVELS:
            segment = (context or Segment()).restricted(level)
            if segment is None:
                continue
            key = tuple(getattr(segment, name) for name in level)
            for title_id, viewers in self._rankings[level].get(key, []):
                if len(chosen) >= k:
                    return chosen
                if title_id not in taken:
                    taken.add(title_id)
                    chosen.append(Pick(title_id, viewers, Reason(POPULAR, segment=segment)))
        return chosen


def _rank_level(
    demand: pd.DataFrame, level: tuple[str, ...], min_viewers: int
) -> dict[tuple[str, ...], list[tuple[str, float]]]:
    """Per segment key of ``level``: (title, viewers) by viewers desc, then title id."""
    if demand.empty:
        return {}
    grouped = demand.groupby([*level, "title_id"], sort=False, observed=True)["viewers"].sum().reset_index()
    grouped = grouped[grouped["viewers"] >= min_viewers]
    grouped = grouped.sort_values(["viewers", "title_id"], ascending=[False, True], kind="stable")
    rankings: dict[tuple[str, ...], list[tuple[str, float]]] = {}
    for values in grouped.to_dict(orient="records"):
        key = tuple(str(values[name]) for name in level)
        rankings.setdefault(key, []).append((str(values["title_id"]), float(values["viewers"])))
    return rankings


def demand_from_views(views: pd.DataFrame) -> pd.DataFrame:
    """What :func:`warehouse.interactions.demand_by_segment` computes in the warehouse, from a views frame."""
    wanted = views[views["attempt"] & ~views["short_exit"] & (views["title_id"] != "")]
    grouped = wanted.groupby(["title_id", *SEGMENT_FIELDS], sort=True, observed=True)["viewer_id"].nunique()
    return grouped.rename("viewers").reset_index()


def recommend(
    model: TrainedRecommender | None, history: ViewerHistory, popular: PopularTitles, k: int
) -> Recommendations:
    """The ``k`` recommendations of one viewer (see the module docstring)."""
    return recommend_many(model, [history], popular, k)[0]


def recommend_many(
    model: TrainedRecommender | None,
    histories: Sequence[ViewerHistory],
    popular: PopularTitles,
    k: int,
    *,
    continue_watching: bool = True,
) -> list[Recommendations]:
    """:func:`recommend` for many viewers, scoring them in batches (``continue_watching`` False
    leaves that list empty, for evaluations that only look at the recommendations)."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}")
    personal = _personal_picks(model, histories, k) if model is not None else [None] * len(histories)
    return [
        _complete(history, picks, popular, k, continue_watching)
        for history, picks in zip(histories, personal, strict=True)
    ]


def _complete(
    history: ViewerHistory, picks: list[Pick] | None, popular: PopularTitles, k: int, continue_watching: bool
) -> Recommendations:
    seen = set(history.seen)
    notes = []
    if picks is None:
        strategy = STRATEGY_NO_MODEL
        notes.append("no recommendation model has been trained yet: showing popular titles")
        picks = []
    elif picks:
        strategy = STRATEGY_PERSONAL
    else:
        strategy = STRATEGY_COLD_START
        notes.append(
            "no viewing history yet: showing popular titles"
            if history.titles.empty
            else "the model knows none of this viewer's titles yet: showing popular titles"
        )
    missing = k - len(picks)
    if missing > 0:
        filler = popular.picks(history.context, missing, seen | {pick.title_id for pick in picks})
        if strategy == STRATEGY_PERSONAL and filler:
            notes.append(f"{len(filler)} of {k} filled with popular titles")
        picks = [*picks, *filler]
    if len(picks) < k:
        notes.append(f"only {len(picks)} titles to recommend")
    resume = _continue_watching(history) if continue_watching else []
    return Recommendations(history.viewer_id, strategy, picks, resume, history.context, notes)


def _continue_watching(history: ViewerHistory) -> list[Pick]:
    titles = history.titles
    if titles.empty:
        return []
    # Plain arrays: this runs for every request (and every next watch of the online evaluation).
    ids = titles["title_id"].astype(str).to_numpy()
    last_ns = pd.to_datetime(titles["last_at"], utc=True).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    finished = titles["finished"].to_numpy(bool)
    completion = titles["completion"].to_numpy(np.float64)
    impaired, weight = titles["impaired"].to_numpy(bool), titles["weight"].to_numpy(np.float64)
    started = sorted(np.flatnonzero(~finished).tolist(), key=lambda i: (-last_ns[i], ids[i]))[:CONTINUE_LIMIT]
    picks = []
    for i in started:
        progress = None if np.isnan(completion[i]) else float(completion[i])
        reason = Reason(CONTINUE, progress=progress, impaired=bool(impaired[i]))
        picks.append(Pick(str(ids[i]), float(weight[i]), reason))
    return picks


def _personal_picks(model: TrainedRecommender, histories: Sequence[ViewerHistory], k: int) -> list[list[Pick]]:
    rows = [_history_row(model, history) for history in histories]
    picks: list[list[Pick]] = []
    for start in range(0, len(rows), SCORE_BATCH):
        batch = rows[start : start + SCORE_BATCH]
        scores = model.model.score(sp.vstack(batch, format="csr"))
        picks += [_ranked(model, row, scores[i], k) for i, row in enumerate(batch)]
    return picks


def _history_row(model: TrainedRecommender, history: ViewerHistory) -> Any:
    positions = model.indices_of(history.titles["title_id"].astype(str).tolist())
    known = positions >= 0
    weights = history.titles["weight"].to_numpy(np.float32)[known]
    row = sp.csr_array(
        (weights, (np.zeros(int(known.sum()), np.int64), positions[known])), shape=(1, model.model.n_items)
    )
    return check_interactions(row)


def _ranked(model: TrainedRecommender, row: Any, scores: Any, k: int) -> list[Pick]:
    if row.nnz == 0:
        return []
    ranked = top_k_row(scores, k, np.asarray(row.indices, dtype=np.int64))
    positive = ranked.scores > 0  # no evidence for the rest: popular titles fill those slots
    items, values = ranked.items[positive], ranked.scores[positive]
    links = strongest_links(model.model, row, items)
    return [
        Pick(
            str(model.item_ids[item]),
            float(value),
            Reason(BECAUSE_YOU_WATCHED, because=str(model.item_ids[link]) if link != NO_LINK else None),
        )
        for item, value, link in zip(items, values, links, strict=True)
    ]
