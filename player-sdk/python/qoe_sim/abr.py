"""Adaptive bitrate rules for the simulated players.

``ThroughputRule`` (the default) is the rule hls.js ships: two exponentially weighted moving
averages of segment throughput, weighted by download time, with half-lives of 3 s and 9 s; the
estimate is the lower of the two, and the player picks the highest rung under 90% of it (70%
to switch up, which damps oscillation). The averages are bias-corrected, as in hls.js, so a
constant link is estimated exactly from the first segment on.

``BufferRule`` is BBA-0 (Huang et al., SIGCOMM 2014): below a reservoir the lowest rung, above
reservoir + cushion the highest, a linear map in between, and a rung only changes when the
map crosses the neighbouring rung.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol


class AbrRule(Protocol):
    def observe(self, bits: float, duration_ms: float) -> None:
        """A segment arrived: ``bits`` in ``duration_ms`` (request to last byte)."""
        ...

    def choose(self, buffer_ms: float, current: int | None) -> int:
        """The rung for the next segment; ``current`` is the last rung requested (None at start)."""
        ...


class _Ewma:
    __slots__ = ("_alpha", "_total_weight", "_value")

    def __init__(self, half_life_s: float) -> None:
        self._alpha = math.exp(math.log(0.5) / half_life_s)
        self._value = 0.0
        self._total_weight = 0.0

    def sample(self, weight_s: float, value: float) -> None:
        adjusted = self._alpha**weight_s
        self._value = adjusted * self._value + (1 - adjusted) * value
        self._total_weight += weight_s

    def estimate(self) -> float:
        return float(self._value / (1 - self._alpha**self._total_weight))

    @property
    def has_samples(self) -> bool:
        return self._total_weight > 0


class ThroughputRule:
    def __init__(
        self,
        bitrates_kbps: Sequence[float],
        *,
        fast_half_life_s: float = 3.0,
        slow_half_life_s: float = 9.0,
        default_estimate_kbps: float = 500.0,
        safety: float = 0.9,
        up_safety: float = 0.7,
    ) -> None:
        self._bitrates = tuple(bitrates_kbps)
        self._fast = _Ewma(fast_half_life_s)
        self._slow = _Ewma(slow_half_life_s)
        self._default = default_estimate_kbps
        self._safety = safety
        self._up_safety = up_safety

    def observe(self, bits: float, duration_ms: float) -> None:
        if duration_ms <= 0:
            return
        weight_s = duration_ms / 1000
        kbps = bits / duration_ms
        self._fast.sample(weight_s, kbps)
        self._slow.sample(weight_s, kbps)

    def estimate_kbps(self) -> float:
        if not self._fast.has_samples:
            return self._default
        return min(self._fast.estimate(), self._slow.estimate())

    def choose(self, buffer_ms: float, current: int | None) -> int:
        estimate = self.estimate_kbps()
        chosen = 0
        for rung, bitrate in enumerate(self._bitrates):
            factor = self._up_safety if current is not None and rung > current else self._safety
            if bitrate <= factor * estimate:
                chosen = rung
        return chosen


class BufferRule:
    def __init__(
        self, bitrates_kbps: Sequence[float], *, reservoir_ms: float = 5_000, cushion_ms: float = 20_000
    ) -> None:
        self._bitrates = tuple(bitrates_kbps)
        self._reservoir = reservoir_ms
        self._cushion = cushion_ms

    def observe(self, bits: float, duration_ms: float) -> None:
        """BBA ignores throughput."""

    def _rate_map(self, buffer_ms: float) -> float:
        low, high = self._bitrates[0], self._bitrates[-1]
        share = (buffer_ms - self._reservoir) / self._cushion
        return low + min(1.0, max(0.0, share)) * (high - low)

    def choose(self, buffer_ms: float, current: int | None) -> int:
        target = self._rate_map(buffer_ms)
        rungs = range(len(self._bitrates))
        if current is None:
            return max((r for r in rungs if self._bitrates[r] <= target), default=0)
        above = self._bitrates[min(current + 1, len(self._bitrates) - 1)]
        below = self._bitrates[max(current - 1, 0)]
        if target >= above and current + 1 < len(self._bitrates):
            return max(r for r in rungs if self._bitrates[r] <= target)
        if target <= below and current > 0:
            return min((r for r in rungs if self._bitrates[r] >= target), default=0)
        return current


ABR_RULES = ("throughput", "buffer")


def make_abr(name: str, bitrates_kbps: Sequence[float]) -> AbrRule:
    if name == "throughput":
        return ThroughputRule(bitrates_kbps)
    if name == "buffer":
        return BufferRule(bitrates_kbps)
    raise ValueError(f"unknown ABR rule {name!r}; choose one of {', '.join(ABR_RULES)}")
