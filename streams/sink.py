"""The raw-event sink: every event of every beacon record becomes one row of ``beacon_events``.

Exactly once, on an at-least-once log: each row keeps the Kafka source (cluster id and topic),
partition and offset of its record. Before inserting, the sink skips records at or below the
highest offset already stored for their partition, so a worker that crashed after inserting but
before committing its offsets replays nothing twice. Each insert is one block (one day partition,
see ``split_by_day``), which ClickHouse applies atomically, and carries a deduplication token made
of the partition/offset ranges, so a retried insert is dropped by ClickHouse too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

TABLE = "beacon_events"
_BASE_FIELDS = frozenset(("type", "ts", "playhead_ms", "seq"))
_STRING_COLUMNS = (
    "view_id",
    "viewer_id",
    "type",
    "cdn",
    "country",
    "region",
    "device_type",
    "os",
    "browser",
    "player_name",
    "player_version",
    "title_id",
    "stream_type",
    "sdk_name",
    "sdk_version",
    "attrs",
)
_SCHEMA = pa.schema(
    [
        ("received_at", pa.timestamp("ms", tz="UTC")),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("batch_seq", pa.uint32()),
        ("seq", pa.uint32()),
        ("playhead_ms", pa.uint64()),
        ("asn", pa.uint32()),
        ("kafka_source", pa.string()),
        ("kafka_partition", pa.uint16()),
        ("kafka_offset", pa.uint64()),
        *((name, pa.string()) for name in _STRING_COLUMNS),
    ]
)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One Kafka record as the sink needs it."""

    partition: int
    offset: int
    value: bytes


class BadRecordError(ValueError):
    """A record on the beacons topic that is not a beacon record (written by something else)."""


@dataclass
class EventColumns:
    """Column buffers for one insert, appended to record by record."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    rows: int = 0

    def add_record(self, source: str, record: SourceRecord) -> int:
        try:
            doc = orjson.loads(record.value)
            beacon, server = doc["beacon"], doc["server"]
            dims = _dimensions(beacon, server)
            events = beacon["events"]
            received_at = int(server["received_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BadRecordError(f"partition {record.partition} offset {record.offset}: {exc!r}") from exc
        cols = self.columns
        for event in events:
            cols["received_at"].append(received_at)
            cols["ts"].append(event["ts"])
            cols["seq"].append(event["seq"])
            cols["playhead_ms"].append(event["playhead_ms"])
            cols["type"].append(event["type"])
            cols["attrs"].append(_attrs(event))
            for name, value in dims.items():
                cols[name].append(value)
            cols["kafka_source"].append(source)
            cols["kafka_partition"].append(record.partition)
            cols["kafka_offset"].append(record.offset)
        self.rows += len(events)
        return len(events)

    def to_arrow(self) -> pa.Table:
        return pa.table({name: pa.array(self.columns[name], type=_SCHEMA.field(name).type) for name in _SCHEMA.names})


def _attrs(event: dict[str, Any]) -> str:
    extra = {k: v for k, v in event.items() if k not in _BASE_FIELDS}
    return orjson.dumps(extra).decode() if extra else "{}"


def _dimensions(beacon: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    """Per-beacon columns. Edge geo headers beat what a client claims; a client's device hints beat UA parsing."""
    ctx = beacon.get("context") or {}
    sdk = beacon["sdk"]
    return {
        "view_id": beacon["view_id"],
        "viewer_id": beacon["viewer_id"],
        "batch_seq": beacon["batch_seq"],
        "cdn": ctx.get("cdn", ""),
        "country": server.get("country") or ctx.get("country", ""),
        "region": server.get("region") or ctx.get("region", ""),
        "asn": server.get("asn") or ctx.get("asn") or 0,
        "device_type": ctx.get("device_type") or server.get("device_type", ""),
        "os": ctx.get("os") or server.get("os", ""),
        "browser": ctx.get("browser") or server.get("browser", ""),
        "player_name": ctx.get("player_name", ""),
        "player_version": ctx.get("player_version", ""),
        "title_id": ctx.get("title_id", ""),
        "stream_type": ctx.get("stream_type", "vod"),
        "sdk_name": sdk["name"],
        "sdk_version": sdk["version"],
    }


def day_of(received_at_ms: int) -> int:
    return received_at_ms // 86_400_000


