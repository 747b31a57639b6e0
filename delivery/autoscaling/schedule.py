"""Scheduled live events from a JSON file that operations (or the catalogue) maintain.

The file is a list of objects::

    [{"start": "2026-12-05T19:00:00Z", "expected_peak": 250000, "region": "eu", "name": "final"}]

``start`` must carry its time zone. ``duration_s``, ``prescale_s``, ``margin``, ``settle_s``,
``region`` (absent: every region) and ``name`` are optional, with the defaults of
:class:`~delivery.autoscaling.forecast.ScheduledEvent`. The file is read again whenever it
changes, so an edit takes effect at the next poll without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from delivery.autoscaling.forecast import ScheduledEvent


class ScheduleError(ValueError):
    """The events file cannot be used; the message names the file and the offending field."""


class _EventEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    expected_peak: float = Field(ge=0)
    duration_s: float = Field(7200.0, gt=0)
    prescale_s: float = Field(120.0, ge=0)
    margin: float = Field(0.25, ge=0)
    settle_s: float = Field(1200.0, ge=0)
    region: str | None = None
    name: str = ""

    def event(self) -> ScheduledEvent:
        return ScheduledEvent(**self.model_dump())


_ENTRIES = TypeAdapter(list[_EventEntry])


def parse_events(text: bytes | str, source: str = "events file") -> list[ScheduledEvent]:
    try:
        entries = _ENTRIES.validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ScheduleError(f"{source}: {where}: {first['msg']}") from exc
    return [entry.event() for entry in entries]


class FileEventSchedule:
    """An :class:`~delivery.autoscaling.signals.EventSchedule` read from ``path``, cached by mtime."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._cached: tuple[int, list[ScheduledEvent]] | None = None

    def __call__(self, now: datetime) -> Sequence[ScheduledEvent]:
        # A missing or broken file raises: the signal then says it is unavailable rather than
        # silently forgetting an event it was told about.
        stamp = self.path.stat().st_mtime_ns
        with self._lock:
            if self._cached is None or self._cached[0] != stamp:
                self._cached = (stamp, parse_events(self.path.read_bytes(), str(self.path)))
            return self._cached[1]
