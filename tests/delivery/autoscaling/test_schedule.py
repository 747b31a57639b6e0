"""Scheduled live events read from the operators' JSON file."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from delivery.autoscaling.schedule import FileEventSchedule, ScheduleError, parse_events

NOW = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


def _write(path: Path, entries: list[dict[str, object]], mtime_ns: int) -> None:
    path.write_bytes(orjson.dumps(entries))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_entries_become_events_with_the_forecast_defaults() -> None:
    text = b'[{"start": "2026-12-05T19:00:00Z", "expected_peak": 250000, "region": "eu", "name": "final"},'
    text += b' {"start": "2026-12-06T20:00:00+01:00", "expected_peak": 1000, "margin": 0.5, "duration_s": 600}]'
    final, concert = parse_events(text)
    assert (final.start, final.expected_peak, final.region, final.name) == (
        datetime(2026, 12, 5, 19, 0, tzinfo=UTC),
        250_000,
        "eu",
        "final",
    )
    assert (final.duration_s, final.prescale_s, final.margin, final.settle_s) == (7200.0, 120.0, 0.25, 1200.0)
    assert concert.start == datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
    assert (concert.region, concert.margin, concert.duration_s) == (None, 0.5, 600.0)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (b'[{"start": "2026-12-05T19:00:00", "expected_peak": 1}]', "0.start"),  # no time zone
        (b'[{"start": "2026-12-05T19:00:00Z", "expected_peak": -1}]', "0.expected_peak"),
        (b'[{"start": "2026-12-05T19:00:00Z"}]', "0.expected_peak"),
        (b'[{"start": "2026-12-05T19:00:00Z", "expected_peak": 1, "peak": 2}]', "0.peak"),
        (b'[{"start": "2026-12-05T19:00:00Z", "expected_peak": 1, "duration_s": 0}]', "0.duration_s"),
        (b'{"start": "2026-12-05T19:00:00Z", "expected_peak": 1}', "(top level)"),
        (b"[{", "(top level)"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_file_and_field(text: bytes, names: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_events(text, "events.json")
    assert str(caught.value).startswith(f"events.json: {names}")


def test_the_file_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    _write(path, [{"start": "2026-12-05T19:00:00Z", "expected_peak": 10}], 1_000_000_000)
    schedule = FileEventSchedule(path)
    first = schedule(NOW)
    assert [event.expected_peak for event in first] == [10]
    assert schedule(NOW + timedelta(seconds=30)) is first
    _write(path, [{"start": "2026-12-05T19:00:00Z", "expected_peak": 20}], 2_000_000_000)
    assert [event.expected_peak for event in schedule(NOW)] == [20]


def test_a_missing_or_broken_file_raises_rather_than_forgetting_events(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    with pytest.raises(FileNotFoundError):
        FileEventSchedule(path)(NOW)
    path.write_bytes(b"not json")
    with pytest.raises(ScheduleError, match=r"events\.json"):
        FileEventSchedule(path)(NOW)
