"""Training from the warehouse: views → implicit feedback → model selection → fit → atomic swap.

``qoe recommender train`` and the periodic retrain of the warehouse host run :func:`train_from_warehouse`.
The production config is chosen by validation (:func:`recommender.selection.select_model`) with
the current model's config as the incumbent, so a retrain changes the model kind only when a
candidate is clearly better. Too little data (see :class:`DataRequirements`) is not an error of
the retrain: it is skipped with the reason.

In the host process, one training runs at a time per model store (:func:`retrainer_for`): the
Faust timer and ``POST /v1/recommender/training`` share it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings, default_of
from recommender.feedback import DEFAULT_RULES, FeedbackRules, assess, interactions
from recommender.interactions import Interactions
from recommender.models import ModelConfig
from recommender.selection import DEFAULT_GRID, DEFAULT_PRODUCTION, candidates_of, select_model
from recommender.service import model_root
from recommender.store import POINTER_FILE, ModelStoreError, load_current, swap_in
from recommender.trained import TrainedRecommender, train
from warehouse import catalog as catalogue
from warehouse import interactions as viewing

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=365)
ProgressCallback = Callable[[str, int, int], None]  # (step, steps done, steps in all)


class NotEnoughDataError(ValueError):
    """Too few viewers, titles or interactions to train on; the message says which."""


@dataclass(frozen=True)
class DataRequirements:
    min_viewers: int = 10  # viewers with at least two titles (model selection holds one out)
    min_titles: int = 5
    min_interactions: int = 50

    def check(self, data: Interactions) -> None:
        per_viewer = np.diff(data.matrix.indptr)
        viewers, titles = int((per_viewer >= 2).sum()), int((np.diff(data.matrix.tocsc().indptr) > 0).sum())
        found = f"{viewers} viewers with 2+ titles, {titles} titles, {data.matrix.nnz} viewer-title pairs"
        wanted = (
            f"need ≥ {self.min_viewers} viewers with 2+ titles, ≥ {self.min_titles} titles, "
            f"≥ {self.min_interactions} pairs"
        )
        if viewers < self.min_viewers or titles < self.min_titles or data.matrix.nnz < self.min_interactions:
            raise NotEnoughDataError(f"not enough viewing to train on: {found} ({wanted})")


@dataclass(frozen=True)
class TrainingOptions:
    lookback: timedelta = LOOKBACK
    seed: int = 0
    rules: FeedbackRules = DEFAULT_RULES
    requirements: DataRequirements = field(default_factory=DataRequirements)
    grid: tuple[ModelConfig, ...] = DEFAULT_GRID


@dataclass(frozen=True)
class TrainingReport:
    version: str
    config: str
    reason: str
    views: int
    impaired_views: int
    viewers: int
    titles: int
    interactions: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def steps_in_all(options: TrainingOptions, incumbent: ModelConfig) -> int:
    return len(candidates_of(options.grid, incumbent)) + 3  # + read views, fit, swap in


def model_from_views(
    views: pd.DataFrame,
    *,
    durations: dict[str, float] | None = None,
    options: TrainingOptions = TrainingOptions(),
    incumbent: ModelConfig = DEFAULT_PRODUCTION,
    on_step: Callable[[str], None] | None = None,
) -> TrainedRecommender:
    """Select and fit the production model on a views frame (see :mod:`recommender.feedback`)."""
    assessed = assess(views, durations, options.rules)
    try:
        data = interactions(assessed, options.rules)
    except ValueError as exc:
        raise NotEnoughDataError(f"not enough viewing to train on: {exc}") from exc
    options.requirements.check(data)
    selection = select_model(data.matrix, options.grid, incumbent=incumbent, seed=options.seed, on_step=on_step)
    if on_step is not None:
        on_step(f"fit {selection.chosen.label} on {data.matrix.nnz:,} viewer-title pairs")
    info = {
        "source": "views",
        "views": len(views),
        "impaired_views": int(assessed["impaired"].sum()),
        "first_view_at": _iso(views["at"].min()),
        "last_view_at": _iso(views["at"].max()),
        "weighting": asdict(options.rules),
        "selection": selection.to_json(),
    }
    return train(data, selection.chosen, info)


def _iso(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).isoformat()


def current_config(root: Path) -> ModelConfig:
    """The config of the model in production under ``root``, or the default production config."""
    try:
        return load_current(root).config
    except ModelStoreError:
        return DEFAULT_PRODUCTION


def train_from_warehouse(
    client: Client,
    root: Path,
    options: TrainingOptions = TrainingOptions(),
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> TrainingReport:
    """Read the views of the lookback window, train, and swap the new model in under ``root``."""
    started = time.perf_counter()
    incumbent = current_config(root)
    total = steps_in_all(options, incumbent)
    done = 0

    def step(description: str) -> None:
        nonlocal done
        if progress is not None:
            progress(description, done, total)
        done += 1

    step("read views from the warehouse")
    since = (now or datetime.now(UTC)) - options.lookback
    views = viewing.training_views(client, since)
    durations = catalogue.catalog_durations(client)
    trained = model_from_views(views, durations=durations, options=options, incumbent=incumbent, on_step=step)
    step("swap the new model in")
    directory = swap_in(trained, root)
    if progress is not None:
        progress("done", total, total)
    selection = trained.info["selection"]
    return TrainingReport(
        version=directory.name,
        config=trained.config.label,
        reason=str(selection["reason"]),
        views=len(views),
        impaired_views=int(trained.info["impaired_views"]),
        viewers=int(trained.info["users"]),
        titles=int(trained.info["items"]),
        interactions=int(trained.info["interactions"]),
        seconds=time.perf_counter() - started,
    )


# --- one training at a time in the host ---------------------------------------------------------
IDLE, RUNNING, SUCCEEDED, SKIPPED, FAILED = "idle", "running", "succeeded", "skipped", "failed"


@dataclass(frozen=True)
class TrainingStatus:
    state: str = IDLE
    step: str = ""
    done: int = 0
    total: int = 0
    trigger: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    detail: str = ""
    report: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Retrainer:
    """Runs trainings into one model store, one at a time, and tells how the latest went."""

    def __init__(self, root: Path, options: TrainingOptions = TrainingOptions()) -> None:
        self.root = root
        self.options = options
        self._running = threading.Lock()
        self._status_lock = threading.Lock()
        self._status = TrainingStatus()
        self._trained_views: int | None = None  # closed views the latest model of this process saw

    @property
    def status(self) -> TrainingStatus:
        with self._status_lock:
            return self._status

    def _set(self, **changes: Any) -> None:
        with self._status_lock:
            self._status = replace(self._status, **changes)

    def start(self, client: Client, trigger: str, options: TrainingOptions | None = None) -> bool:
        """Train on a background thread; False (and nothing started) when one is running already."""
        if not self._running.acquire(blocking=False):
            return False
        self._begin(trigger)
        thread = threading.Thread(
            target=self._run_locked, args=(client, False, options), name="recommender-training", daemon=True
        )
        thread.start()
        return True

    def run(self, client: Client, trigger: str, *, only_new_data: bool = False) -> TrainingStatus:
        """Train now on this thread; returns the final status (state RUNNING: another one runs)."""
        if not self._running.acquire(blocking=False):
            return self.status
        self._begin(trigger)
        self._run_locked(client, only_new_data)
        return self.status

    def _begin(self, trigger: str) -> None:
        now = datetime.now(UTC).isoformat()
        self._set(state=RUNNING, step="starting", done=0, total=0, trigger=trigger, started_at=now, finished_at=None)
        self._set(detail="", report=None)

    def _nothing_new(self, client: Client) -> bool:
        trained_on = self._trained_views
        if trained_on is None:
            try:
                info = load_current(self.root).info
            except ModelStoreError:
                return False
            if info.get("source") != "views":
                return False
            trained_on = int(info.get("views", -1))
        since = datetime.now(UTC) - self.options.lookback
        return viewing.closed_view_count(client, since) == trained_on

    def _run_locked(self, client: Client, only_new_data: bool = False, options: TrainingOptions | None = None) -> None:
        try:
            if only_new_data and self._nothing_new(client):
                self._finish(SKIPPED, "no new views since the current model was trained", None)
                return
            report = train_from_warehouse(client, self.root, options or self.options, progress=self._progress)
        except NotEnoughDataError as exc:
            log.info("recommender: training skipped: %s", exc)
            self._finish(SKIPPED, str(exc), None)
        except Exception as exc:  # a failed run must not take the host down; the status says why
            log.exception("recommender: training failed")
            self._finish(FAILED, f"{type(exc).__name__}: {exc}", None)
        else:
            self._trained_views = report.views
            log.info("recommender: %s is now current (%s)", report.config, report.version)
            self._finish(SUCCEEDED, report.reason, report.to_json())
        finally:
            self._running.release()

    def _progress(self, step: str, done: int, total: int) -> None:
        self._set(step=step, done=done, total=total)

    def _finish(self, state: str, detail: str, report: dict[str, Any] | None) -> None:
        self._set(state=state, detail=detail, report=report, finished_at=datetime.now(UTC).isoformat())


_retrainers: dict[Path, Retrainer] = {}
_retrainers_lock = threading.Lock()


def retrainer_for(root: Path) -> Retrainer:
    """The process's retrainer of the model store at ``root``."""
    key = root.resolve()
    with _retrainers_lock:
        if key not in _retrainers:
            _retrainers[key] = Retrainer(root)
        return _retrainers[key]


