"""Viewers with a taste of their own: each follows one real MovieLens user's viewing order.

Viewer ``i`` of a simulation stands for taste profile ``i mod P`` (with MovieLens, profile ``p``
is the ``p``-th user by ascending userId, so viewer 0 is userId 1 in ml-latest-small). The
profile is that user's highly rated movies (rating ≥ 4) in the order the user rated them. The
viewer's ``n``-th view plays the profile's ``n``-th movie, except that with probability
``explore`` it picks by popularity instead (people also watch what is trending), and once the
profile runs out every pick is by popularity. Live views take a view number too, so they skip
the movie of that position: the viewer samples its user's movies in timestamp order.

Picks depend only on (viewer, view number, the view's own random stream), never on what other
viewers or earlier runs did, so two runs with one seed watch the same titles.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from qoe_sim.audience import Catalog, CatalogError, Title, movielens_titles

HIGH_RATING = 4.0
EXPLORE = 0.1


class TasteCatalog(Catalog):
    """A catalogue plus one viewing order (title ids) per taste profile."""

    def __init__(
        self,
        titles: Sequence[tuple[str, str]],
        weights: Sequence[float] | None,
        profiles: Sequence[Sequence[str]],
        *,
        profile_names: Sequence[str] | None = None,
        explore: float = EXPLORE,
    ) -> None:
        super().__init__(titles, weights)
        if not profiles:
            raise CatalogError("need at least one taste profile")
        if not 0.0 <= explore <= 1.0:
            raise CatalogError("explore must be a probability")
        by_id = {title.title_id: title for title in self.titles}
        unknown = next((t for profile in profiles for t in profile if t not in by_id), None)
        if unknown is not None:
            raise CatalogError(f"taste profile names {unknown!r}, which is not in the catalogue")
        self.profiles: tuple[tuple[Title, ...], ...] = tuple(tuple(by_id[t] for t in p) for p in profiles)
        names = list(profile_names) if profile_names is not None else [f"profile-{i}" for i in range(len(profiles))]
        if len(names) != len(profiles):
            raise CatalogError("need one name per taste profile")
        self.profile_names = tuple(names)
        self.explore = explore

    def profile_of(self, viewer: int) -> int:
        """The taste profile viewer ``viewer`` (index from 0) follows."""
        return viewer % len(self.profiles)

    def pick_for(self, viewer: int, view_number: int, rng: random.Random) -> Title:
        profile = self.profiles[self.profile_of(viewer)]
        position = view_number - 1
        if 0 <= position < len(profile) and rng.random() >= self.explore:
            return profile[position]
        return self.pick(rng)


def movielens_tastes(directory: Path, *, min_rating: float = HIGH_RATING, explore: float = EXPLORE) -> TasteCatalog:
    """The MovieLens catalogue (popularity = number of ratings) with one profile per user:
    the movies the user rated ``min_rating`` or more, by rating time (then movieId)."""
    import pandas as pd

    titles, weights = movielens_titles(directory)
    try:
        ratings = pd.read_csv(directory / "ratings.csv", usecols=["userId", "movieId", "rating", "timestamp"])
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read MovieLens ratings from {directory}: {exc}") from exc
    liked = ratings[ratings["rating"] >= min_rating].sort_values(["userId", "timestamp", "movieId"], kind="stable")
    liked = liked.drop_duplicates(["userId", "movieId"])
    users = sorted(liked["userId"].unique().tolist())
    if not users:
        raise CatalogError(f"no MovieLens rating is ≥ {min_rating:g}: no taste to follow")
    by_user = liked.groupby("userId", sort=True)["movieId"].agg(list)
    profiles = [[f"ml-{movie}" for movie in by_user[user]] for user in users]
    return TasteCatalog(titles, weights, profiles, profile_names=[f"ml-user-{u}" for u in users], explore=explore)
