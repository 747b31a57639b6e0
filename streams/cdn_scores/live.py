"""Live CDN figures from the beacon stream: what the score agent publishes every few seconds.

Why the beacon stream and not the warehouse: the closed loop must demote a degraded CDN within
about 10 s of the onset. Beacons already wait up to the SDK's 10 s flush interval (REFERENCE §4);
the sessionizer's tables add their flush and are sliced per minute, so a figure read from them
mixes up to a minute of healthy data into a degradation that is seconds old, and re-reading
minutes of rows for every group every few seconds costs a scan per tick. Folding the records the
worker already receives costs one orjson parse per beacon and keeps second-resolution windows.

The fold follows the phases of the sessionizer (docs/metrics.md, REFERENCE §2) at one-second
resolution: watch time counts playing, stalled and seeking time; stalls exclude startup and seek
buffering; the bitrate is time-weighted over playing time. Each view keeps the last
``window_s`` seconds of its activity, per CDN (a view that changes pathway counts for both).
An interval between two events is sliced over its last two windows at most: the figures only
ever read the window before now, and an event is folded after it happened, so the rest could
only be pruned unread. A player's timestamps therefore cannot make the fold slice years second
by second.

Every tick, each (view, CDN) pair active in the window is scored as one short view with the
platform's score (:mod:`streams.scoring.score`): success, startup (if the view started in the
window), smoothness over the window's stalls and down-switches, and quality. The quality input
looks ahead: it is the lower of the bitrate played in the window and the bitrate the player can
sustain from that CDN right now, 0.9 × the lower of a fast and a slow throughput average of its
segment downloads (hls.js's estimator and up-switch rule). A buffered player keeps playing its
old rendition for up to its buffer length (30 s) after a CDN slows down; its downloads show the
drop at once, and the played bitrate would follow only later. So the figure says what viewers
are about to get from each CDN, which is what steering needs.

Figures are aggregated over every level of :meth:`Group.backoff_chain` (the board needs the
coarse levels published, see :mod:`delivery.steering.scores`). No source (the sender ingest
stamps on each record) may make up more than ``max_source_share`` of a figure, its view count
included (:mod:`streams.cdn_scores.sources`): one client cannot post views that move steering.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Final

import numpy as np
import orjson

from foundation.settings import Settings, default_of
from schemas.steering import CdnScore, Group, device_class
from streams.cdn_scores.sources import NO_SOURCE, capped_medians, capped_weights

# Columns of a one-second slice of a view's activity on one CDN.
WATCH, STALL, PLAYED, BITRATE_MS, STALLS, DOWNSWITCHES = range(6)
SLICE_COLUMNS: Final = 6
SECOND_MS: Final = 1000


class ScoreRecordError(ValueError):
    """A Kafka record that is not a beacon record as ingest writes it."""


@dataclass(frozen=True)
class LiveScoreConfig:
    window_s: int = default_of("steering_score_window_s")  # the figures cover this many seconds of view activity
    view_idle_s: float = 120.0  # forget a view that sent nothing for this long
    min_views: int = default_of("steering_score_min_views")  # publish a (CDN, group) figure from this many views
    top_bitrate_kbps: float | None = None  # top of the ladder; None: the highest bitrate reported so far
    abr_safety: float = 0.9  # share of the throughput estimate a player's next rendition may use
    fast_half_life_s: float = 3.0  # throughput averages of hls.js (seconds of download time)
    slow_half_life_s: float = 9.0
    baseline_half_life_s: float = 30.0  # a view's own recent throughput level (seconds of download time)
    baseline_min_weight: float = 0.3  # the level needs this much history (≈ 15 s of downloads) first
    settle_s: float = 10.0  # after a pathway change the new CDN is not charged for the old one's damage
    # Besides the window's median throughput ratio, each figure has the median over the views
    # whose latest download is at most ``ratio_recent_s`` old: a slowdown shows there first.
    ratio_recent_s: float = 5.0
    max_views: int = 500_000  # views kept in memory (the least recently heard is forgotten)
    # No source may make up more of a figure than this (its view count included); 1: no cap.
    max_source_share: float = default_of("steering_max_source_share")

    def __post_init__(self) -> None:
        if self.window_s < 1 or self.view_idle_s <= 0 or self.min_views < 1 or self.max_views < 1:
            raise ValueError("window_s, view_idle_s, min_views and max_views must be positive")
        if not 0 < self.max_source_share <= 1:
            raise ValueError("max_source_share must be within (0, 1]")
        if not 0 < self.abr_safety <= 1:
            raise ValueError("abr_safety must be within (0, 1]")
        if min(self.fast_half_life_s, self.slow_half_life_s, self.baseline_half_life_s) <= 0:
            raise ValueError("half-lives must be positive")
        if self.top_bitrate_kbps is not None and self.top_bitrate_kbps <= 0:
            raise ValueError("top_bitrate_kbps must be positive")
        if self.ratio_recent_s <= 0:
            raise ValueError("ratio_recent_s must be positive")
        if not 0 < self.baseline_min_weight < 1 or self.settle_s < 0:
            raise ValueError("baseline_min_weight must be within (0, 1), settle_s >= 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveScoreConfig:
        return cls(
            window_s=settings.steering_score_window_s,
            min_views=settings.steering_score_min_views,
            max_source_share=settings.steering_max_source_share,
        )


class _Phase(IntEnum):
    IDLE = 0
    STARTING = 1
    PLAYING = 2
    PAUSED = 3
    SEEKING = 4
    STALLED = 5
    OVER = 6


# What a view's time counts for in each phase: (column, rate). Bitrate is added while playing.
_RATES: Final[dict[_Phase, tuple[tuple[int, float], ...]]] = {
    _Phase.PLAYING: ((WATCH, 1.0), (PLAYED, 1.0)),
    _Phase.STALLED: ((WATCH, 1.0), (STALL, 1.0)),
    _Phase.SEEKING: ((WATCH, 1.0),),
}
# Outcomes: things that happen once per view and count in the window they happen in.
ATTEMPT, START, EXIT_BEFORE_START, FATAL_BEFORE_START, FATAL_AFTER_START = (
    "attempt",
    "start",
    "ebvs",
    "fatal_before",
    "fatal_after",
)


@dataclass
class _Throughput:
    """hls.js's two bias-corrected EWMAs of segment throughput, weighted by download time, plus a
    slower one: the view's own recent level, against which a sudden drop shows at once whatever
    the viewer's link (each view is its own control)."""

    cdn: str
    fast: float = 0.0
    slow: float = 0.0
    level: float = 0.0
    fast_weight: float = 0.0
    slow_weight: float = 0.0
    level_weight: float = 0.0
    level_before: float | None = None  # the level before the latest download, for the drop ratio
    last_kbps: float = 0.0  # the latest download's throughput
    last_ms: int = 0  # server time of the latest download

    def add(self, kbps: float, seconds: float, config: LiveScoreConfig) -> None:
        self.level_before = self.level / self.level_weight if self.level_weight >= config.baseline_min_weight else None
        self.last_kbps = kbps
        a_fast = 0.5 ** (seconds / config.fast_half_life_s)
        a_slow = 0.5 ** (seconds / config.slow_half_life_s)
        a_level = 0.5 ** (seconds / config.baseline_half_life_s)
        self.fast = a_fast * self.fast + (1 - a_fast) * kbps
        self.slow = a_slow * self.slow + (1 - a_slow) * kbps
        self.level = a_level * self.level + (1 - a_level) * kbps
        self.fast_weight = a_fast * self.fast_weight + (1 - a_fast)
        self.slow_weight = a_slow * self.slow_weight + (1 - a_slow)
        self.level_weight = a_level * self.level_weight + (1 - a_level)

    def moved_to(self, cdn: str) -> _Throughput:
        """After a pathway change: the player's estimate starts afresh on the new CDN, but the
        view's own level (mostly its link) carries over, so the new CDN is measured against it."""
        return _Throughput(cdn, level=self.level, level_weight=self.level_weight)

    def estimate_kbps(self) -> float | None:
        if self.fast_weight <= 0 or self.slow_weight <= 0:
            return None
        return min(self.fast / self.fast_weight, self.slow / self.slow_weight)

    def ratio(self) -> float | None:
        """The latest download's throughput ÷ the level before it (None without enough history)."""
        if self.level_before is None or self.level_before <= 0:
            return None
        return self.last_kbps / self.level_before


