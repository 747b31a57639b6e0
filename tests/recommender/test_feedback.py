from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from recommender.feedback import FeedbackRules, assess, interactions, per_title
from tests.factories.recommender import VIEW_EPOCH, view_row, views_frame

MINUTE = 60_000.0


def weights(*rows: dict[str, object], durations: dict[str, float] | None = None) -> list[float]:
    return [round(float(w), 4) for w in assess(views_frame(list(rows)), durations)["weight"]]


def test_a_clean_view_weighs_choice_plus_engagement() -> None:
    # 0.3 for choosing the title + 0.7 × engagement; engagement = played / 20 min when the length is unknown
    assert weights(
        view_row("a", "t1", playing_ms=20 * MINUTE),
        view_row("a", "t2", playing_ms=5 * MINUTE),
        view_row("a", "t3", playing_ms=90 * MINUTE),
        view_row("a", "t4", playing_ms=30_000, exit_reason="ended"),
    ) == [1.0, round(0.3 + 0.7 * 0.25, 4), 1.0, 1.0]


def test_a_known_duration_turns_played_time_into_completion() -> None:
    frame = assess(views_frame([view_row("a", "film", playing_ms=30 * MINUTE)]), {"film": 120 * MINUTE})
    assert frame["completion"].iloc[0] == pytest.approx(0.25)
    assert frame["weight"].iloc[0] == pytest.approx(0.3 + 0.7 * 0.25)
    assert not frame["finished"].iloc[0]


@pytest.mark.parametrize(
    "impairment",
    [
        {"vpf": True, "exit_reason": "error"},
        {"vsf": True, "played": False, "exit_reason": "error"},
        {"vsf_business": True, "played": False},
        {"ebvs": True, "played": False},
        {"stall_ms": 30_000.0},  # 30 s of stalls in 3.5 min: a rebuffering ratio of 14 %
    ],
)
def test_poor_delivery_is_weighted_down_but_never_counts_against_the_title(impairment: dict[str, object]) -> None:
    clean = view_row("a", "t1", playing_ms=3 * MINUTE)
    impaired = view_row("b", "t1", playing_ms=3 * MINUTE, **impairment)  # type: ignore[arg-type]
    frame = assess(views_frame([clean, impaired]))
    assert frame["impaired"].tolist() == [False, True]
    assert frame["weight"].iloc[1] == pytest.approx(0.1 + 0.7 * 0.15)  # the 3 minutes played still count
    assert frame["weight"].iloc[1] < frame["weight"].iloc[0]
    assert frame["weight"].iloc[1] > 0  # a small positive: interest in the title, never a dislike


def test_rebuffering_below_the_threshold_is_clean() -> None:
    frame = assess(views_frame([view_row("a", "t1", playing_ms=10 * MINUTE, stall_ms=30_000.0)]))  # 4.8 %
    assert not frame["impaired"].iloc[0]


def test_sub_second_exits_and_views_without_intent_carry_nothing() -> None:
    assert weights(
        view_row("a", "t1", playing_ms=0.0, played=False, short_exit=True),
        view_row("a", "t2", playing_ms=0.0, played=False, attempt=False),
    ) == [0.0, 0.0]


def test_finished_needs_the_end_or_a_known_duration() -> None:
    frame = assess(
        views_frame(
            [
                view_row("a", "ended", playing_ms=100.0, exit_reason="ended"),
                view_row("a", "long", playing_ms=600 * MINUTE),  # unknown length: the cap is not the end
                view_row("a", "known", playing_ms=95 * MINUTE),
                view_row("a", "failed-at-the-end", playing_ms=95 * MINUTE, vpf=True, exit_reason="error"),
            ]
        ),
        {"known": 100 * MINUTE},
    )
    assert frame["finished"].tolist() == [True, False, True, False]


def test_repeat_views_add_up_to_the_cap() -> None:
    rows = [view_row("a", "loop", at=VIEW_EPOCH + timedelta(hours=h), exit_reason="ended") for h in range(5)]
    rows.append(view_row("a", "twice", playing_ms=5 * MINUTE))
    rows.append(view_row("a", "twice", at=VIEW_EPOCH + timedelta(hours=9), playing_ms=5 * MINUTE))
    summary = per_title(assess(views_frame(rows))).set_index("title_id")
    assert summary.loc["loop", "weight"] == pytest.approx(3.0)  # 5 × 1.0, capped at 3
    assert summary.loc["loop", "views"] == 5
    assert summary.loc["twice", "weight"] == pytest.approx(2 * (0.3 + 0.7 * 0.25))
    assert summary.loc["twice", "last_at"] == pd.Timestamp(VIEW_EPOCH + timedelta(hours=9))


def test_a_title_only_ever_impaired_is_marked_so() -> None:
    rows = [
        view_row("a", "bad", vpf=True, exit_reason="error", playing_ms=MINUTE),
        view_row("a", "mixed", vpf=True, exit_reason="error", playing_ms=MINUTE),
        view_row("a", "mixed", at=VIEW_EPOCH + timedelta(hours=1)),
    ]
    summary = per_title(assess(views_frame(rows))).set_index("title_id")
    assert summary["impaired"].to_dict() == {"bad": True, "mixed": False}


def test_interactions_are_the_viewer_by_title_matrix_of_capped_weights() -> None:
    rows = [
        view_row("a", "t1", exit_reason="ended"),
        view_row("a", "t2", playing_ms=5 * MINUTE),
        view_row("b", "t2", vpf=True, exit_reason="error", playing_ms=0.0),
        view_row("b", "t3", playing_ms=0.0, played=False, short_exit=True),  # weight 0: not a column
    ]
    data = interactions(assess(views_frame(rows)))
    assert data.user_ids.tolist() == ["a", "b"]
    assert data.item_ids.tolist() == ["t1", "t2"]
    np.testing.assert_allclose(data.matrix.toarray(), [[1.0, 0.475], [0.0, 0.1]], rtol=1e-6)


def test_no_weight_at_all_is_a_clear_error() -> None:
    rows = [view_row("a", "t1", playing_ms=0.0, played=False, short_exit=True)]
    with pytest.raises(ValueError, match="nothing to learn from"):
        interactions(assess(views_frame(rows)))


def test_rules_refuse_an_impaired_weight_above_the_clean_one() -> None:
    with pytest.raises(ValueError, match="impaired choice weight"):
        FeedbackRules(choice_weight=0.1, impaired_choice_weight=0.2)
