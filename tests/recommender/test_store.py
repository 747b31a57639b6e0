from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from recommender.interactions import Interactions
from recommender.models import ModelConfig
from recommender.store import (
    ModelStoreError,
    current_version,
    list_versions,
    load_current,
    load_model,
    save_model,
    swap_in,
)
from recommender.trained import TrainedRecommender, train
from tests.factories.recommender import clustered_matrix

CONFIGS = [
    ModelConfig("popularity", {"weighted": False}),
    ModelConfig("itemknn", {"k": 5}),
    ModelConfig("ease", {"lam": 3.0}),
]


def _trained(config: ModelConfig, seed: int = 0, string_ids: bool = False) -> TrainedRecommender:
    matrix = clustered_matrix(n_users=60, n_items=24, clusters=3, per_user=5, seed=seed)
    ids = np.array([f"t{i}" for i in range(24)]) if string_ids else np.arange(24) * 10
    return train(Interactions(matrix, np.arange(60), ids), config, {"note": "test"})


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.kind)
@pytest.mark.parametrize("string_ids", [False, True])
def test_save_and_load_give_the_same_recommendations(tmp_path: Path, config: ModelConfig, string_ids: bool) -> None:
    trained = _trained(config, string_ids=string_ids)
    loaded = load_model(save_model(trained, tmp_path / "model"))
    assert loaded.config == config
    assert loaded.info["note"] == "test" and loaded.info["interactions"] == trained.info["interactions"]
    np.testing.assert_array_equal(loaded.item_ids, trained.item_ids)
    history = trained.item_ids[:3].tolist()
    assert loaded.recommend_for_history(history, k=8) == trained.recommend_for_history(history, k=8)
    assert loaded.recommend_for_history([], k=3) == trained.recommend_for_history([], k=3)


def test_saved_files_are_json_and_npz_without_pickled_objects(tmp_path: Path) -> None:
    directory = save_model(_trained(CONFIGS[2], string_ids=True), tmp_path / "model")
    metadata = json.loads((directory / "model.json").read_text())
    assert (metadata["format"], metadata["kind"], metadata["params"]) == (1, "ease", {"lam": 3.0})
    with np.load(directory / "arrays.npz", allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)
    with pytest.raises(ModelStoreError, match="already holds"):
        save_model(_trained(CONFIGS[2]), directory)


def test_swap_in_moves_the_pointer_and_prunes_old_versions(tmp_path: Path) -> None:
    versions = [swap_in(_trained(CONFIGS[0], seed=seed), tmp_path, keep=2) for seed in range(4)]
    assert current_version(tmp_path) == versions[-1]
    assert list_versions(tmp_path) == versions[-2:]
    assert load_current(tmp_path).info == load_model(versions[-1]).info
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_a_failed_write_leaves_the_current_model_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = swap_in(_trained(CONFIGS[1]), tmp_path)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr("recommender.store.np.savez", disk_full)
    with pytest.raises(OSError):
        swap_in(_trained(CONFIGS[2]), tmp_path)
    assert current_version(tmp_path) == first
    assert load_current(tmp_path).config == CONFIGS[1]


def test_readers_never_see_a_half_written_model(tmp_path: Path) -> None:
    swap_in(_trained(CONFIGS[2], seed=0), tmp_path, keep=3)
    stop = threading.Event()
    failures: list[BaseException] = []
    loads = 0

    def read_continuously() -> None:
        nonlocal loads
        while not stop.is_set():
            try:
                assert load_current(tmp_path).model.n_items == 24
                loads += 1
            except BaseException as exc:  # collected and reported by the main thread
                failures.append(exc)
                return

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for seed in range(1, 8):
            swap_in(_trained(CONFIGS[2], seed=seed), tmp_path, keep=3)
    finally:
        stop.set()
        reader.join()
    assert not failures, failures[0]
    assert loads > 0


@pytest.mark.parametrize(
    "pointer", [None, "not json", json.dumps({"version": "../elsewhere"}), json.dumps({"version": "missing"})]
)
def test_bad_pointer_or_missing_model_is_a_clear_error(tmp_path: Path, pointer: str | None) -> None:
    if pointer is not None:
        (tmp_path / "current.json").write_text(pointer)
    with pytest.raises(ModelStoreError):
        load_current(tmp_path)


def test_loading_refuses_another_format_or_kind(tmp_path: Path) -> None:
    directory = save_model(_trained(CONFIGS[0]), tmp_path / "model")
    metadata = json.loads((directory / "model.json").read_text())
    (directory / "model.json").write_text(json.dumps({**metadata, "format": 99}))
    with pytest.raises(ModelStoreError, match="format"):
        load_model(directory)
    (directory / "model.json").write_text(json.dumps({**metadata, "kind": "svd"}))
    with pytest.raises(ModelStoreError, match="unknown model kind"):
        load_model(directory)