@dataclass
class _View:
    group: Group
    cdn: str
    offset_ms: int  # server clock − viewer clock, fixed at the first beacon
    heard_ms: int  # server receive time of the newest beacon
    # Who sent the first beacon (None: no source, never capped). Later beacons do not change it:
    # a viewer's address may change mid-view, and only its player knows the view's id.
    source: str | None = None
    phase: _Phase = _Phase.IDLE
    last_ts: int | None = None
    max_seq: int = -1
    request_ts: int | None = None
    startup_ms: float | None = None
    bitrate: float | None = None
    excluded_wait: bool = False  # a stall began during startup or a seek
    seek_open: bool = False
    failed: bool = False
    throughput: _Throughput | None = None
    settle_until: int = 0  # viewer clock: no time slices before (a pathway change is settling)
    slices: dict[tuple[int, str], list[float]] = field(default_factory=dict)  # (server second, cdn)
    outcomes: list[tuple[int, str, str]] = field(default_factory=list)  # (server ms, cdn, kind)


@dataclass(frozen=True, slots=True)
class ViewWindow:
    """One (view, CDN) pair over the window: the input of one per-view score."""

    cdn: str
    group: Group
    played: bool
    exited_before_start: bool
    fatal_before_start: bool
    fatal_after_start: bool
    startup_ms: float | None  # only when the view started inside the window
    view_startup_ms: float | None  # the view's startup time, wherever it started
    watch_ms: float
    stall_ms: float
    stall_count: float
    downswitches: float
    played_ms: float
    bitrate_ms: float
    sustainable_kbps: float | None
    throughput_ratio: float | None = None  # fast throughput ÷ the view's own level, latest download
    ratio_at_ms: int = 0  # server time of that download
    source: str | None = None  # who sent the view's beacons; None: never capped

    @property
    def quality_bitrate_kbps(self) -> float | None:
        played = self.bitrate_ms / self.played_ms if self.played_ms > 0 else None
        candidates = [v for v in (played, self.sustainable_kbps) if v is not None]
        return min(candidates) if candidates else None


