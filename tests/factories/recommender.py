"""Small interaction matrices and MovieLens-format ratings for the recommender tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

# 4 users × 4 items, chosen so every item has one clear nearest neighbour (no ties):
# columns c0 = (1,1,1,0), c1 = (1,0,1,0), c2 = (0,1,1,1), c3 = (0,0,1,1); norms √3, √2, √3, √2.
TINY = np.array(
    [
        [1, 1, 0, 0],
        [1, 0, 1, 0],
        [1, 1, 1, 1],
        [0, 0, 1, 1],
    ],
    dtype=np.float32,
)
# Cosine similarities of TINY's columns, by hand: dot products over the products of norms.
TINY_COSINE = np.array(
    [
        [0.0, 2 / np.sqrt(6), 2 / 3, 1 / np.sqrt(6)],
        [2 / np.sqrt(6), 0.0, 1 / np.sqrt(6), 1 / 2],
        [2 / 3, 1 / np.sqrt(6), 0.0, 2 / np.sqrt(6)],
        [1 / np.sqrt(6), 1 / 2, 2 / np.sqrt(6), 0.0],
    ]
)


def tiny_matrix() -> Any:
    return sp.csr_array(TINY)


def clustered_matrix(n_users: int = 120, n_items: int = 40, clusters: int = 4, per_user: int = 8, seed: int = 0) -> Any:
    """Users who each interact only with items of their own cluster: co-occurrence carries all the signal."""
    rng = np.random.default_rng(seed)
    size = n_items // clusters
    rows, cols = [], []
    for user in range(n_users):
        cluster = user % clusters
        items = rng.choice(np.arange(cluster * size, (cluster + 1) * size), size=per_user, replace=False)
        rows += [user] * per_user
        cols += items.tolist()
    return sp.csr_array((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))


def ratings_frame(n_users: int = 60, n_items: int = 30, seed: int = 0) -> pd.DataFrame:
    """MovieLens-style ratings: users like (4–5 stars) items of their cluster and rate a few others low."""
    rng = np.random.default_rng(seed)
    liked = clustered_matrix(n_users, n_items, clusters=3, per_user=6, seed=seed).tocoo()
    pairs = set(zip(liked.row.tolist(), liked.col.tolist(), strict=True))
    rows = [(user + 1, item + 100, float(rng.choice([4.0, 4.5, 5.0]))) for user, item in sorted(pairs)]
    for user in range(n_users):
        for item in rng.choice(n_items, size=2, replace=False).tolist():
            if (user, item) not in pairs:
                rows.append((user + 1, item + 100, float(rng.choice([1.0, 2.5, 3.0]))))
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    frame["timestamp"] = 1_260_000_000 + np.arange(len(frame)) * 60
    return frame.sort_values(["userId", "movieId"], ignore_index=True)


def write_ratings(path: Path, frame: pd.DataFrame | None = None) -> Path:
    (frame if frame is not None else ratings_frame()).to_csv(path, index=False)
    return path


# --- views, as the sessionizer writes them (warehouse/migrations/0002_views.sql) ------------------
VIEW_EPOCH = datetime(2026, 9, 1, tzinfo=UTC)


def view_row(
    viewer_id: str,
    title_id: str,
    *,
    view_id: str | None = None,
    at: datetime | None = None,
    playing_ms: float = 600_000.0,
    exit_reason: str = "user_exit",
    country: str = "NO",
    region: str = "NO-03",
    device_type: str = "tv",
    stall_ms: float = 0.0,
    closed: bool = True,
    version: int = 1,
    **flags: Any,
) -> dict[str, Any]:
    """One row of ``views``: a view that played ``playing_ms`` and ended as ``exit_reason``.

    ``flags`` sets any other column (``vpf=True``, ``played=False``, ``short_exit=True``…).
    """
    started = at or VIEW_EPOCH
    watch_ms = playing_ms + stall_ms
    row: dict[str, Any] = {
        "view_id": view_id or f"{viewer_id}-{title_id}-{int(started.timestamp() * 1000)}",
        "version": version,
        "viewer_id": viewer_id,
        "first_seen_at": started,
        "last_received_at": started + timedelta(milliseconds=watch_ms),
        "requested_at": started,
        "started_at": started + timedelta(seconds=1),
        "closed": closed,
        "exit_reason": exit_reason,
        "country": country,
        "region": region,
        "device_type": device_type,
        "title_id": title_id,
        "title": title_id,
        "stream_type": "vod",
        "attempt": True,
        "played": True,
        "short_exit": False,
        "ebvs": False,
        "vsf": False,
        "vsf_business": False,
        "vpf": False,
        "vpf_business": False,
        "watch_ms": watch_ms,
        "playing_ms": playing_ms,
        "stall_ms": stall_ms,
        "stall_count": 1 if stall_ms else 0,
        "rebuffer_ratio": stall_ms / watch_ms if watch_ms else 0.0,
        "vst_ms": 1000.0,
    }
    row.update(flags)
    return row


def views_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of :func:`view_row` as the frame :mod:`warehouse.interactions` returns."""
    from warehouse.interactions import typed_views

    if not rows:
        return typed_views(pd.DataFrame({"at_ms": pd.Series([], dtype="int64")}))
    frame = pd.DataFrame(rows)
    requested = pd.to_datetime(frame["requested_at"], utc=True)
    frame["at_ms"] = (requested - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return typed_views(frame)


def insert_views(client: Any, rows: list[dict[str, Any]]) -> None:
    """Rows of :func:`view_row` into the warehouse's ``views`` table."""
    names = list(rows[0])
    client.insert("views", [[row[name] for name in names] for row in rows], column_names=names)


def clustered_views(
    viewers: int = 40,
    titles_per_cluster: int = 8,
    clusters: int = 3,
    per_viewer: int = 5,
    seed: int = 0,
    start: datetime = VIEW_EPOCH,
) -> list[dict[str, Any]]:
    """Viewers who each watch titles of their own cluster only (``ml-<cluster>0<n>`` ids), one an
    hour, fully: co-watching carries all the signal. Viewer ``v<i>`` is in cluster ``i % clusters``;
    half of each cluster's viewers watch in NO on tv, the others in SE on mobile."""
    rng = np.random.default_rng(seed)
    rows = []
    for viewer in range(viewers):
        cluster = viewer % clusters
        titles = rng.choice(titles_per_cluster, size=per_viewer, replace=False)
        country, region, device = ("SE", "SE-AB", "mobile") if (viewer // clusters) % 2 else ("NO", "NO-03", "tv")
        for n, title in enumerate(titles.tolist()):
            at = start + timedelta(hours=viewer * per_viewer + n)
            title_id = cluster_title(cluster, title)
            row = view_row(f"v{viewer}", title_id, at=at, exit_reason="ended", country=country, region=region)
            rows.append({**row, "device_type": device})
    return rows


def cluster_title(cluster: int, n: int) -> str:
    return f"ml-{cluster + 1}0{n}"


def catalog_frame(title_ids: list[str], genres: tuple[str, ...] = ("Drama",)) -> pd.DataFrame:
    """A catalogue of the given ids, named "Title <id>" (the columns of recommender.catalog)."""
    return pd.DataFrame(
        {
            "title_id": title_ids,
            "title": [f"Title {title_id}" for title_id in title_ids],
            "source_title": [f"Title {title_id} (2001)" for title_id in title_ids],
            "year": pd.array([2001] * len(title_ids), dtype="Int64"),
            "genres": [list(genres)] * len(title_ids),
            "duration_ms": pd.array([None] * len(title_ids), dtype="Int64"),
            "movielens_id": pd.array([None] * len(title_ids), dtype="Int64"),
            "imdb_id": [""] * len(title_ids),
            "tmdb_id": pd.array([None] * len(title_ids), dtype="Int64"),
            "source": ["test"] * len(title_ids),
        }
    )
