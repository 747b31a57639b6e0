"""Save and load trained recommenders, and swap a new one in atomically.

A saved model is a directory with ``model.json`` (format version, kind, hyperparameters, item id
type, provenance) and ``arrays.npz`` (the item ids and the model's learned arrays, read back with
``allow_pickle=False``: loading a model never runs code from the file).

Serving reads ``<root>/current.json`` (``{"version": "<dir name>"}``) and loads that directory.
:func:`swap_in` writes the new version under a temporary name, renames it into place, and only
then replaces ``current.json`` with ``os.replace``, so a reader sees either the old complete
model or the new complete model, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from recommender.models import MODEL_KINDS
from recommender.trained import TrainedRecommender

FORMAT_VERSION = 1
META_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
POINTER_FILE = "current.json"
STATE_PREFIX = "state."
KEEP_VERSIONS = 3


class ModelStoreError(RuntimeError):
    """A saved model or pointer is missing or unreadable; the message is one line."""


def save_model(trained: TrainedRecommender, directory: Path) -> Path:
    """Write ``trained`` into ``directory`` (created; must not hold a model already)."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / META_FILE).exists():
        raise ModelStoreError(f"{directory} already holds a model")
    arrays: dict[str, Any] = {"item_ids": trained.item_ids}
    if trained.popularity is not None:
        arrays["popularity"] = trained.popularity
    arrays.update({STATE_PREFIX + name: value for name, value in trained.model.state().items()})
    with (directory / ARRAYS_FILE).open("wb") as out:
        np.savez(out, allow_pickle=False, **arrays)
        _flush(out)
    metadata = {
        "format": FORMAT_VERSION,
        "kind": trained.model.kind,
        "params": trained.model.params,
        "n_items": trained.model.n_items,
        "item_id_type": "int" if trained.item_ids.dtype.kind == "i" else "str",
        "saved_at": datetime.now(UTC).isoformat(),
        "info": dict(trained.info),
    }
    with (directory / META_FILE).open("w", encoding="utf-8") as out:
        json.dump(metadata, out, indent=2, default=_json_default)
        _flush(out)
    return directory


def load_model(directory: Path) -> TrainedRecommender:
    """Read a model written by :func:`save_model`."""
    try:
        metadata = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
    except (OSError, ValueError) as exc:
        raise ModelStoreError(f"cannot read model in {directory}: {exc}") from exc
    if metadata.get("format") != FORMAT_VERSION:
        raise ModelStoreError(f"{directory}: model format {metadata.get('format')!r}, expected {FORMAT_VERSION}")
    kind = metadata.get("kind")
    if kind not in MODEL_KINDS:
        raise ModelStoreError(f"{directory}: unknown model kind {kind!r}")
    state = {name[len(STATE_PREFIX) :]: value for name, value in arrays.items() if name.startswith(STATE_PREFIX)}
    try:
        model = MODEL_KINDS[kind].restore(metadata["params"], state, int(metadata["n_items"]))
        return TrainedRecommender(
            model=model, item_ids=arrays["item_ids"], info=metadata.get("info", {}), popularity=arrays.get("popularity")
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelStoreError(f"{directory}: inconsistent saved model ({exc})") from exc


def swap_in(trained: TrainedRecommender, root: Path, keep: int = KEEP_VERSIONS) -> Path:
    """Save ``trained`` as a new version under ``root`` and make it current; returns its directory.

    Older versions beyond the newest ``keep`` are deleted (a reader that resolved the previous
    pointer a moment ago still finds its directory, as long as ``keep`` ≥ 2).
    """
    if keep < 1:
        raise ValueError("keep at least the current version")
    root.mkdir(parents=True, exist_ok=True)
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{trained.model.kind}-{uuid.uuid4().hex[:8]}"
    staging = root / f".staging-{version}"
    save_model(trained, staging)
    final = root / version
    staging.rename(final)  # atomic within one filesystem: the version appears complete
    _write_pointer(root, version)
    _prune(root, keep, current=version)
    return final


def current_version(root: Path) -> Path:
    """Directory of the current model under ``root``."""
    pointer = root / POINTER_FILE
    try:
        version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelStoreError(f"no current model under {root} ({type(exc).__name__}: {exc})") from exc
    if not isinstance(version, str) or Path(version).name != version:
        raise ModelStoreError(f"{pointer}: invalid version {version!r}")
    return root / version


def load_current(root: Path) -> TrainedRecommender:
    return load_model(current_version(root))


def current_info(root: Path) -> dict[str, Any]:
    """The provenance (``info``) of the current model under ``root``, without loading its arrays."""
    directory = current_version(root)
    try:
        info = json.loads((directory / META_FILE).read_text(encoding="utf-8")).get("info", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelStoreError(f"cannot read model in {directory}: {exc}") from exc
    return dict(info) if isinstance(info, dict) else {}


def list_versions(root: Path) -> list[Path]:
    """Complete version directories under ``root``, oldest first (names start with the UTC time)."""
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))


def _write_pointer(root: Path, version: str) -> None:
    temporary = root / f".{POINTER_FILE}.{uuid.uuid4().hex}"
    with temporary.open("w", encoding="utf-8") as out:
        json.dump({"version": version, "swapped_at": datetime.now(UTC).isoformat()}, out)
        _flush(out)
    temporary.replace(root / POINTER_FILE)  # os.replace: atomic on POSIX and Windows
    _sync_directory(root)


def _prune(root: Path, keep: int, current: str) -> None:
    versions = [path for path in list_versions(root) if path.name != current]
    for stale in versions[: max(0, len(versions) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)


def _flush(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sync_directory(directory: Path) -> None:
    """Persist the rename itself (POSIX: fsync the directory); a no-op where that is unsupported."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
