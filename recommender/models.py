"""Recommendation models on weighted implicit feedback: popularity, item-kNN and EASE.

Every model learns from a CSR user × item matrix of non-negative float weights (a full view may
weigh 1, an abandoned or failed one less) and scores any user given only that user's row, so a
viewer who was not in the training data is served from their history alone.

Shared interface (see :class:`Recommender`): ``fit(matrix) -> self``, ``score(rows) -> dense``,
``recommend(history_row, k, exclude)``, plus ``params``/``state``/``restore`` for saving to disk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.linalg import lapack
from sklearn.preprocessing import normalize

from recommender.interactions import WEIGHT_DTYPE, check_interactions

FloatMatrix = npt.NDArray[np.float32]
IndexArray = npt.NDArray[np.int64]
ParamValue = int | float | bool
Params = Mapping[str, ParamValue]
State = dict[str, npt.NDArray[Any]]

# Target items per block when building item-kNN neighbourhoods: bounds memory to n_items × block floats.
KNN_BLOCK = 1024


@dataclass(frozen=True)
class Ranked:
    """A recommendation list: item indices, best first, and their scores."""

    items: IndexArray
    scores: FloatMatrix


class NotFittedError(RuntimeError):
    pass


class Recommender(ABC):
    """A model that scores every catalogue item for users described by their interaction rows."""

    kind: ClassVar[str]
    n_items: int = 0

    @abstractmethod
    def fit(self, interactions: Any) -> Self:
        """Learn from a users × items sparse matrix of non-negative weights."""

    @abstractmethod
    def _score(self, rows: Any) -> FloatMatrix:
        """Scores for validated CSR rows of width ``n_items``."""

    @property
    @abstractmethod
    def params(self) -> dict[str, ParamValue]:
        """Hyperparameters (JSON-able); ``type(self)(**params)`` rebuilds an unfitted twin."""

    @abstractmethod
    def state(self) -> State:
        """The learned arrays, enough for :meth:`restore`."""

    @classmethod
    @abstractmethod
    def restore(cls, params: Params, state: State, n_items: int) -> Self:
        """A fitted model from saved params and state."""

    def score(self, user_rows: Any) -> FloatMatrix:
        """Dense scores (rows × n_items) for users given as rows of interaction weights."""
        if not self.n_items:
            raise NotFittedError(f"{self.kind} is not fitted")
        rows = check_interactions(user_rows)
        if rows.shape[1] != self.n_items:
            raise ValueError(f"rows have {rows.shape[1]} items, the model {self.n_items}")
        return self._score(rows)

    def recommend(
        self, history: Any, k: int = 10, exclude: npt.ArrayLike | None = None, *, exclude_seen: bool = True
    ) -> Ranked:
        """The ``k`` best items for one user (a 1 × n_items row), never those in ``exclude``.

        Items of the history itself are left out too unless ``exclude_seen`` is False.
        """
        row = check_interactions(history)
        if row.shape[0] != 1:
            raise ValueError("recommend takes one user's row; use score() for many")
        scores = self.score(row)[0]
        banned = [np.asarray(exclude, dtype=np.int64).ravel()] if exclude is not None else []
        if banned and banned[0].size and (banned[0].min() < 0 or banned[0].max() >= self.n_items):
            raise ValueError(f"excluded item index out of range 0..{self.n_items - 1}")
        if exclude_seen:
            banned.append(row.indices.astype(np.int64))
        return top_k_row(scores, k, np.concatenate(banned) if banned else None)

    def _check_fit_input(self, interactions: Any) -> Any:
        matrix = check_interactions(interactions)
        if matrix.shape[1] == 0:
            raise ValueError("cannot fit on a catalogue without items")
        self.n_items = int(matrix.shape[1])
        return matrix


class Popularity(Recommender):
    """Every user gets the items with the most (summed weight of) interactions.

    ``weighted`` False counts users instead of summing weights. For recency, scale the weights
    with :func:`recommender.interactions.recency_weights` before fitting.
    """

    kind = "popularity"

    def __init__(self, weighted: bool = True) -> None:
        self.weighted = weighted
        self.totals: FloatMatrix = np.zeros(0, WEIGHT_DTYPE)

    def fit(self, interactions: Any) -> Self:
        matrix = self._check_fit_input(interactions)
        if self.weighted:
            self.totals = np.asarray(matrix.sum(axis=0), dtype=WEIGHT_DTYPE).ravel()
        else:
            self.totals = np.bincount(matrix.indices, minlength=self.n_items).astype(WEIGHT_DTYPE)
        return self

    def _score(self, rows: Any) -> FloatMatrix:
        return np.tile(self.totals, (rows.shape[0], 1))

    @property
    def params(self) -> dict[str, ParamValue]:
        return {"weighted": self.weighted}

    def state(self) -> State:
        return {"totals": self.totals}

    @classmethod
    def restore(cls, params: Params, state: State, n_items: int) -> Self:
        model = cls(weighted=bool(params["weighted"]))
        model.totals = _checked(state, "totals", (n_items,))
        model.n_items = n_items
        return model


class ItemKNN(Recommender):
    """Item-based nearest neighbours with cosine similarity (Deshpande & Karypis 2004 style).

    Each target item keeps its ``k`` most similar items as neighbours; a user's score for the
    target is the weighted sum of its similarities to the neighbours in the user's history.
    """

    kind = "itemknn"

    def __init__(self, k: int = 200) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = int(k)
        # neighbours[j, i]: similarity of target i to its neighbour j, so rows @ neighbours scores targets.
        self.neighbours: Any = None

    def fit(self, interactions: Any) -> Self:
        matrix = self._check_fit_input(interactions)
        unit_columns = normalize(matrix.tocsc(), norm="l2", axis=0)
        by_item = unit_columns.T.tocsr()
        blocks = [
            self._neighbour_block(by_item, unit_columns, start, min(start + KNN_BLOCK, self.n_items))
            for start in range(0, self.n_items, KNN_BLOCK)
        ]
        self.neighbours = sp.hstack(blocks, format="csr", dtype=WEIGHT_DTYPE)
        return self

    def _neighbour_block(self, by_item: Any, unit_columns: Any, start: int, stop: int) -> Any:
        """Columns start..stop of the neighbour matrix: top-k cosine similarities of those targets."""
        sims = np.asarray((by_item @ unit_columns[:, start:stop]).toarray(), dtype=WEIGHT_DTYPE)
        targets = np.arange(stop - start)
        sims[start + targets, targets] = 0.0  # an item is not its own neighbour
        keep = min(self.k, self.n_items)
        if keep < self.n_items:
            top = np.argpartition(-sims, keep - 1, axis=0)[:keep]
            kept = np.zeros_like(sims)
            np.put_along_axis(kept, top, np.take_along_axis(sims, top, axis=0), axis=0)
            sims = kept
        return sp.csc_array(sims)

    def _score(self, rows: Any) -> FloatMatrix:
        return np.asarray((rows @ self.neighbours).toarray(), dtype=WEIGHT_DTYPE)

    @property
    def params(self) -> dict[str, ParamValue]:
        return {"k": self.k}

    def state(self) -> State:
        csr = self.neighbours
        return {"data": csr.data, "indices": csr.indices, "indptr": csr.indptr}

    @classmethod
    def restore(cls, params: Params, state: State, n_items: int) -> Self:
        model = cls(k=int(params["k"]))
        indptr = _checked(state, "indptr", (n_items + 1,))
        model.neighbours = sp.csr_array(
            (state["data"].astype(WEIGHT_DTYPE), state["indices"], indptr), shape=(n_items, n_items)
        )
        model.n_items = n_items
        return model


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder (Steck, WWW 2019), closed form.

    P = (XᵀX + λI)⁻¹, B = I − P·diag(1/diag(P)) (so diag(B) = 0), scores = X·B. Only items with at
    least one interaction enter the inverse: an item without any has a zero column in B anyway.
    """

    kind = "ease"

    def __init__(self, lam: float = 250.0) -> None:
        if lam <= 0:
            raise ValueError("lam must be positive")
        self.lam = float(lam)
        self.active: IndexArray = np.zeros(0, np.int64)
        self.weights: FloatMatrix = np.zeros((0, 0), WEIGHT_DTYPE)

    def fit(self, interactions: Any) -> Self:
        matrix = self._check_fit_input(interactions)
        self.active = np.flatnonzero(np.diff(matrix.tocsc().indptr)).astype(np.int64)
        used = matrix[:, self.active]
        gram = np.asarray((used.T @ used).toarray(), dtype=WEIGHT_DTYPE)
        gram[np.diag_indices_from(gram)] += self.lam
        self.weights = _ease_weights(_spd_inverse(gram))
        return self

    def _score(self, rows: Any) -> FloatMatrix:
        scores = np.zeros((rows.shape[0], self.n_items), WEIGHT_DTYPE)
        if self.active.size:
            scores[:, self.active] = rows[:, self.active] @ self.weights
        return scores

    @property
    def params(self) -> dict[str, ParamValue]:
        return {"lam": self.lam}

    def state(self) -> State:
        return {"active": self.active, "weights": self.weights}

    @classmethod
    def restore(cls, params: Params, state: State, n_items: int) -> Self:
        model = cls(lam=float(params["lam"]))
        model.active = _checked(state, "active", None).astype(np.int64)
        if model.active.size and (model.active.min() < 0 or model.active.max() >= n_items):
            raise ValueError("saved EASE active items out of range")
        size = model.active.size
        model.weights = _checked(state, "weights", (size, size)).astype(WEIGHT_DTYPE, copy=False)
        model.n_items = n_items
        return model


