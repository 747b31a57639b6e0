from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from recommender.feedback import assess, interactions
from recommender.models import ModelConfig
from recommender.serving import (
    BECAUSE_YOU_WATCHED,
    CONTINUE,
    POPULAR,
    STRATEGY_COLD_START,
    STRATEGY_NO_MODEL,
    STRATEGY_PERSONAL,
    PopularTitles,
    Reason,
    Segment,
    ViewerHistory,
    demand_from_views,
    recommend,
    recommend_many,
)
from recommender.trained import TrainedRecommender, train
from tests.factories.recommender import VIEW_EPOCH, cluster_title, clustered_views, view_row, views_frame

SMOOTH_EASE = ModelConfig("ease", {"lam": 10.0})


def model_of(rows: list[dict[str, object]], config: ModelConfig = SMOOTH_EASE) -> TrainedRecommender:
    return train(interactions(assess(views_frame(rows))), config)


def history_of(viewer: str, rows: list[dict[str, object]]) -> ViewerHistory:
    return ViewerHistory.from_views(viewer, assess(views_frame(rows)))


def demand(*entries: tuple[str, str, str, str, int]) -> PopularTitles:
    frame = pd.DataFrame(entries, columns=["title_id", "country", "region", "device_type", "viewers"])
    return PopularTitles(frame)


NO_POPULAR = demand()


def test_a_viewer_of_one_cluster_gets_that_cluster_with_the_title_behind_each() -> None:
    model = model_of(clustered_views())
    watched = [view_row("new", cluster_title(1, 0), exit_reason="ended")]
    result = recommend(model, history_of("new", watched), NO_POPULAR, k=5)
    assert result.strategy == STRATEGY_PERSONAL
    assert len(result.picks) == 5
    assert {pick.title_id for pick in result.picks} <= {cluster_title(1, n) for n in range(1, 8)}
    assert all(pick.reason == Reason(BECAUSE_YOU_WATCHED, because=cluster_title(1, 0)) for pick in result.picks)
    assert [p.score for p in result.picks] == sorted((p.score for p in result.picks), reverse=True)


def test_the_reason_names_the_history_title_that_weighs_most() -> None:
    model = model_of(clustered_views())
    watched = [
        view_row("new", cluster_title(0, 0), exit_reason="ended"),
        view_row("new", cluster_title(2, 0), at=VIEW_EPOCH + timedelta(hours=1), exit_reason="ended"),
    ]
    result = recommend(model, history_of("new", watched), NO_POPULAR, k=14)
    for pick in result.picks:
        cluster = int(pick.title_id[3]) - 1
        assert pick.reason.because == cluster_title(cluster, 0)
    names = {cluster_title(0, 0): "Toy Story"}
    first = next(p for p in result.picks if p.reason.because == cluster_title(0, 0))
    assert first.reason.text(names) == "because you watched Toy Story"


def test_finished_titles_are_never_recommended_and_started_ones_wait_in_continue_watching() -> None:
    model = model_of(clustered_views())
    finished, started, failed = cluster_title(0, 0), cluster_title(0, 1), cluster_title(0, 2)
    watched = [
        view_row("new", finished, exit_reason="ended"),
        view_row("new", started, at=VIEW_EPOCH + timedelta(hours=1), playing_ms=6 * 60_000.0),
        view_row("new", failed, at=VIEW_EPOCH + timedelta(hours=2), playing_ms=1000.0, vpf=True, exit_reason="error"),
    ]
    popular = demand((finished, "NO", "NO-03", "tv", 50), (cluster_title(1, 0), "NO", "NO-03", "tv", 40))
    result = recommend(model, history_of("new", watched), popular, k=20)
    recommended = [pick.title_id for pick in result.picks]
    assert finished not in recommended and started not in recommended and failed not in recommended
    assert [pick.title_id for pick in result.continue_watching] == [failed, started]  # newest first
    names: dict[str, str] = {}
    assert [pick.reason.text(names) for pick in result.continue_watching] == [
        "playback did not go well last time: try again",
        "you started it",
    ]
    assert all(pick.reason.code == CONTINUE for pick in result.continue_watching)


