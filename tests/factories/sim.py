"""Factories for the Python SDK and the audience simulator: fake time, tiny manifests and traces."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from schemas import Beacon

T0_MS = 1_790_000_000_000  # a fixed viewer clock


class FakeTime:
    """A clock in integer ms and an async sleep that advances it instead of waiting."""

    def __init__(self, start_ms: int = T0_MS) -> None:
        self.ms = start_ms
        self.sleeps: list[float] = []

    def clock(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.ms += round(seconds * 1000)
        await asyncio.sleep(0)


def validate_all(payloads: list[dict[str, Any]]) -> list[Beacon]:
    """Every payload parsed by the server's own model (raises on the first invalid one)."""
    return [Beacon.model_validate(payload) for payload in payloads]


def events_of(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for payload in payloads for event in payload["events"]]


def constant_manifest(
    path: Path, bitrates_kbps: list[int], segment_ms: int, segments: int, size_factor: float = 1.0
) -> Path:
    """A manifest whose every segment is exactly ``bitrate × duration × size_factor`` bits."""
    sizes = [[round(b * segment_ms * size_factor) for b in bitrates_kbps] for _ in range(segments)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"segment_duration_ms": segment_ms, "bitrates_kbps": bitrates_kbps, "segment_sizes_bits": sizes})
    )
    return path


def sabre_trace(path: Path, intervals: list[tuple[int, float, float]]) -> Path:
    """A Sabre JSON trace from (duration_ms, bandwidth_kbps, latency_ms) rows."""
    rows = [{"duration_ms": d, "bandwidth_kbps": b, "latency_ms": lat} for d, b, lat in intervals]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))
    return path


def constant_trace(path: Path, kbps: float, latency_ms: float, seconds: int = 600) -> Path:
    return sabre_trace(path, [(1000, kbps, latency_ms)] * seconds)
