"""Process-level helpers: children that never outlive their parent; a collector that spares start-up."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for children: Linux sends them SIGTERM when their parent dies, even by SIGKILL."""
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def freeze_startup_objects() -> None:
    """Call once a server is built, just before it serves.

    What start-up built (modules, schemas, parsers, the app) lives as long as the process. Left
    to the collector, every full collection walks all of it again; under load those pauses were
    most of ingest's p99 (35 ms, against 9 ms frozen, in the ingest benchmark).
    """
    gc.collect()
    gc.freeze()
