"""Viewer and view identities, and per-viewer sampling.

A view id is minted per play attempt; a viewer id and the viewer's sampling number are minted
once and persisted by the caller (REFERENCE §4), so a sampled-out viewer stays out across
sessions and a sampled-in viewer contributes every view.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from qoe_sdk.contract import is_id


def new_id(rng: random.Random | None = None) -> str:
    """A random 128-bit id as 32 hex digits (always a valid id); reproducible when ``rng`` is seeded."""
    if rng is None:
        return uuid.uuid4().hex
    return f"{rng.getrandbits(128):032x}"


@dataclass(frozen=True, slots=True)
class ViewerIdentity:
    """What a player persists about its viewer: the id and the sampling number in [0, 1)."""

    viewer_id: str
    sample_number: float

    def __post_init__(self) -> None:
        if not is_id(self.viewer_id):  # the schema's id rule: 1 to 64 of A-Z a-z 0-9 _ . : -
            raise ValueError(f"viewer_id {self.viewer_id!r} is not an id the beacon schema accepts")
        if not 0.0 <= self.sample_number < 1.0:
            raise ValueError(f"sample_number must be in [0, 1), got {self.sample_number}")

    @classmethod
    def new(cls, rng: random.Random | None = None) -> ViewerIdentity:
        draw = rng or random.SystemRandom()
        return cls(viewer_id=new_id(rng), sample_number=draw.random())

    def sampled(self, rate: float) -> bool:
        """Whether this viewer reports at ``rate``: the same answer every session."""
        return self.sample_number < rate

    def to_dict(self) -> dict[str, Any]:
        return {"viewer_id": self.viewer_id, "sample_number": self.sample_number}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> ViewerIdentity:
        return cls(viewer_id=str(stored["viewer_id"]), sample_number=float(stored["sample_number"]))
