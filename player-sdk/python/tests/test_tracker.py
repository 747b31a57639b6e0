from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from qoe_sdk import BatchConfig, MemorySink, Reporter, ViewerIdentity
from sdk_fakes import EVENT_TYPES, FakeTime, events_of, validate_all

VIEWER = ViewerIdentity("viewer-1", 0.25)


class HoldingSink(MemorySink):
    """A memory sink that can refuse flushes (as while the server asked to retry later) or stop (410)."""

    def __init__(self, clock: FakeTime) -> None:
        super().__init__(clock.clock)
        self.holding = False
        self.is_stopped = False

    @property
    def stopped(self) -> bool:
        return self.is_stopped

    def accepting(self, now_ms: int) -> bool:
        return not self.holding


def setup(**context: Any) -> tuple[FakeTime, HoldingSink, Reporter]:
    time = FakeTime()
    sink = HoldingSink(time)
    return time, sink, Reporter(sink, clock=time.clock)


def test_view_start_flushes_a_valid_first_beacon_at_once() -> None:
    time, sink, reporter = setup()
    tracker = reporter.tracker(VIEWER, context={"player_name": "tv", "country": "NO", "asn": 2119})
    view = tracker.start_view(title_id="ml-1", title="Toy Story (1995)", cdn="cdn-a")
    [beacon] = validate_all(sink.payloads)
    assert beacon["view_id"] == view.view_id and beacon["viewer_id"] == "viewer-1"
    assert beacon["batch_seq"] == 0 and beacon["sent_at"] == time.ms
    assert [(e["type"], e["seq"], e["ts"]) for e in beacon["events"]] == [("playback_request", 0, time.ms)]
    context = beacon["context"]
    assert context["title_id"] == "ml-1" and context["country"] == "NO" and context["asn"] == 2119


KEY = "qoe_pk_0123456789abcdef01234567"


def test_the_property_key_travels_in_every_beacon_of_every_view() -> None:
    time, sink, reporter = setup()
    tracker = reporter.tracker(VIEWER, property_key=KEY)
    for _ in range(2):
        view = tracker.start_view()
        for i in range(400):  # more than one beacon holds
            time.advance(1)
            view.heartbeat(playhead_ms=i)
        view.end()
    beacons = validate_all(sink.payloads)
    assert len({b["view_id"] for b in beacons}) == 2 and len(beacons) >= 6
    assert {b["property_key"] for b in beacons} == {KEY}
    assert tracker.property_key == KEY


def test_without_a_property_key_beacons_carry_none() -> None:
    _, sink, reporter = setup()
    reporter.tracker(VIEWER).start_view().end()
    reporter.tracker(VIEWER, property_key=None).start_view().end()
    assert all("property_key" not in b for b in validate_all(sink.payloads))


@pytest.mark.parametrize(
    "key", ["", "qoe_pk_", KEY.upper(), KEY[:-1], KEY + "0", KEY + "\n", " " + KEY, "pk_0123456789abcdef01234567", 42]
)
def test_a_malformed_property_key_is_refused_when_the_tracker_is_made(key: Any) -> None:
    _, sink, reporter = setup()
    with pytest.raises(ValueError, match="property_key"):
        reporter.tracker(VIEWER, property_key=key)
    assert sink.payloads == []


def test_events_are_batched_until_the_flush_interval_then_sent_together() -> None:
    time, sink, reporter = setup()
    view = reporter.tracker(VIEWER).start_view()
    time.advance(1_000)
    view.first_frame(playhead_ms=0)  # opens a 10 s window
    time.advance(5_000)
    view.heartbeat(playhead_ms=5_000)
    time.advance(4_999)
    view.heartbeat(playhead_ms=9_999)
    assert len(sink.payloads) == 1
    time.advance(1)
    view.heartbeat(playhead_ms=10_000)  # the window is over: this event goes out with the rest
    assert len(sink.payloads) == 2
    second = validate_all(sink.payloads)[1]
    assert second["batch_seq"] == 1
    assert [e["seq"] for e in second["events"]] == [1, 2, 3, 4]
    assert [e["playhead_ms"] for e in second["events"]] == [0, 5_000, 9_999, 10_000]


