"""Hypothesis strategies: random but well-formed player event sequences for one view."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_PLAIN = (
    *("playback_start", "pause", "resume", "seek_start", "seek_end", "stall_start", "stall_end", "ended"),
    *("heartbeat", "ad_break_start", "ad_break_end"),
)


def _fields(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    if kind == "rendition_change":
        width = draw(st.sampled_from([0, 640, 1280, 1920]))
        return {
            "bitrate_kbps": draw(st.sampled_from([400.0, 1200.0, 2500.0, 6000.0])),
            "width": width,
            "height": width * 9 // 16,
        }
    if kind == "player_resize":
        return {"width": draw(st.sampled_from([0, 640, 1920])), "height": draw(st.sampled_from([0, 360, 1080]))}
    if kind == "error":
        return {"code": "E", "fatal": draw(st.booleans()), "business": draw(st.booleans())}
    if kind == "view_end":
        return {"reason": "user_exit"}
    if kind == "pathway_change":
        return {"pathway": draw(st.sampled_from(["cdn-a", "cdn-b"]))}
    if kind == "heartbeat":
        return {"dropped_frames": draw(st.integers(0, 50)), "total_frames": draw(st.integers(0, 5000))}
    return {}


@st.composite
def view_events(draw: st.DrawFn, t0: int, max_events: int = 14) -> list[dict[str, Any]]:
    """A play intent, then random events at random gaps, sometimes ending with view_end."""
    kinds = st.sampled_from(
        [*_PLAIN, "rendition_change", "player_resize", "error", "pathway_change", "playback_start", "stall_start"]
    )
    ts = t0
    events: list[dict[str, Any]] = []
    if draw(st.integers(0, 4)):  # mostly; a view can also start without a reported intent
        events.append({"type": "playback_request", "ts": ts, "seq": 0, "playhead_ms": 0})
    for _ in range(draw(st.integers(0, max_events))):
        ts += draw(st.integers(0, 20_000))
        kind = draw(kinds)
        events.append({"type": kind, "ts": ts, "seq": len(events), "playhead_ms": 0, **_fields(draw, kind)})
    if draw(st.booleans()) or not events:
        ts += draw(st.integers(0, 20_000))
        events.append({"type": "view_end", "ts": ts, "seq": len(events), "playhead_ms": 0, "reason": "user_exit"})
    return events
