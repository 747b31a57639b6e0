"""The live side of serving: the current model (reloaded when ``current.json`` changes), recent
demand (cached for a minute) and one viewer's views, put together for the API.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from recommender.catalog import movielens_title_id
from recommender.feedback import DEFAULT_RULES, FeedbackRules, assess
from recommender.serving import PopularTitles, Recommendations, ViewerHistory, recommend
from recommender.store import POINTER_FILE, ModelStoreError, current_version, load_model
from recommender.trained import TrainedRecommender
from warehouse import catalog as catalogue
from warehouse import interactions as viewing

log = logging.getLogger(__name__)

MODELS_SUBDIR = Path("models") / "recommender"
DEMAND_WINDOW = timedelta(days=7)
DEMAND_TTL_S = 60.0
MAX_HISTORY_VIEWS = 500
RELOAD_RETRY_S = 5.0

T = TypeVar("T")


def model_root(settings: Settings) -> Path:
    """Where trained models live: ``<QOE_DATA_DIR>/models/recommender`` (as ``qoe recommender train``)."""
    return settings.data_dir / MODELS_SUBDIR


@dataclass(frozen=True)
class LoadedModel:
    trained: TrainedRecommender
    version: str
    loaded_at: datetime


def as_title_ids(trained: TrainedRecommender) -> TrainedRecommender:
    """A model trained on MovieLens movieIds (``qoe recommender train --from movielens``) speaks catalogue title ids
    (``ml-<movieId>``); a model trained on views already does."""
    if trained.item_ids.dtype.kind != "i":
        return trained
    ids = np.asarray([movielens_title_id(movie) for movie in trained.item_ids.tolist()])
    return TrainedRecommender(trained.model, ids, trained.info, trained.popularity)


class ModelHolder:
    """The current model under ``root``, reloaded when its pointer file changes.

    Each call costs one ``stat`` of ``current.json``. A model that fails to load leaves the
    previous one serving (logged), and is tried again after a few seconds.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._loaded: LoadedModel | None = None
        self._retry_at = 0.0
        self.last_error: str | None = None

    def current(self) -> LoadedModel | None:
        key = self._pointer_key()
        if key == self._key:
            return self._loaded
        with self._lock:
            if key != self._key and time.monotonic() >= self._retry_at:
                self._reload(key)
            return self._loaded

    def _pointer_key(self) -> tuple[int, int, int] | None:
        try:
            stat = (self.root / POINTER_FILE).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    def _reload(self, key: tuple[int, int, int] | None) -> None:
        if key is None:
            self._key, self._loaded = None, None
            return
        try:
            directory = current_version(self.root)
            trained = as_title_ids(load_model(directory))
        except ModelStoreError as exc:
            self.last_error = str(exc)
            self._retry_at = time.monotonic() + RELOAD_RETRY_S
            log.warning("recommender: keeping the previous model: %s", exc)
            return
        self._key, self.last_error = key, None
        self._loaded = LoadedModel(trained, directory.name, datetime.now(UTC))
        log.info("recommender: serving model %s (%s)", directory.name, trained.config.label)


class TimedCache(Generic[T]):
    """One value from ``load``, refreshed once it is ``ttl_s`` old.

    Only the first call waits for ``load``. Later, a stale value is still returned while one
    background thread loads the new one, so no request pays for the refresh; a failed refresh
    keeps the old value (logged) and is tried again on the next call.
    """

    def __init__(self, load: Callable[[], T], ttl_s: float) -> None:
        self._load = load
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at = -float("inf")
        self._refreshing = False

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value, self._at = self._load(), time.monotonic()
                return self._value
            if time.monotonic() - self._at >= self.ttl_s and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, name="recommender-cache", daemon=True).start()
            return self._value

    def _refresh(self) -> None:
        try:
            value = self._load()
        except Exception:
            log.exception("recommender: refreshing a cached value failed; keeping the old one")
            with self._lock:
                self._refreshing = False
            return
        with self._lock:
            self._value, self._at, self._refreshing = value, time.monotonic(), False


class RecommendationService:
    """Recommendations for one viewer from the warehouse and the model store."""

    def __init__(
        self,
        client: Client,
        root: Path,
        *,
        demand_window: timedelta = DEMAND_WINDOW,
        demand_ttl_s: float = DEMAND_TTL_S,
        max_history_views: int = MAX_HISTORY_VIEWS,
        rules: FeedbackRules = DEFAULT_RULES,
    ) -> None:
        self.client = client
        self.models = ModelHolder(root)
        self.demand_window = demand_window
        self.max_history_views = max_history_views
        self.rules = rules
        self.popular: TimedCache[PopularTitles] = TimedCache(self._load_popular, demand_ttl_s)

    def _load_popular(self) -> PopularTitles:
        since = datetime.now(UTC) - self.demand_window
        return PopularTitles(viewing.demand_by_segment(self.client, since))

    def history(self, viewer_id: str) -> ViewerHistory:
        views = viewing.viewer_views(self.client, viewer_id, self.max_history_views)
        durations = catalogue.catalog_durations(self.client, views["title_id"].unique().tolist()) if len(views) else {}
        return ViewerHistory.from_views(viewer_id, assess(views, durations, self.rules), self.rules)

    def recommend(self, viewer_id: str, k: int) -> tuple[Recommendations, LoadedModel | None]:
        loaded = self.models.current()
        result = recommend(loaded.trained if loaded else None, self.history(viewer_id), self.popular.get(), k)
        return result, loaded
