"""The player-facing API: a Reporter per process, a Tracker per player, a View per play attempt.

A player calls the View's methods as things happen; the View stamps each event with the clock,
the playhead and its per-view ``seq``, queues it, and flushes beacons by the rules of
REFERENCE §4: every ``flush_interval_ms``, and at once on view start, fatal error, ended and view
end. The Reporter is shared by every tracker of a process (thousands of them in the simulator):
it holds the sink and sweeps views whose flush deadline passed while the player was quiet.

Nothing here raises into the player: bad values are dropped and counted in ``Reporter.stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from qoe_sdk.beacon import SDK_NAME, SDK_VERSION, BatchConfig, BeaconJob, Event, view_header
from qoe_sdk.contract import CONTEXT, PROPERTY_KEY_RULE, InvalidValueError, bounds, choices, is_id, max_length
from qoe_sdk.identity import ViewerIdentity, new_id
from qoe_sdk.queue import EventQueue
from qoe_sdk.sink import BeaconSink

log = logging.getLogger(__name__)

Clock = Callable[[], int]

# Limits and closed lists read from the bundled beacon schema (qoe_sdk.contract): a value the
# server would refuse, and with it the whole beacon, is cut, clamped or dropped here instead.
_MAX_CODE = max_length("error", "code")
_MAX_MESSAGE = max_length("error", "message")
_MAX_CODEC = max_length("rendition_change", "codec")
_MAX_CDN = max_length("request_completed", "cdn")
_MAX_PATHWAY = max_length("pathway_change", "pathway")
_ABOVE_BITRATE_KBPS, _MAX_BITRATE_KBPS = bounds("rendition_change", "bitrate_kbps")  # the low bound is exclusive
_MIN_FRAMERATE, _MAX_FRAMERATE = bounds("rendition_change", "framerate")
_MIN_QUALITY, _MAX_QUALITY = bounds("rendition_change", "quality")
_MIN_COMPLETED_STATUS, _MAX_COMPLETED_STATUS = bounds("request_completed", "status")
_MIN_FAILED_STATUS, _MAX_FAILED_STATUS = bounds("request_failed", "status")
_VIEW_END_REASONS = choices("view_end", "reason")
_COMPLETED_KINDS = choices("request_completed", "kind")
_FAILED_KINDS = choices("request_failed", "kind")


def system_clock_ms() -> int:
    """Wall-clock milliseconds since the epoch (UTC)."""
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class ReporterStats:
    views_started: int = 0
    views_unsampled: int = 0
    events_recorded: int = 0
    events_dropped_queue: int = 0  # shed by the queue cap
    events_invalid: int = 0  # values the schema would refuse (e.g. a bitrate of 0)
    events_after_end: int = 0  # calls on a view that had already ended
    events_discarded_stopped: int = 0  # the server said 410
    beacons_built: int = 0
    context_fields_dropped: int = 0
    internal_errors: int = 0


class Reporter:
    """Shared by every tracker of a process: batching rules, the sink, and the flush sweep."""

    def __init__(
        self,
        sink: BeaconSink,
        *,
        clock: Clock = system_clock_ms,
        batch: BatchConfig | None = None,
        sdk: tuple[str, str] = (SDK_NAME, SDK_VERSION),
        sweep_interval_s: float = 1.0,
    ) -> None:
        self.sink = sink
        self.sweep_interval_s = sweep_interval_s
        self.clock = clock
        self.batch = batch or BatchConfig()
        self.sdk = sdk
        self.stats = ReporterStats()
        # Views holding unsent events, in the order they started waiting (a dict is an ordered set).
        self._waiting: dict[View, None] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def tracker(
        self,
        viewer: ViewerIdentity,
        *,
        context: dict[str, Any] | None = None,
        sample_rate: float = 1.0,
        id_factory: Callable[[], str] = new_id,
        playhead: Callable[[], int] | None = None,
        property_key: str | None = None,
    ) -> Tracker:
        """A tracker for one player. ``property_key``: the property's public key (``qoe_pk_`` and 24 hex
        digits), sent in every beacon; raises ValueError when it does not match the schema."""
        return Tracker(self, viewer, context or {}, sample_rate, id_factory, playhead, property_key)

    @property
    def waiting_views(self) -> int:
        return len(self._waiting)

    def sweep(self, now_ms: int | None = None) -> int:
        """Flush every view whose flush deadline has passed; returns the beacons handed over."""
        now = self.clock() if now_ms is None else now_ms
        return sum(view.flush(now) for view in list(self._waiting) if view.flush_deadline <= now)

    def flush_all(self) -> int:
        """Flush every view now (process exit, page unload)."""
        now = self.clock()
        return sum(view.flush(now) for view in list(self._waiting))

    async def sweep_forever(self, interval_s: float | None = None) -> None:
        """Sweep on the wall clock, so a quiet (paused) view's events still leave within ~10 s.

        ``async with Reporter(...)`` runs this as a task; the simulator calls ``sweep`` itself.
        """
        while True:
            await asyncio.sleep(interval_s or self.sweep_interval_s)
            try:
                self.sweep()
            except Exception:
                log.exception("beacon sweep failed")
                self.stats.internal_errors += 1

    async def __aenter__(self) -> Reporter:
        self._sweeper = asyncio.create_task(self.sweep_forever(), name="beacon-sweeper")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        self.flush_all()

    def _wait(self, view: View) -> None:
        self._waiting[view] = None

    def _done_waiting(self, view: View) -> None:
        self._waiting.pop(view, None)

    def validated_context(self, context: dict[str, Any]) -> dict[str, Any]:
        """The context as the schema accepts it; fields it refuses are dropped and counted."""
        fields, refused = CONTEXT.clean(context)
        if refused:
            first = next(iter(refused))
            log.warning("dropping invalid context fields %s: %s: %s", sorted(refused), first, refused[first])
            self.stats.context_fields_dropped += len(refused)
        return fields


class Tracker:
    """One player instance: the viewer, the player-level context and the current view."""

    def __init__(
        self,
        reporter: Reporter,
        viewer: ViewerIdentity,
        context: dict[str, Any],
        sample_rate: float,
        id_factory: Callable[[], str],
        playhead: Callable[[], int] | None,
        property_key: str | None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in [0, 1], got {sample_rate}")
        self.property_key = _checked_property_key(property_key)
        self.reporter = reporter
        self.viewer = viewer
        self.sampled = viewer.sampled(sample_rate)
        self.context = dict(context)
        self._id_factory = id_factory
        self._playhead = playhead
        self.view: View | None = None

    def start_view(
        self, *, autoplay: bool = False, playhead_ms: int = 0, view_id: str | None = None, **context: Any
    ) -> View:
        """Play intent: a new view (ending the current one as a content change) and its first beacon.

        ``view_id`` is minted per play attempt unless given; ``context`` adds or overrides
        context fields for this view (title_id, title, cdn, stream_type...).
        """
        if self.view is not None and not self.view.is_ended:
            self.view.end("content_change")
        reporter = self.reporter
        if view_id is None or not is_id(view_id):
            view_id = self._id_factory()
        if not self.sampled:
            reporter.stats.views_unsampled += 1
            self.view = View(reporter, view_id, {}, recording=False, playhead=self._playhead)
            return self.view
        merged = reporter.validated_context({**self.context, **context})
        header = view_header(view_id, self.viewer.viewer_id, merged, reporter.sdk, self.property_key)
        self.view = View(reporter, view_id, header, recording=True, playhead=self._playhead)
        reporter.stats.views_started += 1
        self.view._emit({"type": "playback_request", "autoplay": autoplay}, playhead_ms, flush_now=True)
        return self.view


def _checked_property_key(key: str | None) -> str | None:
    # Raised here, at construction: with a key the server refuses, every beacon would be lost.
    try:
        checked: str | None = PROPERTY_KEY_RULE(key)
    except InvalidValueError as exc:
        raise ValueError(f"property_key: {exc}") from None
    return checked


class View:
    """One play attempt. Every method is cheap, never blocks and never raises."""

    __slots__ = (
        "_batch_seq",
        "_ended",
        "_header",
        "_last_playhead",
        "_playhead",
        "_queue",
        "_recording",
        "_reporter",
        "_seq",
        "_waiting",
        "flush_deadline",
        "view_id",
    )

    def __init__(
        self,
        reporter: Reporter,
        view_id: str,
        header: dict[str, Any],
        *,
        recording: bool,
        playhead: Callable[[], int] | None,
    ) -> None:
        self._reporter = reporter
        self.view_id = view_id
        self._header = header
        self._recording = recording
        self._playhead = playhead
        self._queue = EventQueue(reporter.batch.max_queued_events)
        self._seq = 0
        self._batch_seq = 0
        self._last_playhead = 0
        self._ended = False
        self._waiting = False
        self.flush_deadline = 0

    @property
    def is_ended(self) -> bool:
        return self._ended

    @property
    def pending_events(self) -> int:
        return len(self._queue)

    # --- lifecycle ------------------------------------------------------------------------
    def first_frame(self, *, playhead_ms: int | None = None) -> None:
        """The first frame is shown and the playhead advances: the view started (VST ends here)."""
        self._emit({"type": "playback_start"}, playhead_ms)

    def pause(self, *, playhead_ms: int | None = None) -> None:
        self._emit({"type": "pause"}, playhead_ms)

    def resume(self, *, playhead_ms: int | None = None) -> None:
        self._emit({"type": "resume"}, playhead_ms)

    def seek_start(self, target_ms: int | None = None, *, playhead_ms: int | None = None) -> None:
        event: Event = {"type": "seek_start"}
        if target_ms is not None:
            event["target_ms"] = max(0, int(target_ms))
        self._emit(event, playhead_ms)

    def seek_end(self, *, playhead_ms: int | None = None) -> None:
        self._emit({"type": "seek_end"}, playhead_ms)

    def stall_start(self, buffer_ms: int | None = None, *, playhead_ms: int | None = None) -> None:
        event: Event = {"type": "stall_start"}
        if buffer_ms is not None:
            event["buffer_ms"] = max(0, int(buffer_ms))
        self._emit(event, playhead_ms)

    def stall_end(self, *, playhead_ms: int | None = None) -> None:
        self._emit({"type": "stall_end"}, playhead_ms)

    def ended(self, *, playhead_ms: int | None = None) -> None:
        """The content played to its end (flushes at once)."""
        self._emit({"type": "ended"}, playhead_ms, flush_now=True)

    def end(self, reason: str = "user_exit", *, playhead_ms: int | None = None) -> None:
        """The view is over (flushes at once); later calls on this view are ignored."""
        if reason not in _VIEW_END_REASONS:
            self._reporter.stats.events_invalid += 1
            reason = "user_exit"
        self._emit({"type": "view_end", "reason": reason}, playhead_ms, flush_now=True)
        self._ended = True

    def ad_break_start(self, *, playhead_ms: int | None = None) -> None:
        self._emit({"type": "ad_break_start"}, playhead_ms)

    def ad_break_end(self, *, playhead_ms: int | None = None) -> None:
        self._emit({"type": "ad_break_end"}, playhead_ms)

    # --- quality --------------------------------------------------------------------------
    def rendition_change(
        self,
        bitrate_kbps: float,
        *,
        width: int | None = None,
        height: int | None = None,
        framerate: float | None = None,
        codec: str | None = None,
        quality: float | None = None,
        playhead_ms: int | None = None,
    ) -> None:
        if not _ABOVE_BITRATE_KBPS < bitrate_kbps <= _MAX_BITRATE_KBPS:
            self._reporter.stats.events_invalid += 1
            return
        event: Event = {"type": "rendition_change", "bitrate_kbps": float(bitrate_kbps)}
        if width is not None and height is not None:
            event["width"] = max(0, int(width))
            event["height"] = max(0, int(height))
        if framerate is not None and _MIN_FRAMERATE <= framerate <= _MAX_FRAMERATE:
            event["framerate"] = float(framerate)
        if codec:
            event["codec"] = codec[:_MAX_CODEC]
        if quality is not None and _MIN_QUALITY <= quality <= _MAX_QUALITY:
            event["quality"] = float(quality)
        self._emit(event, playhead_ms)

    def resize(self, width: int, height: int, *, playhead_ms: int | None = None) -> None:
        self._emit({"type": "player_resize", "width": max(0, int(width)), "height": max(0, int(height))}, playhead_ms)

    def heartbeat(
        self,
        *,
        dropped_frames: int | None = None,
        total_frames: int | None = None,
        buffer_ms: int | None = None,
        playhead_ms: int | None = None,
    ) -> None:
        event: Event = {"type": "heartbeat"}
        if dropped_frames is not None:
            event["dropped_frames"] = max(0, int(dropped_frames))
        if total_frames is not None:
            event["total_frames"] = max(0, int(total_frames))
        if buffer_ms is not None:
            event["buffer_ms"] = max(0, int(buffer_ms))
        self._emit(event, playhead_ms)

    def error(
        self,
        code: str,
        message: str = "",
        *,
        fatal: bool,
        business: bool = False,
        playhead_ms: int | None = None,
    ) -> None:
        """A player error; fatal ones flush at once. ``business``: geo-block, entitlement, not a failure."""
        event: Event = {
            "type": "error",
            "code": str(code)[:_MAX_CODE],
            "message": str(message)[:_MAX_MESSAGE],
            "fatal": bool(fatal),
            "business": bool(business),
        }
        self._emit(event, playhead_ms, flush_now=fatal)

    # --- network ----------------------------------------------------------------------------
    def request_completed(
        self,
        bytes_: int,
        duration_ms: float,
        *,
        ttfb_ms: float | None = None,
        status: int = 200,
        cdn: str | None = None,
        kind: str = "segment",
        playhead_ms: int | None = None,
    ) -> None:
        if not _MIN_COMPLETED_STATUS <= status <= _MAX_COMPLETED_STATUS or kind not in _COMPLETED_KINDS:
            self._reporter.stats.events_invalid += 1
            return
        event: Event = {
            "type": "request_completed",
            "kind": kind,
            "bytes": max(0, int(bytes_)),
            "duration_ms": max(0, round(duration_ms)),
            "status": status,
        }
        if ttfb_ms is not None:
            event["ttfb_ms"] = max(0, round(ttfb_ms))
        if cdn:
            event["cdn"] = cdn[:_MAX_CDN]
        self._emit(event, playhead_ms)

    def request_failed(
        self,
        status: int = 0,
        *,
        cdn: str | None = None,
        kind: str = "segment",
        playhead_ms: int | None = None,
    ) -> None:
        if not _MIN_FAILED_STATUS <= status <= _MAX_FAILED_STATUS or kind not in _FAILED_KINDS:
            self._reporter.stats.events_invalid += 1
            return
        event: Event = {"type": "request_failed", "kind": kind, "status": status}
        if cdn:
            event["cdn"] = cdn[:_MAX_CDN]
        self._emit(event, playhead_ms)

    def pathway_change(self, pathway: str, *, playhead_ms: int | None = None) -> None:
        """Content steering moved the player to another CDN (pathway)."""
        self._emit({"type": "pathway_change", "pathway": str(pathway)[:_MAX_PATHWAY]}, playhead_ms)

    # --- batching -------------------------------------------------------------------------
    def flush(self, now_ms: int | None = None) -> int:
        """Hand every queued event to the sink, at most a beacon's cap each; returns the beacons."""
        reporter = self._reporter
        if not self._queue:
            self._stop_waiting()
            return 0
        sink = reporter.sink
        if sink.stopped:
            self._discard(current=0)
            return 0
        now = reporter.clock() if now_ms is None else now_ms
        if not sink.accepting(now):
            return 0  # the server asked us to wait: the events stay queued (up to the cap)
        cap = reporter.batch.max_events_per_beacon
        beacons = 0
        while self._queue:
            job = BeaconJob(self._header, self._queue.take(cap), self._next_batch_seq(), self._next_batch_seq)
            try:
                sink.submit(job)
            except Exception:  # the player must never see a reporting failure
                log.exception("beacon sink failed")
                reporter.stats.internal_errors += 1
            beacons += 1
        reporter.stats.beacons_built += beacons
        self._stop_waiting()
        return beacons

    def _emit(self, event: Event, playhead_ms: int | None, *, flush_now: bool = False) -> None:
        if not self._recording:
            return
        reporter = self._reporter
        if self._ended:
            reporter.stats.events_after_end += 1
            return
        if reporter.sink.stopped:
            self._discard(current=1)
            return
        now = reporter.clock()
        event["ts"] = now
        event["seq"] = self._seq
        event["playhead_ms"] = self._position(playhead_ms)
        self._seq += 1
        queue = self._queue
        if len(queue) >= queue.cap:
            reporter.stats.events_dropped_queue += 1
        queue.append(event)
        reporter.stats.events_recorded += 1
        if not self._waiting:
            self._waiting = True
            self.flush_deadline = now + reporter.batch.flush_interval_ms
            reporter._wait(self)
        if flush_now or now >= self.flush_deadline:
            self.flush(now)

    def _position(self, playhead_ms: int | None) -> int:
        if playhead_ms is None:
            if self._playhead is None:
                return self._last_playhead
            try:
                playhead_ms = self._playhead()
            except Exception:
                log.exception("playhead callback failed")
                self._reporter.stats.internal_errors += 1
                return self._last_playhead
        position = max(0, int(playhead_ms))
        self._last_playhead = position
        return position

    def _next_batch_seq(self) -> int:
        value = self._batch_seq
        self._batch_seq += 1
        return value

    def _stop_waiting(self) -> None:
        if self._waiting:
            self._waiting = False
            self._reporter._done_waiting(self)

    def _discard(self, *, current: int) -> None:
        self._reporter.stats.events_discarded_stopped += self._queue.clear() + current
        self._recording = False
        self._stop_waiting()
