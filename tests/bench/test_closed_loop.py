"""Pure parts of the closed-loop benchmark (the benchmark itself runs a live stack: `qoe bench`)."""

from __future__ import annotations

from bench.closed_loop import _median_or_never, group_params, majority_time


def test_majority_time_is_when_more_than_half_were_demoted() -> None:
    demoted = {"a": 3.0, "b": 9.0, "c": 5.0}
    assert majority_time(demoted, ["a", "b", "c", "d"]) == 9.0  # 3 of 4 needed
    assert majority_time(demoted, ["a", "b", "c"]) == 5.0  # 2 of 3
    assert majority_time({"a": 1.0}, ["a", "b", "c"]) is None


def test_median_ranks_never_last() -> None:
    assert _median_or_never([8.0, None, 17.0]) == 17.0
    assert _median_or_never([None, None, 4.0]) is None
    assert _median_or_never([]) is None


def test_group_keys_become_steering_query_parameters() -> None:
    assert group_params("NO/2119/mobile/live") == {
        "country": "NO",
        "asn": "2119",
        "device": "mobile",
        "stream_type": "live",
    }
    assert group_params("*/*/*/*") == {}
