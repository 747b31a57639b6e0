"""Small interaction matrices and MovieLens-format ratings for the recommender tests."""

from __future__ import annotations

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
