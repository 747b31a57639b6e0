"""Throughput traces: loading Sabre JSON and Pensieve text, and timing a download over a trace.

A trace is a list of intervals with a bandwidth and a latency; it loops when a view outlives it,
as in Sabre. ``transfer_ms`` integrates the bandwidth from a start time until the requested bits
are through, so a segment that straddles a drop in throughput takes exactly as long as it would
on the measured link.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise
from pathlib import Path

import orjson

PENSIEVE_LATENCY_MS = 80.0  # Pensieve's simulator adds an 80 ms RTT to its bandwidth-only traces


class TraceError(ValueError):
    """A trace file or directory that cannot be used, with the reason."""


class Trace:
    """A piecewise-constant link: interval durations (ms), bandwidths (kbps) and latencies (ms)."""

    __slots__ = ("_cum_bits", "_ends", "_kbps", "_latency", "klass", "name", "period_bits", "period_ms")

    def __init__(
        self,
        name: str,
        klass: str,
        durations_ms: Sequence[float],
        kbps: Sequence[float],
        latency_ms: Sequence[float],
    ) -> None:
        if not durations_ms or not len(durations_ms) == len(kbps) == len(latency_ms):
            raise TraceError(f"{name}: needs at least one interval, with as many bandwidths and latencies")
        if min(durations_ms) <= 0 or min(kbps) < 0 or min(latency_ms) < 0:
            raise TraceError(f"{name}: durations must be positive, bandwidths and latencies non-negative")
        if max(kbps) <= 0:
            raise TraceError(f"{name}: bandwidth is zero throughout, nothing could ever download")
        self.name = name
        self.klass = klass
        self._kbps = [float(b) for b in kbps]
        self._latency = [float(x) for x in latency_ms]
        self._ends = list(accumulate(float(d) for d in durations_ms))
        # kbps × ms = bits, so the running sum is the bits delivered by each interval's end.
        self._cum_bits = list(accumulate(float(d) * float(b) for d, b in zip(durations_ms, kbps, strict=True)))
        self.period_ms = self._ends[-1]
        self.period_bits = self._cum_bits[-1]

    def __len__(self) -> int:
        return len(self._kbps)

    def intervals(self) -> tuple[list[float], list[float], list[float]]:
        """The trace as loaded: durations (ms), bandwidths (kbps), latencies (ms)."""
        starts = [0.0, *self._ends[:-1]]
        return [end - start for start, end in zip(starts, self._ends, strict=True)], self._kbps, self._latency

    @property
    def mean_kbps(self) -> float:
        return self.period_bits / self.period_ms

    def _interval(self, position_ms: float) -> int:
        return bisect_right(self._ends, position_ms)

    def latency_ms(self, at_ms: float) -> float:
        return self._latency[self._interval(at_ms % self.period_ms)]

    def kbps_at(self, at_ms: float) -> float:
        return self._kbps[self._interval(at_ms % self.period_ms)]

    def transfer_ms(self, start_ms: float, bits: float) -> float:
        """How long ``bits`` take to arrive when the transfer starts at ``start_ms`` (looping the trace)."""
        if bits <= 0:
            return 0.0
        ends, cum, kbps = self._ends, self._cum_bits, self._kbps
        position = start_ms % self.period_ms
        i = bisect_right(ends, position)
        bits_before = (cum[i - 1] if i else 0.0) + (position - (ends[i - 1] if i else 0.0)) * kbps[i]
        laps, remainder = divmod(bits_before + bits, self.period_bits)
        if remainder == 0:  # finishes exactly at a lap's end: find where in that lap
            laps -= 1
            remainder = self.period_bits
        j = bisect_left(cum, remainder)  # cum[j-1] < remainder <= cum[j], so kbps[j] > 0
        finish = (ends[j - 1] if j else 0.0) + (remainder - (cum[j - 1] if j else 0.0)) / kbps[j]
        return laps * self.period_ms + finish - position


def load_sabre(path: Path, klass: str = "") -> Trace:
    """Sabre's JSON: ``[{"duration_ms", "bandwidth_kbps", "latency_ms"}, ...]``."""
    try:
        rows = orjson.loads(path.read_bytes())
        durations = [float(r["duration_ms"]) for r in rows]
        kbps = [float(r["bandwidth_kbps"]) for r in rows]
        latency = [float(r.get("latency_ms", 0.0)) for r in rows]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise TraceError(f"{path}: not a Sabre JSON trace ({type(exc).__name__}: {exc})") from exc
    return Trace(path.stem, klass, durations, kbps, latency)


def load_pensieve(path: Path, klass: str = "", latency_ms: float = PENSIEVE_LATENCY_MS) -> Trace:
    """Pensieve's cooked text: one ``seconds  Mbps`` line per sample, timestamps cumulative.

    As in Pensieve's simulator, the bandwidth on line i holds from line i-1's time to line i's.
    """
    try:
        points = [line.split() for line in path.read_text().splitlines() if line.strip()]
        times = [float(p[0]) for p in points]
        mbps = [float(p[1]) for p in points]
    except (OSError, IndexError, ValueError) as exc:
        raise TraceError(f"{path}: not a Pensieve trace of 'seconds Mbps' lines ({exc})") from exc
    if len(times) < 2:
        raise TraceError(f"{path}: a Pensieve trace needs at least two lines")
    durations = [(b - a) * 1000 for a, b in pairwise(times)]
    if min(durations) <= 0:
        raise TraceError(f"{path}: timestamps must increase")
    kbps = [m * 1000 for m in mbps[1:]]
    return Trace(path.stem, klass, durations, kbps, [latency_ms] * len(durations))


def load_trace(path: Path, klass: str = "") -> Trace:
    return load_sabre(path, klass) if path.suffix == ".json" else load_pensieve(path, klass)


@dataclass(frozen=True)
class TraceLibrary:
    """Traces grouped in classes; a class is the first directory level under the root (``lte-4g``)."""

    classes: dict[str, tuple[Trace, ...]]

    @classmethod
    def from_dir(cls, root: Path) -> TraceLibrary:
        if not root.is_dir():
            raise TraceError(f"trace directory {root} does not exist")
        grouped: dict[str, list[Trace]] = {}
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
            relative = path.relative_to(root)
            klass = relative.parts[0] if len(relative.parts) > 1 else "default"
            grouped.setdefault(klass, []).append(load_trace(path, klass))
        if not grouped:
            raise TraceError(f"no trace files in {root} (expected Sabre *.json or Pensieve text files)")
        return cls({k: tuple(v) for k, v in sorted(grouped.items())})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.classes)

    def pick(self, klass: str, rng: random.Random) -> Trace:
        """A trace of ``klass``; any class when this library has none of that name."""
        traces = self.classes.get(klass)
        if traces is None:
            traces = self.classes[self.names[rng.randrange(len(self.names))]]
        return traces[rng.randrange(len(traces))]