def split_by_day(records: list[SourceRecord]) -> list[list[SourceRecord]]:
    """Groups records so each insert lands in one day partition, and is therefore one atomic block."""
    groups: dict[int, list[SourceRecord]] = defaultdict(list)
    for record in records:
        groups[_received_day(record)].append(record)
    return [groups[day] for day in sorted(groups)]


def _received_day(record: SourceRecord) -> int:
    # Cheap: the server context comes first in every record ingest writes.
    marker = record.value.find(b'"received_at":')
    if marker < 0:
        return 0
    digits = record.value[marker + 14 : marker + 40].split(b",", 1)[0].split(b"}", 1)[0]
    return day_of(int(digits)) if digits.strip().isdigit() else 0


def dedup_token(source: str, records: list[SourceRecord]) -> str:
    ranges: dict[int, list[int]] = {}
    for record in records:
        low_high = ranges.setdefault(record.partition, [record.offset, record.offset])
        low_high[0] = min(low_high[0], record.offset)
        low_high[1] = max(low_high[1], record.offset)
    parts = ",".join(f"{p}:{lo}-{hi}" for p, (lo, hi) in sorted(ranges.items()))
    return f"{source}|{parts}"


class RawEventSink:
    """Writes beacon records into ``beacon_events``, at most once per (source, partition, offset)."""

    def __init__(self, client: Client, source: str) -> None:
        self._client = client
        self.source = source
        self._stored: dict[int, int] | None = None
        self.rows_written = 0
        self.replayed_skipped = 0
        self.bad_records: list[tuple[SourceRecord, str]] = []

    def forget_offsets(self) -> None:
        """After a rebalance another worker may have written our partitions: re-read the ledger."""
        self._stored = None

    def stored_offsets(self) -> dict[int, int]:
        if self._stored is None:
            rows = self._client.query(
                f"SELECT kafka_partition, max(kafka_offset) FROM {TABLE} "
                "WHERE kafka_source = {source:String} GROUP BY kafka_partition",
                parameters={"source": self.source},
            ).result_rows
            self._stored = {int(p): int(o) for p, o in rows}
        return self._stored

    def write(self, records: list[SourceRecord]) -> int:
        """Insert every not-yet-stored record; returns the rows inserted."""
        stored = self.stored_offsets()
        fresh = [r for r in records if r.offset > stored.get(r.partition, -1)]
        replayed = [r for r in records if r.offset <= stored.get(r.partition, -1)]
        if replayed:
            present = self._present(replayed)
            missing = [r for r in replayed if (r.partition, r.offset) not in present]
            fresh += missing
            self.replayed_skipped += len(replayed) - len(missing)
            log.warning("replay: skipped %d records already stored", len(replayed) - len(missing))
        written = 0
        for group in split_by_day(fresh):
            written += self._insert(group)
            for record in group:
                stored[record.partition] = max(stored.get(record.partition, -1), record.offset)
        self.rows_written += written
        return written

    def _present(self, records: list[SourceRecord]) -> set[tuple[int, int]]:
        """Which of these replayed records are stored: exact, because day groups may land out of offset order."""
        by_partition: dict[int, list[int]] = defaultdict(list)
        for record in records:
            by_partition[record.partition].append(record.offset)
        present: set[tuple[int, int]] = set()
        for partition, offsets in by_partition.items():
            rows = self._client.query(
                f"SELECT DISTINCT kafka_offset FROM {TABLE} WHERE kafka_source = {{source:String}} "
                "AND kafka_partition = {partition:UInt16} AND kafka_offset BETWEEN {low:UInt64} AND {high:UInt64}",
                parameters={"source": self.source, "partition": partition, "low": min(offsets), "high": max(offsets)},
            ).result_rows
            present.update((partition, int(offset)) for (offset,) in rows)
        return present

    def _insert(self, records: list[SourceRecord]) -> int:
        columns = EventColumns()
        for record in records:
            try:
                columns.add_record(self.source, record)
            except BadRecordError as exc:
                log.warning("skipping a record that is not a beacon record: %s", exc)
                self.bad_records.append((record, str(exc)))
        if columns.rows == 0:
            return 0
        self._client.insert_arrow(
            TABLE, columns.to_arrow(), settings={"insert_deduplication_token": dedup_token(self.source, records)}
        )
        return columns.rows


def utc_now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