# --- the periodic retrain in the warehouse host -------------------------------------------------
@dataclass(frozen=True)
class RetrainSchedule:
    first_after_s: float = default_of("recommender_first_retrain_s")
    interval_s: float = default_of("recommender_retrain_interval_s")
    load_catalog: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrainSchedule:
        return cls(
            first_after_s=settings.recommender_first_retrain_s,
            interval_s=settings.recommender_retrain_interval_s,
        )


def add_retrain(
    app: Any, settings: Settings, warehouse: Callable[[], Client], schedule: RetrainSchedule | None = None
) -> None:
    """Register, on the Faust ``app``, the task that loads the bundled catalogue at start-up and
    retrains every ``interval_s`` (first after ``first_after_s``, and at that shorter delay until a
    first model exists) when new views arrived.

    ``warehouse`` opens a client. The warehouse work runs on a worker thread, so the event loop never waits for it.
    """
    plan = schedule or RetrainSchedule.from_settings(settings)
    retrainer = retrainer_for(model_root(settings))

    async def recommender_upkeep() -> None:
        if plan.load_catalog:
            await asyncio.to_thread(_load_bundled_catalog, warehouse)
        await asyncio.sleep(plan.first_after_s)
        while True:
            status = await asyncio.to_thread(retrainer.run, warehouse(), "schedule", only_new_data=True)
            if status.state == SKIPPED:
                log.info("recommender: scheduled retrain skipped: %s", status.detail)
            # Until a first model exists, try again at the short delay: viewing data is accumulating.
            has_model = (retrainer.root / POINTER_FILE).exists()
            await asyncio.sleep(plan.interval_s if has_model else plan.first_after_s)

    app.task(recommender_upkeep)


def _load_bundled_catalog(warehouse: Callable[[], Client]) -> None:
    from recommender.catalog import ensure_catalog, movielens_catalog
    from recommender.movielens import MovieLensError

    try:
        loaded = ensure_catalog(warehouse(), movielens_catalog())
    except MovieLensError as exc:
        log.warning("recommender: no catalogue loaded: %s", exc)
        return
    except Exception:  # the catalogue is an extra: the worker keeps running without it
        log.exception("recommender: loading the catalogue failed")
        return
    state = "loaded" if loaded.loaded else "already up to date"
    log.info("recommender: catalogue of %d titles %s", loaded.titles, state)
