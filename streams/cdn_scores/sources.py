"""No one source may make up more than a set share of a live CDN figure (docs/steering.md, "Sources").

Ingest stamps every beacon record with its sender's *source*, an opaque keyed hash of the client
address (``ingest.intake.IntakeConfig.source_of``). Anyone who can post beacons could otherwise
post views that stall on one CDN and move a group's traffic. Each number of a figure is a weighted
sum over the (view, CDN) windows of its group; this module finds the weights.

Every window of a source weighs the same, at most 1, chosen so that the source's weighted mass is
at most ``share`` of the figure's weighted total. Mass is what the number counts: 1 per view for
the views and the per-view means and medians, watched ms for the rebuffering ratio, played ms for
the bitrate. The cut-off level ``c`` a source may keep solves ``c = share × (U + Σ min(m_s, c))``
(U: the mass of windows with no source, never cut), the largest solution, so sources under the
level keep their full weight and a group needs at least ``1 / share`` sources (or unsourced
views) before any of its sourced views count. Windows without a source are the platform's own
traffic and records from before sources existed: they weigh 1, as every window did before.

Vectorised over every (window, back-off level) row of a tick at once: a tick sorts its rows a few
times, where the fold itself is unchanged (one more field per view).
"""

from __future__ import annotations

import numpy as np

# Relative slack in comparisons of float sums: a source at exactly its share is within it.
TOLERANCE = 1e-9
NO_SOURCE = -1


def capped_weights(key: np.ndarray, source: np.ndarray, mass: np.ndarray, share: float) -> np.ndarray:
    """Per row, its weight in [0, 1]: within each key, no source's weighted mass exceeds ``share``
    of the key's weighted total. ``source`` is a small integer per row, NO_SOURCE (never cut) when
    the row has none."""
    weights = np.ones(len(key))
    known = source != NO_SOURCE
    if share >= 1.0 or not known.any():
        return weights
    n_keys, n_sources = int(key.max()) + 1, int(source.max()) + 1
    pairs, inverse = np.unique(key[known] * n_sources + source[known], return_inverse=True)
    pair_key = pairs // n_sources
    pair_mass = np.bincount(inverse, weights=mass[known], minlength=len(pairs))
    total = np.bincount(key, weights=mass, minlength=n_keys)
    if np.all(pair_mass <= share * total[pair_key] * (1 + TOLERANCE)):
        return weights  # the common case: no source over its share, nothing to solve
    unsourced = total - np.bincount(pair_key, weights=pair_mass, minlength=n_keys)
    levels = water_levels(pair_key, pair_mass, unsourced, share)
    cut = np.minimum(1.0, levels[pair_key] / np.where(pair_mass > 0, pair_mass, 1.0))
    weights[known] = np.where(pair_mass > 0, cut, 1.0)[inverse]
    return weights


def water_levels(pair_key: np.ndarray, pair_mass: np.ndarray, unsourced: np.ndarray, share: float) -> np.ndarray:
    """Per key, the mass ``c`` each source may keep: the largest ``c = share × (U + Σ min(m, c))``.

    With the ``j`` largest sources of a key cut to ``c`` and the rest whole, ``c = share × rest_j
    / (1 − share × j)``, where ``rest_j`` is the mass of the others (unsourced included). The
    answer is that of the smallest ``j`` whose next source fits under its ``c``; when none does,
    every source is cut to what the unsourced mass alone allows (0 without any).
    """
    order = np.lexsort((-pair_mass, pair_key))
    keys, masses = pair_key[order], pair_mass[order]
    n_keys = len(unsourced)
    counts = np.bincount(keys, minlength=n_keys)
    starts = np.cumsum(counts) - counts
    cut_before = np.arange(len(keys)) - starts[keys]  # j: the larger sources of the same key
    before = np.cumsum(masses) - masses
    rest = (np.bincount(keys, weights=masses, minlength=n_keys) + unsourced)[keys] - (before - before[starts[keys]])
    room = 1.0 - share * cut_before
    level = np.where(room > 0, share * rest / np.where(room > 0, room, 1.0), -1.0)
    fits = np.flatnonzero((room > 0) & (masses <= level * (1 + TOLERANCE)))
    end_room = 1.0 - share * counts
    levels = np.where(end_room > 0, share * unsourced / np.where(end_room > 0, end_room, 1.0), 0.0)
    solved, first = np.unique(keys[fits], return_index=True)  # rows of a key are in order of j
    levels[solved] = level[fits[first]]
    return levels


def weighted_medians(key: np.ndarray, values: np.ndarray, weights: np.ndarray, n_keys: int) -> np.ndarray:
    """Per key, the weighted median of its rows' values (NaN without weight). Equal weights give
    ``np.median``: with exactly half the weight at or below a value, the midpoint with the next."""
    medians = np.full(n_keys, np.nan)
    used = weights > 0
    if not used.any():
        return medians
    order = np.lexsort((values[used], key[used]))
    keys, ordered, w = key[used][order], values[used][order], weights[used][order]
    counts = np.bincount(keys, minlength=n_keys)
    starts = np.cumsum(counts) - counts
    running = np.cumsum(w)
    within = running - (running - w)[starts[keys]]  # weight at or below each row, in its key
    half = np.bincount(keys, weights=w, minlength=n_keys)[keys] / 2
    slack = TOLERANCE * 2 * half
    reached = np.flatnonzero(within >= half - slack)
    present, first = np.unique(keys[reached], return_index=True)
    at = reached[first]
    after = np.minimum(at + 1, len(keys) - 1)
    tie = (np.abs(within[at] - half[at]) <= slack[at]) & (after > at) & (keys[after] == keys[at])
    medians[present] = np.where(tie, (ordered[at] + ordered[after]) / 2, ordered[at])
    return medians


def capped_medians(
    key: np.ndarray, source: np.ndarray, values: np.ndarray, share: float, n_keys: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per key, the median of the rows' values that are not NaN, each source capped to ``share``
    of them, and the weight behind it (the median's sample size)."""
    has = ~np.isnan(values)
    k, v = key[has], values[has]
    weights = capped_weights(k, source[has], np.ones(len(k)), share)
    return weighted_medians(k, v, weights, n_keys), np.bincount(k, weights=weights, minlength=n_keys)
