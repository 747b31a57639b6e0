"""The raw-event sink: every event of every beacon record becomes one row of ``beacon_events``.

The sink hands whole Kafka records to ClickHouse as JSONEachRow rows of the ``beacon_records``
Null table (:func:`warehouse.events.insert_records`); ClickHouse parses them and a materialized view
explodes each beacon into event rows. Python touches each record once, as bytes, so the per-event
work runs in ClickHouse's C++.

Exactly once, on an at-least-once log: each row keeps the Kafka source (cluster id and topic),
partition and offset of its record. Records above the highest offset stored for their partition
are new. Records at or below it are replayed (a worker crashed after inserting and before
committing its offsets) and are checked one by one against the table. Each insert covers one day
partition, so it is one block that ClickHouse applies atomically, and carries a deduplication
token made of its partition/offset ranges, so a retried insert is dropped by ClickHouse too.

A record ClickHouse refuses as bad data is isolated by halving its insert (``streams.failures``)
and returned for the dead-letter topic; every other record of the batch is written.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from streams.failures import RetryPolicy, write_isolating
from warehouse import events

log = logging.getLogger(__name__)

RECORD_PREFIX = b'{"server":'


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One Kafka record as the sink needs it."""

    partition: int
    offset: int
    value: bytes

    @property
    def events(self) -> int:
        # Cheap: ingest validated the beacon, and a JSON string cannot hold an unescaped '"seq":'.
        return self.value.count(b'"seq":')


@dataclass(frozen=True, slots=True)
class WriteResult:
    events: int
    bad: list[tuple[SourceRecord, str]]


def day_of(received_at_ms: int) -> int:
    return received_at_ms // 86_400_000


def received_day(record: SourceRecord) -> int:
    # The server context comes first in every record ingest writes, so this is a short scan.
    marker = record.value.find(b'"received_at":', 0, 64)
    if marker < 0:
        return 0
    digits = record.value[marker + 14 : marker + 40].split(b",", 1)[0].split(b"}", 1)[0].strip()
    return day_of(int(digits)) if digits.isdigit() else 0


def split_by_day(records: list[SourceRecord]) -> list[list[SourceRecord]]:
    """Groups records so each insert lands in one day partition, and is therefore one atomic block."""
    groups: dict[int, list[SourceRecord]] = defaultdict(list)
    for record in records:
        groups[received_day(record)].append(record)
    return [groups[day] for day in sorted(groups)]


def dedup_token(source: str, records: list[SourceRecord]) -> str:
    ranges: dict[int, list[int]] = {}
    for record in records:
        low_high = ranges.setdefault(record.partition, [record.offset, record.offset])
        low_high[0] = min(low_high[0], record.offset)
        low_high[1] = max(low_high[1], record.offset)
    parts = ",".join(f"{p}:{lo}-{hi}" for p, (lo, hi) in sorted(ranges.items()))
    return f"{source}|{parts}"


def json_each_row(source: str, records: list[SourceRecord]) -> bytes:
    """The records as JSONEachRow lines, each prefixed with its Kafka coordinates."""
    head = b'{"kafka_source":"' + source.encode() + b'","kafka_partition":'
    return b"\n".join(b'%s%d,"kafka_offset":%d,%s' % (head, r.partition, r.offset, r.value[1:]) for r in records)


class RawEventSink:
    """Writes beacon records into ``beacon_events``, at most once per (source, partition, offset).

    Thread-safe: the stream worker may have more than one insert in flight.
    """

    def __init__(self, client: Client, source: str, policy: RetryPolicy | None = None) -> None:
        self._client = client
        self.source = source
        self.policy = policy or RetryPolicy()
        self._stored: dict[int, int] | None = None
        self._lock = threading.Lock()
        self.events_written = 0
        self.replayed_skipped = 0

    def forget_offsets(self) -> None:
        """After a rebalance another worker may have written our partitions: re-read the ledger."""
        with self._lock:
            self._stored = None

    def _stored_offsets(self) -> dict[int, int]:
        if self._stored is None:
            self._stored = events.stored_offsets(self._client, self.source)
        return self._stored

    def write(self, records: list[SourceRecord]) -> WriteResult:
        """Insert every not-yet-stored record; returns the events inserted and the records refused."""
        fresh = self._not_stored(records)
        written = 0
        bad: list[tuple[SourceRecord, str]] = []
        for group in split_by_day(fresh):
            written += self._insert_isolating_bad(group, bad)
            with self._lock:
                stored = self._stored_offsets()
                for record in group:
                    stored[record.partition] = max(stored.get(record.partition, -1), record.offset)
        with self._lock:
            self.events_written += written
        return WriteResult(written, bad)

    def _not_stored(self, records: list[SourceRecord]) -> list[SourceRecord]:
        with self._lock:
            stored = dict(self._stored_offsets())
        fresh = [r for r in records if r.offset > stored.get(r.partition, -1)]
        replayed = [r for r in records if r.offset <= stored.get(r.partition, -1)]
        if replayed:
            present = self._present(replayed)
            missing = [r for r in replayed if (r.partition, r.offset) not in present]
            with self._lock:
                self.replayed_skipped += len(replayed) - len(missing)
            log.warning("replay: skipped %d records already stored", len(replayed) - len(missing))
            fresh += missing
        return fresh

    def _present(self, records: list[SourceRecord]) -> set[tuple[int, int]]:
        """Which replayed records are stored: exact, because day blocks may land out of offset order."""
        by_partition: dict[int, list[int]] = defaultdict(list)
        for record in records:
            by_partition[record.partition].append(record.offset)
        present: set[tuple[int, int]] = set()
        for partition, offsets in by_partition.items():
            stored = events.offsets_present(self._client, self.source, partition, min(offsets), max(offsets))
            present.update((partition, offset) for offset in stored)
        return present

    def _insert_isolating_bad(self, records: list[SourceRecord], bad: list[tuple[SourceRecord, str]]) -> int:
        good = [r for r in records if r.value.startswith(RECORD_PREFIX)]
        bad += [(r, "not a beacon record written by ingest") for r in records if not r.value.startswith(RECORD_PREFIX)]
        # Halves until the records ClickHouse refuses stand alone; the others still go in.
        refused = write_isolating(good, self._insert, self.policy)
        bad += [(r.item, r.reason) for r in refused]
        skipped = {(r.item.partition, r.item.offset) for r in refused}
        return sum(r.events for r in good if (r.partition, r.offset) not in skipped)

    def _insert(self, records: list[SourceRecord]) -> None:
        events.insert_records(self._client, json_each_row(self.source, records), dedup_token(self.source, records))