def test_sweep_flushes_a_quiet_view_once_its_deadline_passed() -> None:
    time, sink, reporter = setup()
    view = reporter.tracker(VIEWER).start_view()
    view.pause(playhead_ms=3_000)
    time.advance(9_999)
    assert reporter.sweep() == 0
    time.advance(1)
    assert reporter.sweep() == 1
    assert events_of(sink.payloads)[-1]["type"] == "pause"
    assert reporter.waiting_views == 0


@pytest.mark.parametrize(
    ("call", "flushes"),
    [
        (lambda v: v.error("NET", fatal=True), True),
        (lambda v: v.error("NET", fatal=False), False),
        (lambda v: v.ended(), True),
        (lambda v: v.end("user_exit"), True),
        (lambda v: v.stall_start(0), False),
    ],
)
def test_fatal_error_ended_and_view_end_flush_at_once(call: Any, flushes: bool) -> None:
    time, sink, reporter = setup()
    view = reporter.tracker(VIEWER).start_view()
    time.advance(100)
    call(view)
    assert len(sink.payloads) == (2 if flushes else 1)


def test_a_large_queue_leaves_in_beacons_of_at_most_300_events_in_order() -> None:
    time, sink, reporter = setup()
    view = reporter.tracker(VIEWER).start_view()
    sink.holding = True
    for i in range(700):
        time.advance(1)
        view.request_completed(1000, 20, cdn="cdn-a", playhead_ms=i)
    sink.holding = False
    time.advance(10_000)
    assert reporter.sweep() == 3
    beacons = validate_all(sink.payloads)[1:]
    assert [len(b["events"]) for b in beacons] == [300, 300, 100]
    assert [b["batch_seq"] for b in beacons] == [1, 2, 3]
    assert [e["seq"] for b in beacons for e in b["events"]] == list(range(1, 701))


def test_queue_cap_sheds_heartbeats_first_then_requests_then_the_oldest() -> None:
    time, sink, reporter = setup()
    reporter = Reporter(sink, clock=time.clock, batch=BatchConfig(max_events_per_beacon=10, max_queued_events=10))
    view = reporter.tracker(VIEWER).start_view()
    sink.holding = True
    view.first_frame()
    for _ in range(4):
        view.heartbeat(dropped_frames=0)
    for _ in range(3):
        view.request_completed(100, 5)
    view.pause()
    view.resume()  # 10 queued: full
    view.stall_start(0)  # sheds the 4 heartbeats, one per new event ...
    view.stall_end()
    view.seek_start(0)
    view.seek_end()
    view.rendition_change(800)  # ... then the oldest request
    assert reporter.stats.events_dropped_queue == 5
    sink.holding = False
    view.end()
    kept = [e["type"] for e in events_of(sink.payloads)[1:]]
    assert "heartbeat" not in kept
    assert kept.count("request_completed") == 1
    assert kept[0] == "playback_start" and kept[-1] == "view_end"
    assert reporter.stats.events_dropped_queue == 6  # view_end itself made room by dropping a request


def test_flushes_wait_while_the_sink_holds_and_go_out_when_it_accepts() -> None:
    time, sink, reporter = setup()
    view = reporter.tracker(VIEWER).start_view()
    sink.holding = True
    view.error("GEO", fatal=True, business=True)
    view.end("error")
    assert len(sink.payloads) == 1 and view.pending_events == 2
    sink.holding = False
    time.advance(10_000)
    reporter.sweep()
    assert [e["type"] for e in sink.payloads[-1]["events"]] == ["error", "view_end"]


def test_sampling_is_all_in_or_all_out_per_persisted_viewer() -> None:
    _, sink, reporter = setup()
    inside = ViewerIdentity("in", 0.29)
    outside = ViewerIdentity.from_dict(ViewerIdentity("out", 0.31).to_dict())
    for _ in range(3):  # three sessions of the same viewers: the same decision every time
        reporter.tracker(inside, sample_rate=0.3).start_view().end()
        quiet = reporter.tracker(outside, sample_rate=0.3).start_view()
        quiet.first_frame()
        quiet.end()
    assert {p["viewer_id"] for p in sink.payloads} == {"in"}
    assert reporter.stats.views_unsampled == 3


def test_sampling_rate_holds_over_many_viewers() -> None:
    rng = random.Random(7)
    viewers = [ViewerIdentity.new(rng) for _ in range(20_000)]
    share = sum(v.sampled(0.3) for v in viewers) / len(viewers)
    assert share == pytest.approx(0.3, abs=0.015)
    assert len({v.viewer_id for v in viewers}) == len(viewers)


