"""Encoded content: the bitrate ladder and each segment's real size per rung.

Sabre's manifests (``bbb.json``) give ``segment_duration_ms``, ``bitrates_kbps`` and
``segment_sizes_bits[segment][rung]``; they carry no resolution or frame rate, so those come from
Apple's HLS authoring ladder, nearest by bitrate (and 60 fps at 1080p and above, as the ladder's
high rungs are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import orjson


class ManifestError(ValueError):
    """A manifest file that cannot be used, with the reason."""


@dataclass(frozen=True, slots=True)
class Rendition:
    bitrate_kbps: float
    width: int
    height: int
    framerate: float


# (kbps, width, height) of Apple's HLS authoring specification ladder, plus its 1440p/2160p rungs.
_LADDER = (
    (145, 416, 234),
    (365, 480, 270),
    (730, 640, 360),
    (1100, 768, 432),
    (2000, 960, 540),
    (3000, 1280, 720),
    (4500, 1280, 720),
    (6000, 1920, 1080),
    (7800, 1920, 1080),
    (12000, 2560, 1440),
    (20000, 3840, 2160),
)


def rendition_for(bitrate_kbps: float) -> Rendition:
    """The ladder rung nearest in log-bitrate: a plausible picture size for an encoding bitrate."""
    _, width, height = min(_LADDER, key=lambda rung: abs(math.log(rung[0] / bitrate_kbps)))
    return Rendition(float(bitrate_kbps), width, height, 60.0 if height >= 1080 else 30.0)


@dataclass(frozen=True)
class Manifest:
    name: str
    segment_ms: int
    bitrates_kbps: tuple[float, ...]
    sizes_bits: tuple[tuple[int, ...], ...]  # [segment][rung]

    def __post_init__(self) -> None:
        if self.segment_ms <= 0:
            raise ManifestError(f"{self.name}: segment_duration_ms must be positive")
        if not self.bitrates_kbps or list(self.bitrates_kbps) != sorted(self.bitrates_kbps):
            raise ManifestError(f"{self.name}: bitrates_kbps must be a non-empty ascending list")
        if min(self.bitrates_kbps) <= 0:
            raise ManifestError(f"{self.name}: bitrates must be positive")
        if not self.sizes_bits or any(len(row) != len(self.bitrates_kbps) for row in self.sizes_bits):
            raise ManifestError(f"{self.name}: every segment needs one size per rung")
        if min(min(row) for row in self.sizes_bits) <= 0:
            raise ManifestError(f"{self.name}: segment sizes must be positive")

    @property
    def segments(self) -> int:
        return len(self.sizes_bits)

    @property
    def duration_ms(self) -> int:
        return self.segments * self.segment_ms

    @property
    def rungs(self) -> int:
        return len(self.bitrates_kbps)

    def size_bits(self, segment: int, rung: int) -> int:
        """Size of a segment; live streams (endless) cycle through the encoded segments."""
        return self.sizes_bits[segment % len(self.sizes_bits)][rung]

    def renditions(self) -> tuple[Rendition, ...]:
        return tuple(rendition_for(b) for b in self.bitrates_kbps)


def load_manifest(path: Path) -> Manifest:
    try:
        raw = orjson.loads(path.read_bytes())
        return Manifest(
            name=path.stem,
            segment_ms=int(raw["segment_duration_ms"]),
            bitrates_kbps=tuple(float(b) for b in raw["bitrates_kbps"]),
            sizes_bits=tuple(tuple(int(s) for s in row) for row in raw["segment_sizes_bits"]),
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"{path}: not a Sabre manifest ({type(exc).__name__}: {exc})") from exc