def test_a_viewer_the_model_does_not_know_gets_what_is_popular_where_they_watch() -> None:
    model = model_of(clustered_views())
    watched = [view_row("new", "ml-999", country="NO", region="NO-03", device_type="tv")]
    popular = demand(
        ("ml-1", "NO", "NO-03", "tv", 5),
        ("ml-2", "NO", "NO-46", "tv", 9),  # NO, but another region
        ("ml-3", "SE", "SE-AB", "tv", 50),
        ("ml-4", "NO", "NO-03", "mobile", 3),
        ("ml-5", "NO", "NO-03", "tv", 1),  # one viewer is not "popular" in a segment
    )
    result = recommend(model, history_of("new", watched), popular, k=5)
    assert result.strategy == STRATEGY_COLD_START
    assert [pick.title_id for pick in result.picks] == ["ml-1", "ml-2", "ml-4", "ml-3", "ml-5"]
    texts = [pick.reason.text({}) for pick in result.picks]
    assert texts == [
        "popular in NO-03 on tv",
        "popular in NO on tv",
        "popular in NO",
        "popular on tv",
        "popular overall",
    ]
    assert result.context == Segment("NO", "NO-03", "tv")
    assert any("knows none" in note for note in result.notes)


def test_an_unknown_viewer_gets_overall_popularity() -> None:
    popular = demand(("ml-1", "NO", "NO-03", "tv", 2), ("ml-2", "SE", "SE-AB", "mobile", 5))
    result = recommend(model_of(clustered_views()), history_of("nobody", []), popular, k=10)
    assert result.strategy == STRATEGY_COLD_START
    assert [pick.title_id for pick in result.picks] == ["ml-2", "ml-1"]
    assert all(pick.reason == Reason(POPULAR, segment=Segment()) for pick in result.picks)
    assert result.context is None
    assert "no viewing history yet: showing popular titles" in result.notes
    assert "only 2 titles to recommend" in result.notes


def test_without_a_model_popularity_answers_and_says_so() -> None:
    watched = [view_row("v", "ml-1", exit_reason="ended")]
    popular = demand(("ml-1", "NO", "NO-03", "tv", 9), ("ml-2", "NO", "NO-03", "tv", 4))
    result = recommend(None, history_of("v", watched), popular, k=3)
    assert result.strategy == STRATEGY_NO_MODEL
    assert [pick.title_id for pick in result.picks] == ["ml-2"]  # ml-1 is finished
    assert result.notes[0].startswith("no recommendation model has been trained yet")


def test_personal_picks_are_topped_up_with_popular_titles() -> None:
    model = model_of(clustered_views(titles_per_cluster=4, per_viewer=3))
    watched = [view_row("new", cluster_title(0, 0), exit_reason="ended")]
    popular = demand(("ml-777", "NO", "NO-03", "tv", 3))
    result = recommend(model, history_of("new", watched), popular, k=4)
    personal = sum(pick.reason.code == BECAUSE_YOU_WATCHED for pick in result.picks)
    assert 1 <= personal < 4  # the model gives no positive score to every other title of the cluster
    assert [pick.reason.code for pick in result.picks] == [BECAUSE_YOU_WATCHED] * personal + [POPULAR]
    assert result.picks[-1].title_id == "ml-777"
    assert "1 of 4 filled with popular titles" in result.notes


@pytest.mark.parametrize("k", [0, -1, 101])
def test_k_outside_one_to_a_hundred_is_refused(k: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 100"):
        recommend(None, history_of("v", []), NO_POPULAR, k)


def test_many_at_once_equals_one_by_one() -> None:
    rows = clustered_views()
    model = model_of(rows)
    assessed = assess(views_frame(rows))
    histories = [ViewerHistory.from_views(f"v{i}", assessed) for i in range(0, 40, 7)]
    popular = PopularTitles.from_views(views_frame(rows))
    together = recommend_many(model, histories, popular, k=6)
    alone = [recommend(model, history, popular, k=6) for history in histories]
    assert together == alone


def test_demand_counts_distinct_viewers_who_asked_for_a_title() -> None:
    rows = [
        view_row("a", "t1"),
        view_row("a", "t1", at=VIEW_EPOCH + timedelta(hours=1)),  # the same viewer again
        view_row("b", "t1", vsf=True, played=False, playing_ms=0.0),  # failed, but asked for it
        view_row("c", "t1", played=False, short_exit=True, playing_ms=0.0),  # a misclick
        view_row("d", "t1", country="SE", region="SE-AB"),
    ]
    frame = demand_from_views(views_frame(rows))
    assert frame.to_dict(orient="records") == [
        {"title_id": "t1", "country": "NO", "region": "NO-03", "device_type": "tv", "viewers": 2},
        {"title_id": "t1", "country": "SE", "region": "SE-AB", "device_type": "tv", "viewers": 1},
    ]