def test_bad_values_are_dropped_and_counted_never_raised() -> None:
    _, sink, reporter = setup()
    tracker = reporter.tracker(VIEWER, context={"country": "norway", "player_name": "tv"})
    view = tracker.start_view()
    view.rendition_change(0)
    view.request_completed(100, 10, status=42)
    view.request_failed(status=700)
    view.end("because")
    stats = reporter.stats
    assert stats.events_invalid == 4 and stats.context_fields_dropped == 1
    beacons = validate_all(sink.payloads)
    # The refused country is left out, which the server reads as its default, "".
    assert beacons[0]["context"]["player_name"] == "tv" and beacons[0]["context"].get("country", "") == ""
    assert "country" not in beacons[0]["context"]
    assert beacons[-1]["events"][-1]["reason"] == "user_exit"


def test_calls_after_view_end_are_ignored_and_a_new_view_ends_the_old_one() -> None:
    _, sink, reporter = setup()
    tracker = reporter.tracker(VIEWER)
    first = tracker.start_view()
    first.first_frame()
    second = tracker.start_view()
    first.heartbeat()
    assert reporter.stats.events_after_end == 1
    assert second.view_id != first.view_id
    ends = [e for e in events_of(sink.payloads) if e["type"] == "view_end"]
    assert ends == [{**ends[0], "reason": "content_change"}]


def test_playhead_comes_from_the_callback_and_its_failure_is_counted() -> None:
    _, sink, reporter = setup()
    position = {"ms": 1234}

    def playhead() -> int:
        if position["ms"] < 0:
            raise RuntimeError("player gone")
        return position["ms"]

    view = reporter.tracker(VIEWER, playhead=playhead).start_view(playhead_ms=0)
    view.first_frame()
    position["ms"] = -1
    view.end()
    assert [e["playhead_ms"] for e in events_of(sink.payloads)] == [0, 1234, 1234]
    assert reporter.stats.internal_errors == 1


def test_a_stopped_sink_makes_views_discard_everything() -> None:
    time, sink, reporter = setup()
    view = reporter.tracker(VIEWER).start_view()
    view.first_frame()
    sink.is_stopped = True
    view.heartbeat()
    time.advance(20_000)
    assert reporter.sweep() == 0
    assert len(sink.payloads) == 1
    assert reporter.stats.events_discarded_stopped == 2


def test_every_event_type_is_emitted_in_a_valid_payload() -> None:
    time, sink, reporter = setup()
    view = reporter.tracker(VIEWER, context={"stream_type": "live"}).start_view(autoplay=True)
    calls: list[Callable[[], None]] = [
        lambda: view.resize(1280, 720),
        lambda: view.rendition_change(2500.5, width=1280, height=720, framerate=29.97, codec="avc1", quality=93),
        lambda: view.request_completed(250_000, 180.4, ttfb_ms=40.2, cdn="cdn-b", kind="segment"),
        lambda: view.request_failed(503, cdn="cdn-b"),
        lambda: view.first_frame(playhead_ms=0),
        lambda: view.heartbeat(dropped_frames=3, total_frames=300, buffer_ms=12_000, playhead_ms=10_000),
        lambda: view.stall_start(0, playhead_ms=12_000),
        lambda: view.stall_end(playhead_ms=12_000),
        lambda: view.pause(playhead_ms=13_000),
        lambda: view.resume(playhead_ms=13_000),
        lambda: view.seek_start(60_000, playhead_ms=13_000),
        lambda: view.seek_end(playhead_ms=60_000),
        lambda: view.pathway_change("cdn-a"),
        lambda: view.ad_break_start(),
        lambda: view.ad_break_end(),
        lambda: view.error("MEDIA_ERR", "x" * 5000, fatal=False),
        lambda: view.ended(playhead_ms=90_000),
        lambda: view.end("ended"),
    ]
    for call in calls:
        time.advance(250)
        call()
    beacons = validate_all(sink.payloads)
    assert {e["type"] for b in beacons for e in b["events"]} == EVENT_TYPES
    timestamps = [e["ts"] for b in beacons for e in b["events"]]
    assert timestamps == sorted(timestamps)
