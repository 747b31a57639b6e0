"""The view-state machine: a view's events, in seq order, folded into totals and time slices.

Pure: no Faust, no I/O, no wall clock. ``ViewFold.apply`` takes one event at a time (the
sessionizer's in-order fast path); ``fold_events`` folds a whole view from scratch (the path for
late and out-of-order events, and for rebuilding a view from the warehouse). Both run the same
code, so they agree by construction.

Durations use the viewer's clock, which is steady within a view. Time slices are placed on the
server's clock (viewer clock + ``offset_ms``) so they line up with other views in per-minute
rollups. Phases and what each one counts (REFERENCE §1–2, docs/metrics.md):

- STARTING (play intent, no frame yet): nothing. Startup belongs to VST; stalls and seeks here
  are startup, not rebuffering.
- PLAYING: watch time, playing time, time-weighted bitrate and upscale.
- STALLED (a stall that began while playing): watch time and stall time.
- SEEKING (from seek_start until playback resumes): watch time and seek time. A stall that
  begins during a seek belongs to the seek, so the seek lasts until that stall ends.
- PAUSED: nothing but concurrency (the view is still in progress).
- ENDED, FAILED, CLOSED: nothing; the view is over (CLOSED on view_end).

No interval between two events counts for more than ``max_gap_ms``, the inactivity timeout: a
longer silence is the view going inactive (``_go_inactive``), so a player's timestamps cannot
make the fold slice years minute by minute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from schemas.view_facts import (
    BR,
    BR_W,
    DOWN,
    DROPPED,
    EVENTS,
    FRAMES,
    PLAYING,
    SAMPLE_MS,
    SAMPLES_PER_MINUTE,
    SEEK,
    STALL,
    STALLS,
    UP,
    UPSCALE,
    UPSCALE_W,
    WATCH,
    Key,
    zeros,
)
from streams.sessionizer.config import SessionizerConfig
from streams.sessionizer.events import Ev

MINUTE_MS = 60_000
DEFAULT_MAX_GAP_MS = SessionizerConfig().max_gap_ms


class Phase(IntEnum):
    IDLE = 0  # nothing but maybe heartbeats: no play intent yet
    STARTING = 1
    PLAYING = 2
    PAUSED = 3
    SEEKING = 4
    STALLED = 5
    ENDED = 6
    FAILED = 7
    CLOSED = 8


ACTIVE = frozenset({Phase.PLAYING, Phase.PAUSED, Phase.SEEKING, Phase.STALLED})
OVER = frozenset({Phase.ENDED, Phase.FAILED, Phase.CLOSED})

Rates = tuple[tuple[int, float], ...]
_STALLED_RATES: Rates = ((WATCH, 1.0), (STALL, 1.0))
_SEEKING_RATES: Rates = ((WATCH, 1.0), (SEEK, 1.0))


def upscale_pct(player_w: int, player_h: int, video_w: int, video_h: int) -> float | None:
    """Upscale on the fitting axis, in %: the video scaled to fit the player keeps its aspect ratio.

    (player − video) ÷ video on the axis that fits, 0 when the video is shrunk (REFERENCE §2:
    downscaling is wasted bandwidth, not a QoE loss). None when a size is unknown.
    """
    if player_w <= 0 or player_h <= 0 or video_w <= 0 or video_h <= 0:
        return None
    scale = min(player_w / video_w, player_h / video_h)
    return max(0.0, scale - 1.0) * 100.0


@dataclass(slots=True)
class ViewFold:
    offset_ms: int  # server clock − viewer clock
    cdn: str = ""
    max_gap_ms: int = DEFAULT_MAX_GAP_MS  # a longer silence between two events is inactivity
    phase: Phase = Phase.IDLE
    max_seq: int = -1
    last_ts: int | None = None  # the view's clock: newest time seen, in seq order
    mark_ts: int | None = None  # time is sliced up to here (see ``apply``)
    first_ts: int | None = None
    # anchors (viewer clock)
    request_ts: int | None = None
    start_ts: int | None = None
    start_seq: int | None = None
    content_end_ts: int | None = None
    end_ts: int | None = None  # view_end
    fail_ts: int | None = None
    attempt_cdn: str = ""
    play_cdn: str = ""
    autoplay: bool = False
    exit_reason: str | None = None
    fatal_code: str = ""
    fatal_business: bool = False
    fatal_before_start: bool = False
    warnings: int = 0
    pauses: int = 0
    seeks: int = 0
    # seek and stall bookkeeping
    resume_phase: Phase = Phase.PLAYING  # where a seek returns to (PLAYING or PAUSED)
    seek_open: bool = False  # between seek_start and seek_end
    excluded_wait: bool = False  # a stall began in startup or a seek and has not ended
    # what is on screen
    bitrate: float | None = None
    video_w: int = 0
    video_h: int = 0
    framerate: float | None = None
    quality: float | None = None
    top_bitrate: float | None = None
    player_w: int = 0
    player_h: int = 0
    last_dropped: int | None = None
    last_total: int | None = None
    playing_rates: Rates = ((WATCH, 1.0), (PLAYING, 1.0))
    # view totals beyond the time-sliced columns
    totals: list[float] = field(default_factory=zeros)
    fps_ms: float = 0.0
    fps_weight_ms: float = 0.0
    quality_ms: float = 0.0
    quality_weight_ms: float = 0.0
    quality_missing_ms: float = 0.0
    max_upscale_pct: float = 0.0
    # time slices, keyed by (server minute, CDN)
    buckets: dict[Key, list[float]] = field(default_factory=dict)
    samples: dict[Key, list[int]] = field(default_factory=dict)
    dirty: set[Key] = field(default_factory=set)
    _last_key: Key | None = None
    _last_bucket: list[float] = field(default_factory=list)
    _here: list[float] = field(default_factory=list)

    # --- folding ----------------------------------------------------------------------------
    def apply(self, ev: Ev) -> None:
        """Fold one event; the caller guarantees ``ev.seq`` is above every seq folded so far.

        Time is accounted lazily: events that cannot change the phase or what is on screen
        (heartbeats, requests, ad markers) only move the clock, and the interval since the last
        other event is sliced when the next one comes or at ``settle()``. Slicing one interval
        or its pieces gives the same figures, so this is only faster, not different.
        """
        t = ev.ts if self.last_ts is None or ev.ts > self.last_ts else self.last_ts
        if self.last_ts is None:
            self.first_ts = self.mark_ts = t
        elif t - self.last_ts > self.max_gap_ms:
            self._go_inactive(self.last_ts, t)
        self.last_ts = t
        self.max_seq = ev.seq
        self._here = self._bucket(self.minute_of(t))  # the cell every count of this event goes to
        self._count(EVENTS)
        handler = _HANDLERS.get(ev.type)
        if handler is None:
            return
        if handler is not _passive:
            self.settle()
        handler(self, ev, t)

    def _go_inactive(self, silent_from: int, t: int) -> None:
        """A silence longer than the inactivity timeout: the view went inactive after the timeout.

        Its phase counts up to the timeout, as for a view the timeout closed, and the rest of the
        silence counts for nothing (docs/metrics.md, "Gaps"). Sliced at once, so the fold's cost
        per event stays bounded whatever the gap.
        """
        self.settle()
        self._advance(silent_from, silent_from + self.max_gap_ms)
        self.mark_ts = t

    def settle(self) -> None:
        """Slices the time since the last phase-changing event up to the newest event."""
        if self.mark_ts is not None and self.last_ts is not None and self.last_ts > self.mark_ts:
            self._advance(self.mark_ts, self.last_ts)
            self.mark_ts = self.last_ts

    def server_ms(self, viewer_ts: int) -> int:
        return viewer_ts + self.offset_ms

    def minute_of(self, viewer_ts: int) -> int:
        return (viewer_ts + self.offset_ms) // MINUTE_MS

    @property
    def started(self) -> bool:
        return self.start_ts is not None

    # --- time slices ------------------------------------------------------------------------
    def _advance(self, start: int, end: int) -> None:
        phase = self.phase
        if end <= start or phase not in ACTIVE:
            return
        self._sample(start, end)
        if phase is Phase.PLAYING:
            self._slice(start, end, self.playing_rates)
            self._weigh_playing(end - start)
        elif phase is Phase.STALLED:
            self._slice(start, end, _STALLED_RATES)
        elif phase is Phase.SEEKING:
            self._slice(start, end, _SEEKING_RATES)

    def _bucket(self, minute: int) -> list[float]:
        key = (minute, self.cdn)
        if key == self._last_key and key in self.dirty:
            return self._last_bucket  # the hot path: most events land in the cell of the one before
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = zeros()
        self.dirty.add(key)
        self._last_key, self._last_bucket = key, bucket
        return bucket

    def _slice(self, start: int, end: int, rates: Rates) -> None:
        """Adds rate × ms for [start, end) to the view totals and to each minute it covers."""
        a, b = start + self.offset_ms, end + self.offset_ms
        totals = self.totals
        for index, rate in rates:
            totals[index] += rate * (b - a)
        while a < b:
            minute = a // MINUTE_MS
            edge = min(b, (minute + 1) * MINUTE_MS)
            bucket = self._bucket(minute)
            for index, rate in rates:
                bucket[index] += rate * (edge - a)
            a = edge

    def _sample(self, start: int, end: int) -> None:
        """Counts the view as active at every sampling instant (server clock, every SAMPLE_MS) in [start, end)."""
        tick = -(-(start + self.offset_ms) // SAMPLE_MS)
        stop = -(-(end + self.offset_ms) // SAMPLE_MS)
        while tick < stop:
            minute = tick // SAMPLES_PER_MINUTE
            edge = min(stop, (minute + 1) * SAMPLES_PER_MINUTE)
            key = (minute, self.cdn)
            row = self.samples.get(key)
            if row is None:
                row = self.samples[key] = [0] * SAMPLES_PER_MINUTE
            self.dirty.add(key)
            base = minute * SAMPLES_PER_MINUTE
            for i in range(tick - base, edge - base):
                row[i] += 1
            tick = edge

    def _count(self, index: int, n: float = 1.0) -> None:
        """Counts something that happened at the event being folded."""
        self._here[index] += n
        self.totals[index] += n

    def _weigh_playing(self, ms: int) -> None:
        if self.framerate:
            self.fps_ms += self.framerate * ms
            self.fps_weight_ms += ms
        if self.quality is None:
            self.quality_missing_ms += ms
        else:
            self.quality_ms += self.quality * ms
            self.quality_weight_ms += ms

    def _update_playing_rates(self) -> None:
        rates: list[tuple[int, float]] = [(WATCH, 1.0), (PLAYING, 1.0)]
        if self.bitrate is not None:
            rates += [(BR, self.bitrate), (BR_W, 1.0)]
        upscale = upscale_pct(self.player_w, self.player_h, self.video_w, self.video_h)
        if upscale is not None:
            rates += [(UPSCALE, upscale), (UPSCALE_W, 1.0)]
            self.max_upscale_pct = max(self.max_upscale_pct, upscale)
        self.playing_rates = tuple(rates)

    # --- events -----------------------------------------------------------------------------
    def _on_request(self, ev: Ev, t: int) -> None:
        if self.phase is Phase.IDLE and self.request_ts is None:
            self.request_ts = t
            self.attempt_cdn = self.cdn
            self.autoplay = bool(ev.extra)
            self.phase = Phase.STARTING

    def _on_start(self, ev: Ev, t: int) -> None:
        if self.phase in (Phase.FAILED, Phase.CLOSED):
            return
        if self.start_ts is None:
            self.start_ts = t
            self.start_seq = ev.seq
            self.play_cdn = self.cdn
            if self.request_ts is None:  # a first frame implies the intent we never heard about
                self.attempt_cdn = self.cdn
        # The playhead moves: any startup, seek or stall wait is over.
        self.phase = Phase.PLAYING
        self.seek_open = False
        self.excluded_wait = False

    def _on_pause(self, _ev: Ev, _t: int) -> None:
        if self.phase in (Phase.PLAYING, Phase.STALLED):
            self.phase = Phase.PAUSED
            self.pauses += 1
        elif self.phase is Phase.SEEKING:
            self.resume_phase = Phase.PAUSED

    def _on_resume(self, _ev: Ev, _t: int) -> None:
        if self.phase is Phase.PAUSED:
            self.phase = Phase.PLAYING
        elif self.phase is Phase.SEEKING:
            self.resume_phase = Phase.PLAYING

    def _on_seek_start(self, _ev: Ev, _t: int) -> None:
        if self.phase in (Phase.PLAYING, Phase.STALLED, Phase.PAUSED):
            self.resume_phase = Phase.PAUSED if self.phase is Phase.PAUSED else Phase.PLAYING
            self.phase = Phase.SEEKING
            self.seeks += 1
        if self.phase in (Phase.SEEKING, Phase.STARTING):
            self.seek_open = True

    def _on_seek_end(self, _ev: Ev, _t: int) -> None:
        self.seek_open = False
        if self.phase is Phase.SEEKING and not self.excluded_wait:
            self.phase = self.resume_phase

    def _on_stall_start(self, _ev: Ev, t: int) -> None:
        if self.phase is Phase.PLAYING:
            self.phase = Phase.STALLED
            self._count(STALLS)
        elif self.phase in (Phase.SEEKING, Phase.STARTING):
            self.excluded_wait = True  # startup buffering or seek buffering: never a stall

    def _on_stall_end(self, _ev: Ev, _t: int) -> None:
        if self.phase is Phase.STALLED:
            self.phase = Phase.PLAYING
        elif self.excluded_wait:
            self.excluded_wait = False
            if self.phase is Phase.SEEKING and not self.seek_open:
                self.phase = self.resume_phase

    def _on_rendition(self, ev: Ev, t: int) -> None:
        bitrate, width, height, framerate, quality, top = ev.extra
        if self.started and self.bitrate is not None and bitrate != self.bitrate:
            self._count(UP if bitrate > self.bitrate else DOWN)
        self.bitrate = bitrate
        self.video_w, self.video_h = width or 0, height or 0
        self.framerate = framerate
        self.quality = quality
        if top is not None:
            self.top_bitrate = max(top, self.top_bitrate or 0.0)
        self._update_playing_rates()

    def _on_resize(self, ev: Ev, _t: int) -> None:
        self.player_w, self.player_h = ev.extra
        self._update_playing_rates()

    def _on_error(self, ev: Ev, t: int) -> None:
        code, fatal, business = ev.extra
        if not fatal:
            self.warnings += 1
            return
        if self.phase in (Phase.FAILED, Phase.CLOSED):
            return
        self.fail_ts = t
        self.fatal_code = code
        self.fatal_business = business
        self.fatal_before_start = not self.started
        self.phase = Phase.FAILED

    def _on_ended(self, _ev: Ev, t: int) -> None:
        if self.phase not in (Phase.FAILED, Phase.CLOSED):
            self.content_end_ts = t
            self.phase = Phase.ENDED

    def _on_view_end(self, ev: Ev, t: int) -> None:
        if self.phase is not Phase.CLOSED:
            self.end_ts = t
            self.exit_reason = ev.extra
            self.phase = Phase.CLOSED

    def _on_heartbeat(self, ev: Ev, _t: int) -> None:  # passive: changes no phase
        dropped, total = ev.extra
        if dropped is None or total is None:
            return  # a ratio needs both counters from the same reading
        frames, lost = _since(self.last_total, total), _since(self.last_dropped, dropped)
        self._count(FRAMES, frames)
        self._count(DROPPED, min(lost, frames))  # a player cannot drop more frames than it decoded
        self.last_dropped, self.last_total = dropped, total

    def _on_pathway(self, ev: Ev, _t: int) -> None:
        if ev.extra:
            self.cdn = ev.extra


def _since(last: int | None, now: int) -> int:
    """Growth of a cumulative counter; one that went down was reset (a new media element)."""
    return now - last if last is not None and now >= last else now


def _passive(fold: ViewFold, ev: Ev, t: int) -> None:
    fold._on_heartbeat(ev, t)


_HANDLERS: dict[str, Callable[[ViewFold, Ev, int], None]] = {
    "playback_request": ViewFold._on_request,
    "playback_start": ViewFold._on_start,
    "pause": ViewFold._on_pause,
    "resume": ViewFold._on_resume,
    "seek_start": ViewFold._on_seek_start,
    "seek_end": ViewFold._on_seek_end,
    "stall_start": ViewFold._on_stall_start,
    "stall_end": ViewFold._on_stall_end,
    "rendition_change": ViewFold._on_rendition,
    "player_resize": ViewFold._on_resize,
    "error": ViewFold._on_error,
    "ended": ViewFold._on_ended,
    "view_end": ViewFold._on_view_end,
    "heartbeat": _passive,
    "pathway_change": ViewFold._on_pathway,
}


def fold_events(events: Iterable[Ev], offset_ms: int, cdn: str, max_gap_ms: int = DEFAULT_MAX_GAP_MS) -> ViewFold:
    """Fold a whole view from scratch: events in seq order, one per seq (duplicates dropped)."""
    fold = ViewFold(offset_ms=offset_ms, cdn=cdn, max_gap_ms=max_gap_ms)
    for ev in sorted(events, key=lambda e: e.seq):
        if ev.seq > fold.max_seq:
            fold.apply(ev)
    fold.settle()
    return fold