def _spd_inverse(matrix: FloatMatrix) -> FloatMatrix:
    """Inverse of a symmetric positive-definite matrix through its Cholesky factor.

    About three times faster than a general inverse, and float32 halves it again; λ ≥ 1 keeps the
    Gram matrix well conditioned enough for single precision.
    """
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (matrix,))
    factor, info = potrf(matrix, lower=True, overwrite_a=True, clean=True)
    if info != 0:
        raise ValueError(f"Gram matrix is not positive definite (LAPACK info {info}); increase lam")
    lower, info = potri(factor, lower=True, overwrite_c=True)
    if info != 0:
        raise ValueError(f"Gram matrix is singular (LAPACK info {info}); increase lam")
    symmetric = np.tril(lower)  # potri fills only the lower triangle
    symmetric += np.tril(lower, -1).T
    return np.asarray(symmetric, dtype=WEIGHT_DTYPE)


def _ease_weights(inverse: FloatMatrix) -> FloatMatrix:
    """B = I − P·diag(1/diag(P)), computed in place: B_ij = −P_ij / P_jj off the diagonal, 0 on it."""
    diagonal = inverse.diagonal().copy()
    inverse /= -diagonal[np.newaxis, :]
    np.fill_diagonal(inverse, 0.0)
    return inverse


