"""What a call costs: process CPU time and peak traced memory, for bounds that hold on a busy machine."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

MB = 1 << 20


def cpu_s(run: Callable[[], object], repeats: int = 3) -> float:
    """The least process CPU time of ``repeats`` runs: other processes' load does not count."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def peak_bytes(run: Callable[[], object]) -> int:
    """The most memory Python held for ``run`` at any moment (tracemalloc)."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
