"""A folded view → its outcome, its record, its view-level facts and the deltas to write.

Pure functions over a ``ViewFold``. ``closed`` comes from the caller: a view closes on
``view_end``, or when the sessionizer's inactivity timeout (or the shorter grace after
``ended``/a fatal error) passes without events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.view_facts import (
    BR,
    BR_W,
    DOWN,
    DROPPED,
    EVENTS,
    FRAMES,
    INDEX,
    PLAYING,
    SEEK,
    STALL,
    STALLS,
    UP,
    UPSCALE,
    UPSCALE_W,
    WATCH,
    WIDTH,
    Key,
    zeros,
)
from streams.sessionizer.events import Dims
from streams.sessionizer.fold import Phase, ViewFold

SHORT_EXIT_MS = 1_000  # exits before start quicker than this are not EBVS (REFERENCE §2)
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class ViewMeta:
    """What the sessionizer knows of a view besides its events; fixed once the view is first seen."""

    view_id: str
    viewer_id: str
    dims: Dims
    clock_offset_ms: int
    first_seen_ms: int  # server receive time of the first record seen


@dataclass(frozen=True, slots=True)
class Outcome:
    attempt: bool
    played: bool
    closed: bool
    vst_ms: float | None
    ebvs: bool
    short_exit: bool
    vsf: bool
    vsf_business: bool
    vpf: bool
    vpf_business: bool
    exit_reason: str | None
    end_ts: int | None  # viewer clock


def outcome(fold: ViewFold, timed_out: bool) -> Outcome:
    closed = fold.phase is Phase.CLOSED or timed_out
    played = fold.start_ts is not None
    attempt = played or fold.request_ts is not None
    end_ts = fold.end_ts if fold.end_ts is not None else (fold.last_ts if closed else None)
    fatal = fold.fail_ts is not None
    before, after = fatal and fold.fatal_before_start, fatal and not fold.fatal_before_start
    exited_before_start = closed and attempt and not played and not fatal
    waited = (end_ts - fold.request_ts) if end_ts is not None and fold.request_ts is not None else 0
    vst = (
        float(max(0, fold.start_ts - fold.request_ts))
        if fold.start_ts is not None and fold.request_ts is not None
        else None
    )
    return Outcome(
        attempt=attempt,
        played=played,
        closed=closed,
        vst_ms=vst,
        ebvs=exited_before_start and waited >= SHORT_EXIT_MS,
        short_exit=exited_before_start and waited < SHORT_EXIT_MS,
        vsf=attempt and before and not fold.fatal_business,
        vsf_business=attempt and before and fold.fatal_business,
        vpf=after and not fold.fatal_business,
        vpf_business=after and fold.fatal_business,
        exit_reason=_exit_reason(fold, closed, timed_out),
        end_ts=end_ts,
    )


def _exit_reason(fold: ViewFold, closed: bool, timed_out: bool) -> str | None:
    if fold.exit_reason is not None:
        return fold.exit_reason
    if fold.phase is Phase.FAILED:
        return "error"
    if fold.phase is Phase.ENDED:
        return "ended"
    return "timeout" if closed and timed_out else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def qoe_input(fold: ViewFold, out: Outcome) -> dict[str, Any] | None:
    """The ``streams.scoring.ViewQoE`` fields of this view, or None when it is not scored.

    Follows docs/qoe-score.md: fatal flags only for technical errors; views that end in a
    business exception are left out; a view that never played must have exited or failed
    before start, so an open view that has not started yet has no score.
    """
    if not out.attempt or out.vsf_business or out.vpf_business:
        return None
    if not out.played and not out.closed and not out.vsf:
        return None  # still starting: neither an exit nor a failure yet
    t = fold.totals
    # Only when every played rendition carried one: a partial average would be biased (docs/qoe-score.md).
    quality = _ratio(fold.quality_ms, fold.quality_weight_ms) if fold.quality_missing_ms == 0 else None
    return {
        "played": out.played,
        "exited_before_start": not out.played and not out.vsf,
        "fatal_before_start": out.vsf,
        "fatal_after_start": out.vpf,
        "startup_ms": out.vst_ms,
        "watch_ms": t[WATCH],
        "stall_count": int(t[STALLS]),
        "stall_ms": t[STALL],
        "downswitches": int(t[DOWN]),
        "avg_bitrate_kbps": _ratio(t[BR], t[BR_W]),
        "top_bitrate_kbps": fold.top_bitrate,
        "avg_framerate": _ratio(fold.fps_ms, fold.fps_weight_ms),
        "upscale_pct": _ratio(t[UPSCALE], t[UPSCALE_W]),
        "avg_quality": quality,
    }


def view_facts(fold: ViewFold, out: Outcome, score: float | None) -> dict[Key, list[float]]:
    """The view-level columns, each in the minute (and on the CDN) of its anchor event."""
    facts: dict[Key, list[float]] = {}

    def add(key: Key, name: str, value: float = 1.0) -> None:
        facts.setdefault(key, zeros())[INDEX[name]] += value

    if out.attempt:
        intent = fold.request_ts if fold.request_ts is not None else fold.start_ts
        assert intent is not None
        at = (fold.minute_of(intent), fold.attempt_cdn)
        add(at, "attempts")
        for name in ("ebvs", "short_exits", "vsf", "vsf_business"):
            if getattr(out, "short_exit" if name == "short_exits" else name):
                add(at, name)
    if fold.start_ts is not None:
        play = (fold.minute_of(fold.start_ts), fold.play_cdn)
        add(play, "plays")
        if out.vst_ms is not None:
            add(play, "vst_count")
            add(play, "vst_sum_ms", out.vst_ms)
        if out.vpf:
            add(play, "vpf")
        if out.vpf_business:
            add(play, "vpf_business")
    if out.closed and out.end_ts is not None:
        end = (fold.minute_of(out.end_ts), fold.cdn)
        add(end, "ended_views")
        add(end, "ended_stall_count", fold.totals[STALLS])
        add(end, "ended_stall_ms", fold.totals[STALL])
        add(end, "ended_watch_ms", fold.totals[WATCH])
        if score is not None:
            add(end, "scored_views")
            add(end, "score_sum", score)
    return facts


def contribution(fold: ViewFold, facts: dict[Key, list[float]], key: Key) -> list[float] | None:
    """Everything this view puts in one (minute, CDN) cell: its time slices plus its facts."""
    sliced, fact = fold.buckets.get(key), facts.get(key)
    if fact is None:
        return sliced
    if sliced is None:
        return fact
    return [a + b for a, b in zip(sliced, fact, strict=True)]


def vector_delta(new: list[float] | None, old: list[float] | None) -> list[float] | None:
    """new − old, or None when nothing changed."""
    if new is None and old is None:
        return None
    new = new or [0.0] * WIDTH
    old = old or [0.0] * WIDTH
    delta = [a - b for a, b in zip(new, old, strict=True)]
    return delta if any(abs(d) > _EPSILON for d in delta) else None


def samples_delta(new: list[int] | None, old: list[int] | None) -> list[int] | None:
    if new == old:
        return None
    size = len(new or old or [])
    new, old = new or [0] * size, old or [0] * size
    delta = [a - b for a, b in zip(new, old, strict=True)]
    return delta if any(delta) else None


def server_ms(fold: ViewFold, viewer_ts: int | None) -> int | None:
    return None if viewer_ts is None else viewer_ts + fold.offset_ms


def view_record(fold: ViewFold, meta: ViewMeta, out: Outcome) -> dict[str, Any]:
    """The view as the ``views`` table and ``GET /v1/views/{id}`` show it (scores added by the caller)."""
    t = fold.totals
    scored = qoe_input(fold, out)
    d = meta.dims
    return {
        "view_id": meta.view_id,
        "viewer_id": meta.viewer_id,
        "first_seen_at": meta.first_seen_ms,
        "clock_offset_ms": meta.clock_offset_ms,
        "requested_at": server_ms(fold, fold.request_ts),
        "started_at": server_ms(fold, fold.start_ts),
        "ended_at": server_ms(fold, out.end_ts),
        "last_event_at": server_ms(fold, fold.last_ts),
        "closed": out.closed,
        "exit_reason": out.exit_reason or "",
        "cdn": fold.cdn,
        "first_cdn": d.cdn,
        "property": d.property,
        "country": d.country,
        "region": d.region,
        "asn": d.asn,
        "device_type": d.device_type,
        "os": d.os,
        "browser": d.browser,
        "player_name": d.player_name,
        "player_version": d.player_version,
        "title_id": d.title_id,
        "title": d.title,
        "stream_type": d.stream_type,
        "sdk_name": d.sdk_name,
        "sdk_version": d.sdk_version,
        "attempt": out.attempt,
        "played": out.played,
        "autoplay": fold.autoplay,
        "vst_ms": out.vst_ms,
        "watch_ms": t[WATCH],
        "playing_ms": t[PLAYING],
        "stall_count": int(t[STALLS]),
        "stall_ms": t[STALL],
        "seek_count": fold.seeks,
        "seek_ms": t[SEEK],
        "pause_count": fold.pauses,
        "rebuffer_ratio": t[STALL] / t[WATCH] if t[WATCH] > 0 else 0.0,
        "avg_bitrate_kbps": _ratio(t[BR], t[BR_W]),
        "top_bitrate_kbps": fold.top_bitrate,
        "avg_framerate": _ratio(fold.fps_ms, fold.fps_weight_ms),
        "upscale_pct": _ratio(t[UPSCALE], t[UPSCALE_W]),
        "max_upscale_pct": fold.max_upscale_pct if t[UPSCALE_W] > 0 else None,
        "avg_quality": scored["avg_quality"] if scored else None,
        "upswitches": int(t[UP]),
        "downswitches": int(t[DOWN]),
        "dropped_frames": int(t[DROPPED]),
        "total_frames": int(t[FRAMES]),
        "ebvs": out.ebvs,
        "short_exit": out.short_exit,
        "vsf": out.vsf,
        "vsf_business": out.vsf_business,
        "vpf": out.vpf,
        "vpf_business": out.vpf_business,
        "error_code": fold.fatal_code,
        "warnings": fold.warnings,
        "events": int(t[EVENTS]),
        "max_seq": fold.max_seq,
    }
