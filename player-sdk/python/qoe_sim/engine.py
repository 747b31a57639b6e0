"""The simulation clock: one event heap, run as fast as possible or paced to the wall clock.

Every viewer is a set of callbacks on this heap (no thread or task per viewer), so one asyncio
loop carries thousands of them. Ties are broken by insertion order, which keeps seeded runs
identical. In real time the loop runs whatever is due, yields to the HTTP sender between slices,
and records how late each callback ran (the lag), which is how the benchmark decides whether an
audience size is sustained.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Callback = Callable[[Any], None]


class Scheduler:
    __slots__ = ("_counter", "_heap", "events_run", "now")

    def __init__(self) -> None:
        self.now = 0.0
        self.events_run = 0
        self._heap: list[tuple[float, int, Callback, Any]] = []
        self._counter = itertools.count()

    def at(self, when_ms: float, callback: Callback, arg: Any = None) -> None:
        """Run ``callback(arg)`` at simulation time ``when_ms`` (never earlier than now)."""
        heapq.heappush(self._heap, (max(when_ms, self.now), next(self._counter), callback, arg))

    def after(self, delay_ms: float, callback: Callback, arg: Any = None) -> None:
        self.at(self.now + delay_ms, callback, arg)

    @property
    def pending(self) -> int:
        return len(self._heap)

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def _step(self) -> None:
        when, _, callback, arg = heapq.heappop(self._heap)
        self.now = when
        self.events_run += 1
        callback(arg)

    def run_until(self, end_ms: float, progress: Callable[[float], None] | None = None) -> None:
        """Virtual time: run every event up to ``end_ms`` as fast as possible."""
        heap = self._heap
        step = self._step
        while heap and heap[0][0] <= end_ms:
            step()
            if progress is not None and not self.events_run & 0xFFFF:
                progress(self.now)
        self.now = max(self.now, end_ms)


@contextlib.contextmanager
def long_lived_heap(full_pass_every: int = 100) -> Iterator[None]:
    """Keep the cyclic garbage collector from pausing a real-time run for long.

    A full pass over the ~130k objects of 5,000 viewers takes ~150 ms here, and CPython starts
    one every ten young passes once enough objects survived: callbacks then run late. Everything
    alive at the start (traces, catalogue, viewers) is frozen out of the collector's reach, and
    full passes are made ten times rarer; both are undone on the way out.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], full_pass_every)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass
class LagMeter:
    """How late callbacks ran in real time: the max and a histogram in 10 ms bins up to 10 s."""

    max_ms: float = 0.0
    samples: int = 0
    late_1s: int = 0
    bins: list[int] = field(default_factory=lambda: [0] * 1001)

    def record(self, lag_ms: float) -> None:
        self.samples += 1
        self.max_ms = max(self.max_ms, lag_ms)
        if lag_ms > 1000:
            self.late_1s += 1
        self.bins[min(int(lag_ms // 10), 1000)] += 1

    def quantile_ms(self, q: float) -> float:
        if not self.samples:
            return 0.0
        target = q * self.samples
        running = 0
        for i, count in enumerate(self.bins):
            running += count
            if running >= target:
                return (i + 1) * 10.0
        return 10_000.0


async def run_realtime(
    scheduler: Scheduler,
    end_ms: float,
    *,
    stop: asyncio.Event | None = None,
    lag: LagMeter | None = None,
    slice_s: float = 0.02,
    max_wait_s: float = 0.1,
    min_wait_s: float = 0.005,
) -> None:
    """Pace the heap to the loop's clock from now: simulation ms ``t`` runs at start + t.

    Callbacks run in batches: after a batch the loop sleeps at least ``min_wait_s`` (unless it
    is behind), so thousands of viewers cost a few hundred wake-ups a second, not one per
    callback, at the price of up to ``min_wait_s`` of lateness.
    """
    loop = asyncio.get_running_loop()
    origin = loop.time() - scheduler.now / 1000
    heap = scheduler._heap
    while not (stop is not None and stop.is_set()):
        now_ms = (loop.time() - origin) * 1000
        if now_ms >= end_ms:
            break
        slice_end = loop.time() + slice_s
        ran = 0
        behind = False
        while heap and heap[0][0] <= now_ms:
            if lag is not None:
                lag.record(now_ms - heap[0][0])
            scheduler._step()
            ran += 1
            if not ran & 0x3F and loop.time() > slice_end:
                behind = True  # let the sender and the progress display run, then catch up
                break
        if behind:
            await asyncio.sleep(0)
            continue
        next_due = heap[0][0] if heap else end_ms
        wait_s = (next_due - (loop.time() - origin) * 1000) / 1000
        await asyncio.sleep(min(max(wait_s, min_wait_s), max_wait_s))
    scheduler.now = max(scheduler.now, min(end_ms, (loop.time() - origin) * 1000))
