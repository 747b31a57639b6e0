"""A view's queue of events waiting to be sent, with a cap that sheds the least useful first.

The queue only grows past a beacon's worth of events when the sender holds flushes (the server
asked us to come back later) or the player emits faster than ~30 events/s. When it is full,
heartbeats go first (the next heartbeat repeats their information), then network-request
events (samples of throughput the next requests also carry), and only then the oldest event.
"""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]

# Shed in this order when over the cap (REFERENCE §4: "drop heartbeats first").
_SHED_ORDER = (("heartbeat",), ("request_completed", "request_failed"))


class EventQueue:
    __slots__ = ("_events", "cap", "dropped")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"queue cap must be at least 1, got {cap}")
        self.cap = cap
        self.dropped = 0
        self._events: list[Event] = []

    def __len__(self) -> int:
        return len(self._events)

    def append(self, event: Event) -> None:
        if len(self._events) >= self.cap:
            self._shed_one()
        self._events.append(event)

    def take(self, n: int) -> list[Event]:
        """Remove and return the oldest ``n`` events (fewer if fewer are queued)."""
        head, self._events = self._events[:n], self._events[n:]
        return head

    def clear(self) -> int:
        n = len(self._events)
        self._events = []
        return n

    def _shed_one(self) -> None:
        self.dropped += 1
        for kinds in _SHED_ORDER:
            for i, queued in enumerate(self._events):
                if queued["type"] in kinds:
                    del self._events[i]
                    return
        del self._events[0]