def _checked(state: State, name: str, shape: tuple[int, ...] | None) -> npt.NDArray[Any]:
    if name not in state:
        raise ValueError(f"saved model lacks array {name!r}")
    array = state[name]
    if shape is not None and array.shape != shape:
        raise ValueError(f"saved array {name!r} has shape {array.shape}, expected {shape}")
    return array


MODEL_KINDS: dict[str, type[Recommender]] = {model.kind: model for model in (Popularity, ItemKNN, EASE)}


@dataclass(frozen=True)
class ModelConfig:
    """A model kind and its hyperparameters: what model selection chooses and a saved model records."""

    kind: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; known: {', '.join(MODEL_KINDS)}")

    def build(self) -> Recommender:
        return MODEL_KINDS[self.kind](**self.params)

    @property
    def label(self) -> str:
        inside = ", ".join(
            f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
            for name, value in self.params.items()
        )
        return f"{self.kind}({inside})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelConfig:
        return cls(str(data["kind"]), dict(data.get("params", {})))


def config_of(model: Recommender) -> ModelConfig:
    return ModelConfig(model.kind, model.params)


def exclude_items(scores: FloatMatrix, rows: Any) -> FloatMatrix:
    """``scores`` with −inf wherever the sparse ``rows`` (same shape) have an entry; in place."""
    coo = sp.coo_array(rows)
    scores[coo.row, coo.col] = -np.inf
    return scores


def top_k(scores: FloatMatrix, k: int) -> tuple[IndexArray, FloatMatrix]:
    """Per row, the indices and scores of the ``k`` highest scores, best first.

    Ties are broken by the lower item index, also at the cut-off, so results never depend on the
    partition algorithm.
    """
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    if k <= 0:
        return np.zeros((n_rows, 0), np.int64), np.zeros((n_rows, 0), scores.dtype)
    threshold = np.partition(scores, n_items - k, axis=1)[:, n_items - k, np.newaxis]  # k-th largest
    above = scores > threshold
    ties = scores == threshold
    missing = k - above.sum(axis=1, keepdims=True)
    chosen = above | (ties & (np.cumsum(ties, axis=1) <= missing))
    candidates = np.nonzero(chosen)[1].reshape(n_rows, k).astype(np.int64)  # exactly k per row
    values = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -values), axis=1)
    return np.take_along_axis(candidates, order, axis=1), np.take_along_axis(values, order, axis=1)


def top_k_row(scores: FloatMatrix, k: int, banned: IndexArray | None = None) -> Ranked:
    """The ``k`` best items of one score vector, skipping ``banned`` items (fewer if the catalogue runs out)."""
    candidates = scores.astype(WEIGHT_DTYPE, copy=True)
    if banned is not None and banned.size:
        candidates[banned] = -np.inf
    items, values = top_k(candidates[np.newaxis, :], k)
    allowed = np.isfinite(values[0])
    return Ranked(items[0][allowed], values[0][allowed])
