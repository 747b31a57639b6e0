"""A virtual viewer: a trace-driven ABR player plus the person in front of it.

The player downloads one segment at a time over its trace (through the CDN's conditions),
buffers up to ``max_buffer_ms``, starts once ``startup_buffer_ms`` is buffered, stalls when the
buffer runs dry and resumes at ``resume_buffer_ms``. Live streams can only fetch segments the
encoder has finished, so their buffer stays near the live holdback.

The person picks a title, may hit a business error (geo-block), gives up on a slow start or a
long stall, pauses and seeks now and then, watches for a log-normal while, and comes back after
a think time. Everything the player does is reported through the Python SDK, and everything it
experiences is measured in :class:`~qoe_sim.metrics.ViewMetrics`.

All timers are callbacks on the shared :class:`~qoe_sim.engine.Scheduler`. Each carries a token;
a timer whose token is stale (the view moved on: paused, sought, ended) does nothing.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from qoe_sdk import Tracker, View, new_id

from qoe_sim.abr import make_abr
from qoe_sim.audience import LIVE_CHANNELS, Catalog, ViewerProfile
from qoe_sim.chooser import CdnChooser, ChoiceReason, ChoiceRequest, SegmentFeedback, SteeringDecision, ViewerGroup
from qoe_sim.engine import Scheduler
from qoe_sim.manifest import Manifest, Rendition
from qoe_sim.metrics import ViewMetrics
from qoe_sim.network import Network
from qoe_sim.traces import Trace


@dataclass(frozen=True)
class PlayerConfig:
    startup_buffer_ms: float = 3_000  # first frame once this much is buffered (one BBB segment)
    resume_buffer_ms: float = 3_000  # a stall or a seek ends once this much is buffered again
    max_buffer_ms: float = 30_000  # hls.js maxBufferLength
    live_holdback_segments: int = 3  # HLS joins three segments behind the live edge
    heartbeat_ms: float = 10_000
    max_retries: int = 3  # failed requests on one pathway before falling back (or failing)
    retry_delay_ms: float = 1_000  # × attempt number
    connect_timeout_ms: float = 2_000  # how long a request to a CDN that is down takes to fail
    manifest_bytes: int = 2_500
    abr: str = "throughput"


@dataclass(frozen=True)
class BehaviorConfig:
    """The person: probabilities per view, rates per minute of playback, log-normal durations."""

    live_share: float = 0.2
    business_error_prob: float = 0.005  # geo-block / entitlement refusal before playback
    media_error_prob: float = 0.003  # a fatal decode error at some point of the view
    pauses_per_min: float = 0.05
    seeks_per_min: float = 0.03
    pause_median_ms: float = 20_000
    watch_median_ms: float | None = 240_000  # intended playback; None: to the end
    live_watch_median_ms: float | None = 300_000
    watch_sigma: float = 1.0
    startup_patience_median_ms: float | None = 8_000  # None: never gives up
    stall_patience_median_ms: float | None = 20_000
    patience_sigma: float = 0.6
    think_median_ms: float = 15_000
    views_per_viewer: int | None = None  # None: come back for another view forever


class State(Enum):
    IDLE = "idle"
    STARTING = "starting"
    PLAYING = "playing"
    STALLED = "stalled"
    PAUSED = "paused"
    SEEKING = "seeking"


@dataclass
class World:
    """What every viewer shares."""

    scheduler: Scheduler
    network: Network
    manifest: Manifest
    catalog: Catalog
    chooser: CdnChooser
    player: PlayerConfig
    behavior: BehaviorConfig
    record: Callable[[ViewMetrics], None]
    stopping: Callable[[], bool]


FULLSCREEN_SHARE = 0.4  # views on a windowed player (desktop) that the viewer switches to full screen


def lognormal(rng: random.Random, median_ms: float | None, sigma: float) -> float:
    return math.inf if median_ms is None else median_ms * math.exp(rng.gauss(0.0, sigma))


class Viewer:
    """One person with one player, watching views back to back."""

    def __init__(
        self,
        index: int,
        world: World,
        rng: random.Random,
        profile: ViewerProfile,
        trace: Trace,
        tracker: Tracker,
    ) -> None:
        self.index = index
        self.world = world
        self.profile = profile
        self.trace = trace
        self.trace_offset_ms = rng.random() * trace.period_ms
        # Each view draws from its own two streams, keyed by (viewer, view number): the person's
        # choices (title, patience, pauses...) and the network's luck (request failures). View k
        # of a viewer is then the same intent whatever policy serves it, so policies compared on
        # one seed see common random numbers rather than diverging workloads.
        self._stream_key = f"{rng.getrandbits(64):016x}"
        self.views_started = 0
        self.person = self.net = rng
        self.tracker = tracker
        manifest = world.manifest
        self._segment_ms = float(manifest.segment_ms)
        self._bitrates = manifest.bitrates_kbps
        self._renditions: tuple[Rendition, ...] = manifest.renditions()
        self._max_buffered_segments = max(1, int(world.player.max_buffer_ms // manifest.segment_ms))
        self.state = State.IDLE
        self.view: View | None = None
        self.metrics: ViewMetrics | None = None
        self.views_done = 0
        # Tokens: a timer only acts if its token is still the current one.
        self._epoch = 0  # per view: heartbeat, patience, user actions, steering reloads
        self._download_token = 0
        self._boundary_token = 0
        self._stall_token = 0
        self.abr = make_abr(world.player.abr, self._bitrates)
        self.cdn = ""
        self.pathways: list[str] = []
        self.req_kind, self.req_bits, self.req_start, self.req_cdn = "segment", 0, 0.0, ""
        self.req_rung: int | None = None
        self.req_ok, self.req_status, self.req_ttfb = True, 200, 0.0
        self._reset_view_state()

    # --- view lifecycle -------------------------------------------------------------------
    def start(self, at_ms: float) -> None:
        self.world.scheduler.at(at_ms, self._start_view)

    def _reset_view_state(self) -> None:
        self.live = False
        self.total_segments = 0
        self.live_join_ms = 0.0
        self.cur_seg = 0
        self.next_seg = 0
        self.rungs: deque[int] = deque()
        self.seg_left_ms = self._segment_ms
        self.seg_end_at = 0.0
        self.play_since = 0.0
        self.playing_rung: int | None = None
        self.requested_rung: int | None = None
        self.downloading = False  # a request is in flight, or waiting to be retried
        self.live_wait = False
        self.waiting_since = 0.0
        self.pause_started = 0.0
        self.failures = 0
        self.penalized: list[str] = []
        self.business_error = False
        self.watch_budget_ms = math.inf
        self.frames_played_ms = 0.0
        self.dropped_frames = 0
        self.total_frames = 0

    def _start_view(self, _: object = None) -> None:
        self.views_started += 1
        self.person = random.Random(f"{self._stream_key}:{self.views_started}:person")
        self.net = random.Random(f"{self._stream_key}:{self.views_started}:network")
        world, rng, now = self.world, self.person, self.world.scheduler.now
        self._reset_view_state()
        self._epoch += 1
        behavior = world.behavior
        self.live = rng.random() < behavior.live_share
        title_id, title = rng.choice(LIVE_CHANNELS) if self.live else self._title(rng)
        self.total_segments = 0 if self.live else world.manifest.segments
        self.live_join_ms = now
        group = self._group()
        view_id = new_id(rng)
        self.abr = make_abr(world.player.abr, self._bitrates)
        decision = self._ask(view_id, group, "start", None)
        self.pathways = self._usable(decision)
        self.cdn = self.pathways[0]
        self.view = self.tracker.start_view(
            view_id=view_id,
            title_id=title_id,
            title=title,
            stream_type="live" if self.live else "vod",
            cdn=self.cdn,
        )
        self.metrics = ViewMetrics(view_id, self.index, title_id, group, self.cdn, now, cdns_used=[self.cdn])
        self.state = State.STARTING
        self.view.resize(*self.profile.device.player_size, playhead_ms=0)
        self._draw_view_fate(now)
        self._schedule_reload(decision)
        world.scheduler.at(now + world.player.heartbeat_ms, self._heartbeat, self._epoch)
        self._fetch("manifest", world.player.manifest_bytes * 8, None)

    def _title(self, rng: random.Random) -> tuple[str, str]:
        title = self.world.catalog.pick_for(self.index, self.views_started, rng)
        return title.title_id, title.title

    def _draw_view_fate(self, now: float) -> None:
        behavior, rng, scheduler = self.world.behavior, self.person, self.world.scheduler
        self.business_error = rng.random() < behavior.business_error_prob
        median = behavior.live_watch_median_ms if self.live else behavior.watch_median_ms
        self.watch_budget_ms = lognormal(rng, median, behavior.watch_sigma)
        patience = lognormal(rng, behavior.startup_patience_median_ms, behavior.patience_sigma)
        if patience < math.inf:
            scheduler.at(now + patience, self._startup_patience, self._epoch)
        if rng.random() < behavior.media_error_prob:
            scheduler.at(now + rng.uniform(5_000, min(self.watch_budget_ms, 1_800_000)), self._media_error, self._epoch)

    def _finish(self, reason: str, view_end_reason: str) -> None:
        """End the view: close the books, report view_end, come back after a think time."""
        now = self.world.scheduler.now
        metrics, view = self.metrics, self.view
        assert metrics is not None and view is not None
        if self.state is State.PLAYING:
            self._account(now)
        elif self.state is State.STALLED:
            metrics.stall_ms += now - self.waiting_since
        elif self.state is State.SEEKING:
            metrics.seek_wait_ms += now - self.waiting_since
        elif self.state is State.PAUSED:
            metrics.paused_ms += now - self.pause_started
        metrics.ended_at_ms = now
        metrics.end_reason = reason
        view.end(view_end_reason, playhead_ms=self._playhead(now))
        self.state = State.IDLE
        self._epoch += 1
        self._download_token += 1
        self._boundary_token += 1
        self.views_done += 1
        self.world.chooser.view_ended(metrics)
        self.world.record(metrics)
        limit = self.world.behavior.views_per_viewer
        if not self.world.stopping() and (limit is None or self.views_done < limit):
            think = lognormal(self.person, self.world.behavior.think_median_ms, 0.8)
            self.world.scheduler.at(now + think, self._start_view)

    def shutdown(self) -> None:
        """The process is stopping: end the view in progress as an unload."""
        if self.state is not State.IDLE:
            self._finish("shutdown", "unload")

    # --- steering ---------------------------------------------------------------------------
    def _group(self) -> ViewerGroup:
        p = self.profile
        return ViewerGroup(
            country=p.country,
            region=p.region,
            zone=p.zone,
            asn=p.asn,
            device_type=p.device.device_type,
            connection_type=p.connection_type,
            stream_type="live" if self.live else "vod",
        )

    def _ask(self, view_id: str, group: ViewerGroup, reason: ChoiceReason, current: str | None) -> SteeringDecision:
        cdns = self.world.network.cdns
        request = ChoiceRequest(view_id, self.index, group, self.world.scheduler.now, reason, current, cdns)
        return self.world.chooser.choose(request)

    def _usable(self, decision: SteeringDecision) -> list[str]:
        known = self.world.network.cdns
        usable = [c for c in decision.priority if c in known and c not in self.penalized]
        return usable or [c for c in known if c not in self.penalized] or list(known)

    def _schedule_reload(self, decision: SteeringDecision) -> None:
        if decision.ttl_ms is not None and decision.ttl_ms > 0:
            self.world.scheduler.after(decision.ttl_ms, self._reload, self._epoch)

    def _reload(self, epoch: int) -> None:
        if epoch != self._epoch or self.metrics is None:
            return
        decision = self._ask(self.metrics.view_id, self.metrics.group, "reload", self.cdn)
        self.pathways = self._usable(decision)
        self._switch_to(self.pathways[0])
        self._schedule_reload(decision)

    def _switch_to(self, cdn: str) -> None:
        if cdn == self.cdn:
            return
        assert self.view is not None and self.metrics is not None
        self.cdn = cdn
        self.metrics.pathway_changes += 1
        if cdn not in self.metrics.cdns_used:
            self.metrics.cdns_used.append(cdn)
        self.view.pathway_change(cdn, playhead_ms=self._playhead(self.world.scheduler.now))

    # --- network ----------------------------------------------------------------------------
    def _fetch(self, kind: str, bits: int, rung: int | None) -> None:
        """Start a request; its outcome is decided now and delivered when it would complete."""
        world, now = self.world, self.world.scheduler.now
        p = self.profile
        conditions = world.network.conditions(self.cdn, p.zone, p.country, p.asn, now)
        self.downloading = True
        self._download_token += 1
        self.req_kind, self.req_bits, self.req_rung, self.req_start, self.req_cdn = kind, bits, rung, now, self.cdn
        if conditions.outage:
            self.req_ok, self.req_status, self.req_ttfb = False, 0, world.player.connect_timeout_ms
            duration = world.player.connect_timeout_ms
        else:
            trace_now = now + self.trace_offset_ms
            latency = self.trace.latency_ms(trace_now) + conditions.latency_ms
            failed = self.net.random() < conditions.failure_prob
            self.req_ok, self.req_status, self.req_ttfb = not failed, 503 if failed else 200, latency
            transfer = (
                0.0 if failed else self.trace.transfer_ms(trace_now + latency, bits / conditions.throughput_factor)
            )
            duration = latency + transfer
        world.scheduler.at(now + duration, self._fetch_done, self._download_token)

    def _fetch_done(self, token: int) -> None:
        if token != self._download_token:
            return
        self.downloading = False
        now = self.world.scheduler.now
        if self.req_ok:
            self._request_succeeded(now)
        else:
            self._request_failed(now)

    def _request_succeeded(self, now: float) -> None:
        assert self.view is not None and self.metrics is not None
        duration = now - self.req_start
        playhead = self._playhead(now)
        self.view.request_completed(
            self.req_bits // 8,
            duration,
            ttfb_ms=self.req_ttfb,
            cdn=self.req_cdn,
            kind=self.req_kind,
            playhead_ms=playhead,
        )
        self.metrics.requests += 1
        self.metrics.bits_downloaded += self.req_bits
        self.failures = 0
        if self.req_kind == "manifest":
            self._manifest_loaded()
            return
        rung = self.req_rung if self.req_rung is not None else 0
        self.abr.observe(self.req_bits, duration)
        self.rungs.append(rung)
        self.next_seg += 1
        self._feedback(now, ok=True, duration=duration)
        self._buffer_grew(now)

    def _request_failed(self, now: float) -> None:
        assert self.view is not None and self.metrics is not None
        playhead = self._playhead(now)
        self.view.request_failed(self.req_status, cdn=self.req_cdn, kind=self.req_kind, playhead_ms=playhead)
        self.metrics.requests += 1
        self.metrics.failed_requests += 1
        if self.req_kind == "segment":
            self._feedback(now, ok=False, duration=now - self.req_start)
        self.failures += 1
        if self.failures <= self.world.player.max_retries:
            code = "MANIFEST_LOAD_ERROR" if self.req_kind == "manifest" else "FRAG_LOAD_ERROR"
            self.view.error(code, f"HTTP {self.req_status} from {self.req_cdn}", fatal=False, playhead_ms=playhead)
            delay = self.world.player.retry_delay_ms * self.failures
            self.downloading = True  # the retry owns the download slot until it goes out
            self.world.scheduler.at(now + delay, self._retry, self._download_token)
            return
        self._fall_back(now)

    def _fall_back(self, now: float) -> None:
        """Retries on this pathway are exhausted: the next pathway, or a fatal network error."""
        assert self.metrics is not None and self.view is not None
        self.penalized.append(self.cdn)
        decision = self._ask(self.metrics.view_id, self.metrics.group, "failure", self.cdn)
        usable = [c for c in decision.priority if c in self.world.network.cdns and c not in self.penalized]
        if not usable:
            self.metrics.fatal_error = "NETWORK_ERROR"
            self.view.error("NETWORK_ERROR", f"every pathway failed ({self.cdn} last)", fatal=True)
            self._finish("error", "error")
            return
        self.pathways = usable
        self.failures = 0
        self._switch_to(usable[0])
        self._retry(self._download_token)

    def _retry(self, token: int) -> None:
        if token != self._download_token:
            return
        if self.req_kind == "manifest":
            self._fetch("manifest", self.req_bits, None)
        else:
            self._request_segment()

    def _feedback(self, now: float, *, ok: bool, duration: float) -> None:
        assert self.metrics is not None
        rung = self.req_rung if self.req_rung is not None else 0
        self.world.chooser.observe(
            SegmentFeedback(
                view_id=self.metrics.view_id,
                group=self.metrics.group,
                cdn=self.req_cdn,
                now_ms=now,
                ok=ok,
                status=self.req_status,
                bits=self.req_bits if ok else 0,
                duration_ms=duration,
                ttfb_ms=self.req_ttfb,
                bitrate_kbps=self._bitrates[rung],
                buffer_ms=self._buffer_ms(now),
                rebuffering=self.state is State.STALLED,
            )
        )

    # --- buffer and playback ----------------------------------------------------------------
    def _manifest_loaded(self) -> None:
        if self.business_error:
            assert self.view is not None and self.metrics is not None
            self.metrics.business_error = True
            self.metrics.fatal_error = "GEO_BLOCKED"
            self.view.error("GEO_BLOCKED", "not available in your country", fatal=True, business=True, playhead_ms=0)
            self._finish("error", "error")
            return
        self._maybe_request()

    def _maybe_request(self) -> None:
        if self.downloading or self.state is State.IDLE:
            return
        if not self.live and self.next_seg >= self.total_segments:
            return
        if self.next_seg - self.cur_seg >= self._max_buffered_segments:
            return  # full: the next segment boundary frees room and calls again
        if self.live:
            available_at = self._live_available_at(self.next_seg)
            if available_at > self.world.scheduler.now:
                if not self.live_wait:
                    self.live_wait = True
                    self.world.scheduler.at(available_at, self._live_segment_ready, self._epoch)
                return
        self._request_segment()

    def _live_segment_ready(self, epoch: int) -> None:
        if epoch == self._epoch:
            self.live_wait = False
            self._maybe_request()

    def _live_available_at(self, segment: int) -> float:
        holdback = self.world.player.live_holdback_segments
        return self.live_join_ms + (segment - holdback + 1) * self._segment_ms

    def _request_segment(self) -> None:
        now = self.world.scheduler.now
        rung = self.abr.choose(self._buffer_ms(now), self.requested_rung)
        self.requested_rung = rung
        self._fetch("segment", self.world.manifest.size_bits(self.next_seg, rung), rung)

    def _buffer_ms(self, now: float) -> float:
        buffered = self.next_seg - self.cur_seg
        if buffered <= 0:
            return 0.0
        current_left = self.seg_end_at - now if self.state is State.PLAYING else self.seg_left_ms
        return (buffered - 1) * self._segment_ms + current_left

    def _playhead(self, now: float) -> int:
        current_left = self.seg_end_at - now if self.state is State.PLAYING else self.seg_left_ms
        return int(self.cur_seg * self._segment_ms + self._segment_ms - current_left)

    def _buffer_grew(self, now: float) -> None:
        if self.state in (State.STARTING, State.STALLED, State.SEEKING) and self._can_play(now):
            self._leave_waiting(now)
        self._maybe_request()

    def _can_play(self, now: float) -> bool:
        if self.next_seg <= self.cur_seg:
            return False
        all_loaded = not self.live and self.next_seg >= self.total_segments
        threshold = (
            self.world.player.startup_buffer_ms if self.state is State.STARTING else self.world.player.resume_buffer_ms
        )
        return all_loaded or self._buffer_ms(now) >= threshold

    def _leave_waiting(self, now: float) -> None:
        assert self.view is not None and self.metrics is not None
        view, metrics, playhead = self.view, self.metrics, self._playhead(now)
        previous = self.state
        self.state = State.PLAYING
        if previous is State.STARTING:
            metrics.startup_ms = now - metrics.started_at_ms
            self._enter_segment(now)
            view.first_frame(playhead_ms=playhead)
            self._schedule_user_action(now)
            self._maybe_go_fullscreen(now)
            return
        if previous is State.STALLED:
            metrics.stall_ms += now - self.waiting_since
            view.stall_end(playhead_ms=playhead)
        else:
            metrics.seek_wait_ms += now - self.waiting_since
            view.seek_end(playhead_ms=playhead)
        self._enter_segment(now)

    def _enter_segment(self, now: float) -> None:
        """Playback is at (or resumes within) the head segment: report its rendition, time its end."""
        rung = self.rungs[0]
        if rung != self.playing_rung:
            self._report_rendition(now, rung)
        self.play_since = now
        self.seg_end_at = now + self.seg_left_ms
        self._boundary_token += 1
        self.world.scheduler.at(self.seg_end_at, self._segment_boundary, self._boundary_token)

    def _report_rendition(self, now: float, rung: int) -> None:
        assert self.view is not None and self.metrics is not None
        if self.playing_rung is not None:
            if rung > self.playing_rung:
                self.metrics.switches_up += 1
            else:
                self.metrics.switches_down += 1
        self.playing_rung = rung
        r = self._renditions[rung]
        self.view.rendition_change(
            r.bitrate_kbps, width=r.width, height=r.height, framerate=r.framerate, playhead_ms=self._playhead(now)
        )

    def _account(self, now: float) -> None:
        """Credit the time played since ``play_since`` at the rendition on screen."""
        assert self.metrics is not None and self.playing_rung is not None
        played = now - self.play_since
        self.metrics.played_ms += played
        self.metrics.bitrate_ms_sum += played * self._bitrates[self.playing_rung]
        self.play_since = now

    def _segment_boundary(self, token: int) -> None:
        if token != self._boundary_token or self.state is not State.PLAYING:
            return
        assert self.view is not None and self.metrics is not None
        now = self.world.scheduler.now
        self._account(now)
        self.rungs.popleft()
        self.cur_seg += 1
        self.seg_left_ms = self._segment_ms
        if not self.live and self.cur_seg >= self.total_segments:
            self.view.ended(playhead_ms=self._playhead(now))
            self._finish("ended", "ended")
        elif self.metrics.played_ms >= self.watch_budget_ms:
            self._finish("user_exit", "user_exit")
        elif self.cur_seg < self.next_seg:
            self._enter_segment(now)
            self._maybe_request()
        else:
            self._stall(now)

    def _stall(self, now: float) -> None:
        assert self.view is not None and self.metrics is not None
        self.state = State.STALLED
        self.waiting_since = now
        self.metrics.stall_count += 1
        self._stall_token += 1
        self.view.stall_start(0, playhead_ms=self._playhead(now))
        patience = lognormal(
            self.person, self.world.behavior.stall_patience_median_ms, self.world.behavior.patience_sigma
        )
        if patience < math.inf:
            self.world.scheduler.at(now + patience, self._stall_patience, self._stall_token)
        self._maybe_request()

    # --- the person -------------------------------------------------------------------------
    def _startup_patience(self, epoch: int) -> None:
        if epoch == self._epoch and self.state is State.STARTING:
            self._finish("abandon_startup", "user_exit")

    def _stall_patience(self, token: int) -> None:
        if token == self._stall_token and self.state is State.STALLED:
            self._finish("abandon_stall", "user_exit")

    def _media_error(self, epoch: int) -> None:
        # A decoder fails on frames it decodes: only once the view has started.
        if epoch != self._epoch or self.state in (State.IDLE, State.STARTING):
            return
        assert self.view is not None and self.metrics is not None
        self.metrics.fatal_error = "MEDIA_ERR_DECODE"
        self.view.error(
            "MEDIA_ERR_DECODE", "decoder error", fatal=True, playhead_ms=self._playhead(self.world.scheduler.now)
        )
        self._finish("error", "error")

    def _maybe_go_fullscreen(self, now: float) -> None:
        device = self.profile.device
        if device.fullscreen_size != device.player_size and self.person.random() < FULLSCREEN_SHARE:
            self.world.scheduler.at(now + self.person.uniform(1_000, 30_000), self._go_fullscreen, self._epoch)

    def _go_fullscreen(self, epoch: int) -> None:
        if epoch == self._epoch and self.view is not None:
            self.view.resize(*self.profile.device.fullscreen_size, playhead_ms=self._playhead(self.world.scheduler.now))

    def _schedule_user_action(self, now: float) -> None:
        behavior = self.world.behavior
        per_min = behavior.pauses_per_min + (0.0 if self.live else behavior.seeks_per_min)
        if per_min > 0:
            self.world.scheduler.at(now + self.person.expovariate(per_min / 60_000), self._user_action, self._epoch)

    def _user_action(self, epoch: int) -> None:
        if epoch != self._epoch:
            return
        now = self.world.scheduler.now
        if self.state is not State.PLAYING:
            self.world.scheduler.at(now + 5_000, self._user_action, epoch)  # try again once playing
            return
        behavior = self.world.behavior
        seek_share = 0.0 if self.live else behavior.seeks_per_min / (behavior.pauses_per_min + behavior.seeks_per_min)
        if self.person.random() < seek_share:
            self._seek(now)
        else:
            self._pause(now)

    def _pause(self, now: float) -> None:
        assert self.view is not None and self.metrics is not None
        self._account(now)
        self.seg_left_ms = self.seg_end_at - now
        self._boundary_token += 1
        self.state = State.PAUSED
        self.pause_started = now
        self.metrics.pause_count += 1
        self.view.pause(playhead_ms=self._playhead(now))
        duration = lognormal(self.person, self.world.behavior.pause_median_ms, 1.0)
        self.world.scheduler.at(now + duration, self._resume, self._epoch)

    def _resume(self, epoch: int) -> None:
        if epoch != self._epoch or self.state is not State.PAUSED:
            return
        assert self.view is not None and self.metrics is not None
        now = self.world.scheduler.now
        self.metrics.paused_ms += now - self.pause_started
        self.state = State.PLAYING
        self.view.resume(playhead_ms=self._playhead(now))
        self._enter_segment(now)
        self._schedule_user_action(now)

    def _seek(self, now: float) -> None:
        assert self.view is not None and self.metrics is not None
        self._account(now)
        target = self.person.randrange(max(1, self.total_segments - 1))
        self.view.seek_start(int(target * self._segment_ms), playhead_ms=self._playhead(now))
        self.metrics.seek_count += 1
        self._download_token += 1  # abandon the request in flight
        self._boundary_token += 1
        self.downloading = False
        self.rungs.clear()
        self.cur_seg = self.next_seg = target
        self.seg_left_ms = self._segment_ms
        self.state = State.SEEKING
        self.waiting_since = now
        self._maybe_request()
        self._schedule_user_action(now)

    def _heartbeat(self, epoch: int) -> None:
        if epoch != self._epoch or self.view is None:
            return
        now = self.world.scheduler.now
        if self.state is not State.PAUSED:
            self._count_frames(now)
            self.view.heartbeat(
                dropped_frames=self.dropped_frames,
                total_frames=self.total_frames,
                buffer_ms=int(self._buffer_ms(now)),
                playhead_ms=self._playhead(now),
            )
        self.world.scheduler.at(now + self.world.player.heartbeat_ms, self._heartbeat, epoch)

    def _count_frames(self, now: float) -> None:
        assert self.metrics is not None
        played = self.metrics.played_ms + (now - self.play_since if self.state is State.PLAYING else 0.0)
        if self.playing_rung is None or played <= self.frames_played_ms:
            return
        fps = self._renditions[self.playing_rung].framerate
        frames = (played - self.frames_played_ms) * fps / 1000
        self.frames_played_ms = played
        rate = self.profile.device.dropped_frame_rate * fps / 30
        self.total_frames += int(frames)
        self.dropped_frames += int(frames * rate + self.net.random())