@dataclass
class LiveStats:
    records: int = 0
    rejected: int = 0  # records that are not beacon records
    events: int = 0
    late_events: int = 0  # at or below a view's highest seq: dropped (the window is live)
    views: int = 0
    forgotten: int = 0


class LiveScores:
    """Folds beacon records into per-view windows and answers :class:`CdnScore` figures.

    Not thread-safe: one agent feeds it and the same agent's timer reads it, on one event loop.
    """

    def __init__(self, config: LiveScoreConfig | None = None) -> None:
        self.config = config or LiveScoreConfig()
        # The longest stretch of one interval that can still be read; one window more is margin
        # for a viewer clock that runs a little ahead of its estimated offset.
        self._slice_ms = 2 * self.config.window_s * SECOND_MS
        self.stats = LiveStats()
        self._views: dict[str, _View] = {}
        self._top_seen = 0.0

    # --- input -----------------------------------------------------------------------------

    def ingest_record(self, value: bytes) -> None:
        """One record of the beacons topic (``{"server": {...}, "beacon": {...}}``)."""
        try:
            record = orjson.loads(value)
            server, beacon = record["server"], record["beacon"]
            if not isinstance(server, dict) or not isinstance(beacon, dict):
                raise TypeError("server and beacon must be objects")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self.stats.rejected += 1
            raise ScoreRecordError(f"not a beacon record: {exc}") from None
        self.ingest(beacon, server)

    def ingest(self, beacon: Mapping[str, Any], server: Mapping[str, Any]) -> None:
        """A validated beacon and the server context ingest added to it."""
        self.stats.records += 1
        try:
            received = int(server["received_at"])
            view_id = str(beacon["view_id"])
            events = beacon["events"]
        except (KeyError, TypeError, ValueError):
            self.stats.rejected += 1
            return
        view = self._views.get(view_id)
        if view is None:
            view = self._new_view(beacon, server, received)
            if view is None:
                return
            self._views[view_id] = view
        else:
            self._views[view_id] = self._views.pop(view_id)  # most recently heard last
        view.heard_ms = received
        for event in events:
            self._apply(view, event)
        self._evict_over_capacity()

    def _new_view(self, beacon: Mapping[str, Any], server: Mapping[str, Any], received: int) -> _View | None:
        context = beacon.get("context") or {}
        events = beacon.get("events") or []
        sent_at = beacon.get("sent_at")
        viewer_now = int(sent_at) if isinstance(sent_at, int) else int(events[-1]["ts"]) if events else received
        try:
            group = _group(context, server)
        except (ValueError, TypeError):
            self.stats.rejected += 1
            return None
        self.stats.views += 1
        source = server.get("source")
        source = source if isinstance(source, str) and source else None
        return _View(group, str(context.get("cdn") or ""), received - viewer_now, received, source=source)

    def _evict_over_capacity(self) -> None:
        while len(self._views) > self.config.max_views:
            self._views.pop(next(iter(self._views)))
            self.stats.forgotten += 1

    # --- the fold --------------------------------------------------------------------------

    def _apply(self, view: _View, event: Mapping[str, Any]) -> None:
        try:
            seq, ts, kind = int(event["seq"]), int(event["ts"]), str(event["type"])
        except (KeyError, TypeError, ValueError):
            return
        if seq <= view.max_seq:
            self.stats.late_events += 1
            return
        self.stats.events += 1
        view.max_seq = seq
        t = ts if view.last_ts is None or ts > view.last_ts else view.last_ts
        if view.last_ts is not None:
            self._advance(view, view.last_ts, t)
        view.last_ts = t
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, view, event, t)

    def _advance(self, view: _View, start: int, end: int) -> None:
        rates = _RATES.get(view.phase)
        start = max(start, view.settle_until, end - self._slice_ms)
        if rates is None or end <= start or not view.cdn:
            return
        a, b = start + view.offset_ms, end + view.offset_ms
        while a < b:
            second = a // SECOND_MS
            edge = min(b, (second + 1) * SECOND_MS)
            row = self._slice(view, second)
            ms = edge - a
            for column, rate in rates:
                row[column] += rate * ms
            if view.phase is _Phase.PLAYING and view.bitrate is not None:
                row[BITRATE_MS] += view.bitrate * ms
            a = edge

    def _slice(self, view: _View, second: int) -> list[float]:
        key = (second, view.cdn)
        row = view.slices.get(key)
        if row is None:
            row = view.slices[key] = [0.0] * SLICE_COLUMNS
        return row

    def _outcome(self, view: _View, t: int, kind: str) -> None:
        if view.cdn:
            view.outcomes.append((t + view.offset_ms, view.cdn, kind))

    def _on_request(self, view: _View, _event: Mapping[str, Any], t: int) -> None:
        if view.phase is _Phase.IDLE:
            view.phase = _Phase.STARTING
            view.request_ts = t
            self._outcome(view, t, ATTEMPT)

    def _on_start(self, view: _View, _event: Mapping[str, Any], t: int) -> None:
        if view.phase is _Phase.OVER:
            return
        if view.startup_ms is None:
            view.startup_ms = float(t - view.request_ts) if view.request_ts is not None else None
            self._outcome(view, t, START)
        view.phase, view.excluded_wait, view.seek_open = _Phase.PLAYING, False, False

    def _on_pause(self, view: _View, _event: Mapping[str, Any], _t: int) -> None:
        if view.phase in (_Phase.PLAYING, _Phase.STALLED):
            view.phase = _Phase.PAUSED

    def _on_resume(self, view: _View, _event: Mapping[str, Any], _t: int) -> None:
        if view.phase is _Phase.PAUSED:
            view.phase = _Phase.PLAYING

    def _on_seek_start(self, view: _View, _event: Mapping[str, Any], _t: int) -> None:
        if view.phase in (_Phase.PLAYING, _Phase.STALLED, _Phase.PAUSED):
            view.phase = _Phase.SEEKING
        view.seek_open = view.phase in (_Phase.SEEKING, _Phase.STARTING)

    def _on_seek_end(self, view: _View, _event: Mapping[str, Any], _t: int) -> None:
        view.seek_open = False
        if view.phase is _Phase.SEEKING and not view.excluded_wait:
            view.phase = _Phase.PLAYING

    def _on_stall_start(self, view: _View, _event: Mapping[str, Any], t: int) -> None:
        if view.phase is _Phase.PLAYING:
            view.phase = _Phase.STALLED
            self._slice(view, (t + view.offset_ms) // SECOND_MS)[STALLS] += 1
        elif view.phase in (_Phase.SEEKING, _Phase.STARTING):
            view.excluded_wait = True  # startup or seek buffering is never a stall

    def _on_stall_end(self, view: _View, _event: Mapping[str, Any], _t: int) -> None:
        if view.phase is _Phase.STALLED:
            view.phase = _Phase.PLAYING
        elif view.excluded_wait:
            view.excluded_wait = False
            if view.phase is _Phase.SEEKING and not view.seek_open:
                view.phase = _Phase.PLAYING

    def _on_rendition(self, view: _View, event: Mapping[str, Any], t: int) -> None:
        bitrate = _positive(event.get("bitrate_kbps"))
        if bitrate is None:
            return
        if view.startup_ms is not None and view.bitrate is not None and bitrate < view.bitrate:
            self._slice(view, (t + view.offset_ms) // SECOND_MS)[DOWNSWITCHES] += 1
        view.bitrate = bitrate
        top = _positive(event.get("top_bitrate_kbps"))
        self._top_seen = max(self._top_seen, bitrate, top or 0.0)

    def _on_error(self, view: _View, event: Mapping[str, Any], t: int) -> None:
        if not event.get("fatal") or view.phase is _Phase.OVER:
            return
        view.phase, view.failed = _Phase.OVER, True
        if not event.get("business"):  # a geo-block is no CDN's fault
            self._outcome(view, t, FATAL_AFTER_START if view.startup_ms is not None else FATAL_BEFORE_START)

    def _on_end(self, view: _View, _event: Mapping[str, Any], t: int) -> None:
        if view.phase is _Phase.OVER:
            return
        if view.startup_ms is None and view.request_ts is not None and not view.failed:
            self._outcome(view, t, EXIT_BEFORE_START)
        view.phase = _Phase.OVER

    def _on_request_completed(self, view: _View, event: Mapping[str, Any], t: int) -> None:
        if event.get("kind", "segment") != "segment" or int(event.get("status", 200)) >= 400:
            return
        size, duration = event.get("bytes"), event.get("duration_ms")
        if not isinstance(size, int) or not isinstance(duration, int) or duration <= 0 or size <= 0:
            return
        cdn = str(event.get("cdn") or view.cdn)
        if view.throughput is None:
            view.throughput = _Throughput(cdn)
        elif view.throughput.cdn != cdn:
            view.throughput = view.throughput.moved_to(cdn)
        view.throughput.add(size * 8 / duration, duration / 1000, self.config)
        view.throughput.last_ms = t + view.offset_ms

    def _on_pathway(self, view: _View, event: Mapping[str, Any], t: int) -> None:
        pathway = event.get("pathway")
        if isinstance(pathway, str) and pathway and pathway != view.cdn:
            view.cdn = pathway
            # The buffer the player brings (or lacks) and its bitrate are the old CDN's doing.
            view.settle_until = t + int(self.config.settle_s * 1000)

    # --- output ----------------------------------------------------------------------------

    @property
    def open_views(self) -> int:
        return len(self._views)

    def top_bitrate_kbps(self) -> float | None:
        return self.config.top_bitrate_kbps or (self._top_seen or None)

    def windows(self, now_ms: int) -> list[ViewWindow]:
        """Every (view, CDN) pair with activity in the window ending at ``now_ms``; prunes old state."""
        since_ms = now_ms - self.config.window_s * SECOND_MS
        self._forget_idle(now_ms)
        out: list[ViewWindow] = []
        for view in self._views.values():
            out.extend(_view_windows(view, since_ms, now_ms, self.config.abr_safety))
        return out

    def _forget_idle(self, now_ms: int) -> None:
        idle_before = now_ms - self.config.view_idle_s * 1000
        while self._views:
            oldest_id = next(iter(self._views))
            if self._views[oldest_id].heard_ms >= idle_before:
                break
            del self._views[oldest_id]
            self.stats.forgotten += 1

    def scores(self, now_ms: int) -> list[CdnScore]:
        """The figures of every (CDN, back-off group) with at least ``min_views`` scored views."""
        windows = self.windows(now_ms)
        per_view = score_windows(windows, self.top_bitrate_kbps())
        window_end = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
        config = self.config
        return aggregate(
            windows,
            per_view,
            window_end,
            config.window_s,
            config.min_views,
            ratio_recent_s=config.ratio_recent_s,
            max_source_share=config.max_source_share,
        )


def _view_windows(view: _View, since_ms: int, now_ms: int, abr_safety: float) -> list[ViewWindow]:
    since_second = since_ms // SECOND_MS
    totals: dict[str, list[float]] = {}
    for key in list(view.slices):
        second, cdn = key
        if second < since_second:
            del view.slices[key]
            continue
        if second * SECOND_MS >= now_ms:
            continue
        row = totals.setdefault(cdn, [0.0] * SLICE_COLUMNS)
        for column, value in enumerate(view.slices[key]):
            row[column] += value
    view.outcomes = [o for o in view.outcomes if o[0] >= since_ms]
    outcomes: dict[str, set[str]] = {}
    for at, cdn, kind in view.outcomes:
        if at < now_ms:
            outcomes.setdefault(cdn, set()).add(kind)
    windows = []
    for cdn in totals.keys() | outcomes.keys():
        row = totals.get(cdn, [0.0] * SLICE_COLUMNS)
        kinds = outcomes.get(cdn, set())
        window = _window(view, cdn, row, kinds, abr_safety, since_ms)
        if window is not None:
            windows.append(window)
    return windows


def _window(
    view: _View, cdn: str, row: list[float], kinds: set[str], abr_safety: float, since_ms: int
) -> ViewWindow | None:
    played = view.startup_ms is not None
    exited = EXIT_BEFORE_START in kinds and not played
    fatal_before = FATAL_BEFORE_START in kinds and not played
    if not played and not exited and not fatal_before:
        return None  # still starting: its outcome is not known yet
    if played and row[WATCH] <= 0 and not kinds:
        return None  # paused all along: says nothing about the CDN
    throughput = view.throughput if view.throughput is not None and view.throughput.cdn == cdn else None
    estimate = throughput.estimate_kbps() if throughput is not None else None
    return ViewWindow(
        cdn=cdn,
        group=view.group,
        played=played,
        exited_before_start=exited,
        fatal_before_start=fatal_before and not exited,
        fatal_after_start=played and FATAL_AFTER_START in kinds,
        startup_ms=view.startup_ms if START in kinds else None,
        view_startup_ms=view.startup_ms,
        watch_ms=row[WATCH],
        stall_ms=row[STALL],
        stall_count=row[STALLS],
        downswitches=row[DOWNSWITCHES],
        played_ms=row[PLAYED],
        bitrate_ms=row[BITRATE_MS],
        sustainable_kbps=None if estimate is None else abr_safety * estimate,
        throughput_ratio=throughput.ratio() if throughput is not None and throughput.last_ms >= since_ms else None,
        ratio_at_ms=throughput.last_ms if throughput is not None else 0,
        source=view.source,
    )


def score_windows(windows: list[ViewWindow], top_bitrate_kbps: float | None) -> np.ndarray:
    """The platform's per-view score (0–100) of each window, vectorised."""
    from streams.scoring.score import DEFAULT_PARAMS, ViewColumns, score_columns

    n = len(windows)
    if n == 0:
        return np.zeros(0)

    def floats(values: Iterable[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    played = np.array([w.played for w in windows], dtype=np.bool_)
    nan = np.full(n, np.nan)
    columns = ViewColumns(
        played=played,
        exited_before_start=np.array([w.exited_before_start for w in windows], dtype=np.bool_),
        fatal_before_start=np.array([w.fatal_before_start for w in windows], dtype=np.bool_),
        fatal_after_start=np.array([w.fatal_after_start for w in windows], dtype=np.bool_),
        startup_s=floats(w.startup_ms for w in windows) / 1000.0,
        watch_s=floats(w.watch_ms for w in windows) / 1000.0,
        stall_count=floats(w.stall_count for w in windows),
        stall_s=floats(w.stall_ms for w in windows) / 1000.0,
        downswitches=floats(w.downswitches for w in windows),
        avg_bitrate_kbps=floats(w.quality_bitrate_kbps for w in windows),
        top_bitrate_kbps=np.full(n, np.nan if top_bitrate_kbps is None else top_bitrate_kbps),
        avg_framerate=nan,
        upscale=nan,
        avg_quality=nan,
    )
    return np.asarray(score_columns(columns, DEFAULT_PARAMS, use_quality=False)["total"], dtype=np.float64)


def aggregate(
    windows: list[ViewWindow],
    scores: np.ndarray,
    window_end: datetime,
    window_s: int,
    min_views: int,
    *,
    ratio_recent_s: float = 5.0,
    max_source_share: float = 1.0,
) -> list[CdnScore]:
    """Sum the per-view windows into one :class:`CdnScore` per (CDN, back-off level).

    Each number is weighted so that no source makes up more than ``max_source_share`` of it
    (:mod:`streams.cdn_scores.sources`): the views, failure rate and QoE score per view, the
    rebuffering ratio per watched ms, the bitrate per played ms, each median per view that has
    its value. The sample sizes published are the weights' sums rounded down, so the view count
    that gates publishing here (``min_views``) and trust in the policy counts capped views.
    """
    if not windows:
        return []
    rows = _Rows.of(windows, scores, window_end.timestamp() * 1000 - ratio_recent_s * 1000)
    sums = rows.sums(max_source_share)
    out = []
    for index, (cdn, group) in enumerate(rows.keys):
        figure = {name: values[index] for name, values in sums.items()}
        if _count(figure["views"]) < min_views:
            continue
        try:
            out.append(_score(cdn, group, figure, window_end, window_s))
        except ValueError:
            continue  # a CDN label that is not a pathway id (a player's free text): never steerable
    return out


@dataclass(frozen=True)
class _Rows:
    """The windows as columns, one row per (window, back-off level of its group)."""

    keys: list[tuple[str, Group]]  # (CDN, level) of each key number
    key: np.ndarray  # per row: its key number
    source: np.ndarray  # per row: its source number, NO_SOURCE without one
    columns: dict[str, np.ndarray]  # per row

    @classmethod
    def of(cls, windows: list[ViewWindow], scores: np.ndarray, recent_since_ms: float) -> _Rows:
        keys: dict[tuple[str, Group], int] = {}
        sources: dict[str, int] = {}
        chains: dict[Group, tuple[Group, ...]] = {}
        row_key: list[int] = []
        row_window: list[int] = []
        window_source: list[int] = []
        for index, window in enumerate(windows):
            chain = chains.get(window.group)
            if chain is None:
                chain = chains[window.group] = window.group.backoff_chain()
            for level in chain:
                row_key.append(keys.setdefault((window.cdn, level), len(keys)))
                row_window.append(index)
            source = window.source
            window_source.append(NO_SOURCE if source is None else sources.setdefault(source, len(sources)))
        at = np.array(row_window, dtype=np.int64)
        columns = {name: values[at] for name, values in _columns(windows, scores, recent_since_ms).items()}
        return cls(list(keys), np.array(row_key, dtype=np.int64), np.array(window_source, dtype=np.int64)[at], columns)

    def sums(self, share: float) -> dict[str, list[float]]:
        """Per key: the capped sums and medians a figure is made of."""
        n, c = len(self.keys), self.columns
        per_view = capped_weights(self.key, self.source, np.ones(len(self.key)), share)
        per_watch = capped_weights(self.key, self.source, c["watch"], share)
        per_played = capped_weights(self.key, self.source, c["played"], share)
        ratio, ratio_views = capped_medians(self.key, self.source, c["ratio"], share, n)
        recent, recent_views = capped_medians(self.key, self.source, c["recent_ratio"], share, n)
        startup, _ = capped_medians(self.key, self.source, c["startup"], share, n)

        def total(weighted: np.ndarray) -> np.ndarray:
            return np.bincount(self.key, weights=weighted, minlength=n)

        arrays = {
            "views": total(per_view),
            "failures": total(per_view * c["failed"]),
            "score": total(per_view * c["score"]),
            "watch": total(per_watch * c["watch"]),
            "stall": total(per_watch * c["stall"]),
            "played": total(per_played * c["played"]),
            "bitrate_ms": total(per_played * c["bitrate_ms"]),
            "ratio": ratio,
            "ratio_views": ratio_views,
            "recent": recent,
            "recent_views": recent_views,
            "startup": startup,
        }
        return {name: values.tolist() for name, values in arrays.items()}


def _columns(windows: list[ViewWindow], scores: np.ndarray, recent_since_ms: float) -> dict[str, np.ndarray]:
    """Per window: what the figures sum, as floats (NaN where a window has no value)."""

    def floats(values: Iterable[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    ratio = floats(w.throughput_ratio for w in windows)
    recent = np.array([w.ratio_at_ms >= recent_since_ms for w in windows], dtype=np.bool_)
    return {
        "watch": floats(w.watch_ms for w in windows),
        "stall": floats(w.stall_ms for w in windows),
        "played": floats(w.played_ms for w in windows),
        "bitrate_ms": floats(w.bitrate_ms for w in windows),
        "failed": floats(float(w.fatal_before_start or w.fatal_after_start) for w in windows),
        "score": np.asarray(scores, dtype=np.float64),
        "ratio": ratio,
        "recent_ratio": np.where(recent, ratio, np.nan),
        "startup": floats(w.view_startup_ms for w in windows),
    }


def _score(cdn: str, group: Group, f: dict[str, float], window_end: datetime, window_s: int) -> CdnScore:
    ratio_views, recent_views = _count(f["ratio_views"]), _count(f["recent_views"])
    return CdnScore(
        cdn=cdn,
        group=group,
        views=_count(f["views"]),
        rebuffering_ratio=min(1.0, f["stall"] / f["watch"]) if f["watch"] > 0 else 0.0,
        vst_p50_ms=min(3_600_000.0, f["startup"]) if not math.isnan(f["startup"]) else 0.0,
        failure_rate=min(1.0, f["failures"] / f["views"]),
        avg_bitrate_kbps=min(1_000_000.0, f["bitrate_ms"] / f["played"]) if f["played"] > 0 else 0.0,
        qoe_score=min(100.0, max(0.0, f["score"] / f["views"])),
        window_end=window_end,
        window_s=window_s,
        throughput_ratio_p50=min(1000.0, f["ratio"]) if ratio_views else None,
        throughput_ratio_views=ratio_views,
        recent_ratio_p50=min(1000.0, f["recent"]) if recent_views else None,
        recent_ratio_views=recent_views,
    )


def _count(weight: float) -> int:
    """A sum of weights as a sample size: rounded down, so capped views never round up to a threshold
    (the slack only keeps a float sum a hair under a whole number from losing a view)."""
    return math.floor(weight + 1e-9)


def _group(context: Mapping[str, Any], server: Mapping[str, Any]) -> Group:
    """The view's group: the player's context first, what the server saw otherwise."""
    country = str(context.get("country") or server.get("country") or "")
    asn = context.get("asn") if context.get("asn") is not None else server.get("asn")
    device = device_class(str(context.get("device_type") or server.get("device_type") or ""))
    stream_type = str(context.get("stream_type") or "vod")
    return Group(country if len(country) == 2 else "", int(asn) if asn is not None else None, device, stream_type)


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None


_HANDLERS: Final = {
    "playback_request": LiveScores._on_request,
    "playback_start": LiveScores._on_start,
    "pause": LiveScores._on_pause,
    "resume": LiveScores._on_resume,
    "seek_start": LiveScores._on_seek_start,
    "seek_end": LiveScores._on_seek_end,
    "stall_start": LiveScores._on_stall_start,
    "stall_end": LiveScores._on_stall_end,
    "rendition_change": LiveScores._on_rendition,
    "error": LiveScores._on_error,
    "ended": LiveScores._on_end,
    "view_end": LiveScores._on_end,
    "request_completed": LiveScores._on_request_completed,
    "pathway_change": LiveScores._on_pathway,
}
