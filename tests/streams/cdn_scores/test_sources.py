"""The source cap's arithmetic: weights, water levels and weighted medians."""

from __future__ import annotations

import numpy as np
import pytest

from streams.cdn_scores.sources import NO_SOURCE, capped_medians, capped_weights, water_levels, weighted_medians

SHARE = 0.1


def _rows(*groups: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(key, source, rows) triples → key and source per row."""
    keys = [key for key, _, count in groups for _ in range(count)]
    sources = [source for _, source, count in groups for _ in range(count)]
    return np.array(keys, dtype=np.int64), np.array(sources, dtype=np.int64)


def _source_totals(key: np.ndarray, source: np.ndarray, weights: np.ndarray) -> dict[tuple[int, int], float]:
    totals: dict[tuple[int, int], float] = {}
    for k, s, w in zip(key.tolist(), source.tolist(), weights.tolist(), strict=True):
        totals[(k, s)] = totals.get((k, s), 0.0) + w
    return totals


def test_sources_within_their_share_keep_every_view() -> None:
    key, source = _rows(*[(0, s, 3) for s in range(12)])  # 12 sources of 3 views: 8.3 % each
    assert capped_weights(key, source, np.ones(len(key)), SHARE).tolist() == [1.0] * 36


def test_one_source_is_cut_to_its_share_of_the_figure() -> None:
    key, source = _rows(*[(0, s, 3) for s in range(12)], (0, 99, 40))  # 36 honest views, 40 from one source
    weights = capped_weights(key, source, np.ones(len(key)), SHARE)
    assert weights[:36].tolist() == [1.0] * 36
    assert weights[36:] == pytest.approx(np.full(40, 0.1))  # 4 of 40 count: 4 ÷ (36 + 4) = 10 %
    assert weights[36:].sum() / weights.sum() == pytest.approx(SHARE)


def test_a_source_alone_or_too_few_sources_count_for_nothing() -> None:
    alone_key, alone_source = _rows((0, 7, 40))
    assert capped_weights(alone_key, alone_source, np.ones(40), SHARE).sum() == 0.0
    nine_key, nine_source = _rows(*[(0, s, 5) for s in range(9)])  # each is 1/9 > 10 % of any total
    assert capped_weights(nine_key, nine_source, np.ones(45), SHARE).sum() == 0.0
    ten_key, ten_source = _rows(*[(0, s, 5) for s in range(10)])  # each exactly 10 %: within its share
    assert capped_weights(ten_key, ten_source, np.ones(50), SHARE).sum() == 50.0


def test_views_without_a_source_are_never_cut_and_count_in_the_total() -> None:
    key, source = _rows((0, NO_SOURCE, 36), (0, 3, 40))
    weights = capped_weights(key, source, np.ones(len(key)), SHARE)
    assert weights[:36].tolist() == [1.0] * 36
    assert weights[36:].sum() == pytest.approx(4.0)


def test_the_cap_applies_to_the_mass_each_number_counts() -> None:
    # Watched ms: a source with 10 % of the views but most of the watch time is cut on watch time.
    key, source = _rows(*[(0, s, 1) for s in range(18)], (0, 50, 2))
    watch = np.array([1000.0] * 18 + [30_000.0] * 2)
    weights = capped_weights(key, source, watch, SHARE)
    assert (weights * watch)[18:].sum() / (weights * watch).sum() == pytest.approx(SHARE)
    assert capped_weights(key, source, np.ones(20), SHARE).tolist() == [1.0] * 20  # 2 of 20 views: 10 %


def test_the_cap_is_one_key_at_a_time() -> None:
    key, source = _rows((0, 1, 40), *[(1, s, 3) for s in range(10, 22)], (1, 1, 40))
    weights = capped_weights(key, source, np.ones(len(key)), SHARE)
    assert weights[:40].sum() == 0.0  # key 0: only source 1
    assert weights[40:76].tolist() == [1.0] * 36 and weights[76:].sum() == pytest.approx(4.0)


def test_a_share_of_one_is_no_cap() -> None:
    key, source = _rows((0, 7, 40))
    assert capped_weights(key, source, np.ones(40), 1.0).tolist() == [1.0] * 40


def _reference_level(masses: list[float], unsourced: float, share: float) -> float:
    """The largest c with c = share × (U + Σ min(m, c)), by bisection on g(c) − c (positive below it)."""
    low, high = 0.0, unsourced + sum(masses)
    for _ in range(200):
        middle = (low + high) / 2
        if share * (unsourced + sum(min(m, middle) for m in masses)) >= middle:
            low = middle
        else:
            high = middle
    return low


@pytest.mark.parametrize("seed", range(20))
def test_water_levels_match_a_reference_on_random_keys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    share = float(rng.choice([0.05, 0.1, 0.25, 0.5]))
    n_keys = 6
    pair_key = np.sort(rng.integers(0, n_keys, 40))
    pair_mass = rng.choice([1.0, 2.0, 3.0, 40.0, 0.5], size=40) * rng.integers(1, 4, 40)
    unsourced = rng.choice([0.0, 0.0, 5.0, 30.0], size=n_keys)
    levels = water_levels(pair_key, pair_mass, unsourced, share)
    for k in range(n_keys):
        masses = pair_mass[pair_key == k].tolist()
        expected = _reference_level(masses, float(unsourced[k]), share)
        assert levels[k] == pytest.approx(expected, rel=1e-6, abs=1e-9), (k, masses, unsourced[k], share)


@pytest.mark.parametrize("seed", range(10))
def test_no_source_exceeds_its_share_on_random_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 5, 500)
    # A few heavy sources among many light ones, and some rows without a source.
    source = np.where(rng.random(500) < 0.1, NO_SOURCE, rng.choice(np.r_[np.zeros(30), np.arange(60)], 500))
    source = source.astype(np.int64)
    mass = rng.random(500) * 10
    weights = capped_weights(key, source, mass, SHARE)
    totals = np.bincount(key, weights=weights * mass, minlength=5)
    for (k, s), weighted in _source_totals(key, source, weights * mass).items():
        if s != NO_SOURCE:
            assert weighted <= SHARE * totals[k] * (1 + 1e-9) + 1e-9, (k, s)
    assert np.all(weights[source == NO_SOURCE] == 1.0)


@pytest.mark.parametrize("seed", range(10))
def test_equal_weights_give_numpys_median(seed: int) -> None:
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 4, 41)
    values = rng.normal(size=41).round(1)  # ties included
    medians = weighted_medians(key, values, np.ones(41), 5)
    for k in range(4):
        assert medians[k] == pytest.approx(float(np.median(values[key == k])))
    assert np.isnan(medians[4])


def test_weights_move_the_median() -> None:
    key = np.zeros(3, dtype=np.int64)
    assert weighted_medians(key, np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.1, 1.0]), 1)[0] == 3.0
    assert weighted_medians(key, np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 1.0]), 1)[0] == 2.0  # 1 and 3


def test_a_capped_median_skips_missing_values_and_tells_its_sample_size() -> None:
    key, source = _rows(*[(0, s, 1) for s in range(10)], (0, 99, 40))
    values = np.array([1.0] * 9 + [np.nan] + [0.1] * 40)
    medians, sizes = capped_medians(key, source, values, SHARE, 1)
    assert medians[0] == 1.0  # the 40 low values weigh 1 (10 % of 10): not the median
    assert sizes[0] == pytest.approx(10.0)  # 9 views + the source's 1
