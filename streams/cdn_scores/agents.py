"""Delivery's Faust agents, in the stream worker (which owns the warehouse).

* ``cdn-score-fold`` reads the beacons topic (a second subscriber beside the raw sink: Faust
  fetches each record once and hands it to both) and folds every beacon into
  :class:`~streams.cdn_scores.live.LiveScores`.
* ``cdn-score-publish`` every ``steering_score_tick_s`` computes the figures of every (CDN,
  back-off group) and publishes them to the compacted ``cdn-scores`` topic, keyed
  ``cdn|group``; a key that has no figure any more gets a tombstone, so the board forgets it.
* ``steering-decision-sink`` writes the gateway's decision log (``steering-decisions``) into the
  ``steering_decisions`` table (:func:`warehouse.steering.insert_decisions`); the table's key makes
  a replayed record replace itself.

No record blocks its partition: the fold skips (and logs) a record it cannot fold, and the decision
sink dead-letters a record it cannot read or the warehouse refuses as bad data
(``streams.failures``), retrying only transient failures until they pass.

Each worker folds the views of the beacon partitions it owns. With one worker (``qoe up``) that
is every view; running several workers needs a merge step before publishing (see
docs/steering.md, "Live figures").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import faust
import orjson
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from schemas.steering import CdnScore
from streams.cdn_scores.live import LiveScoreConfig, LiveScores, ScoreRecordError
from streams.failures import Refused, RetryPolicy, dead_letter, until_done, write_isolating
from warehouse.steering import DECISION_COLUMNS, insert_decisions

log = logging.getLogger(__name__)

TAKE_RECORDS = 2000
TAKE_WITHIN_S = 0.1


class ScorePublisher:
    """What to send each tick: every current figure, and a tombstone for each key that lost its own."""

    def __init__(self) -> None:
        self._published: set[bytes] = set()

    def records(self, scores: Iterable[CdnScore]) -> list[tuple[bytes, bytes | None]]:
        out: list[tuple[bytes, bytes | None]] = []
        current = set()
        for score in scores:
            key = score.kafka_key
            current.add(key)
            out.append((key, score.to_json()))
        out.extend((key, None) for key in sorted(self._published - current))
        self._published = current
        return out


def decision_row(value: bytes) -> list[Any]:
    """A decision log record as a row of ``steering_decisions``; ValueError when it is not one."""
    try:
        raw = orjson.loads(value)
        row = [raw[column] for column in DECISION_COLUMNS]
        decided_at = datetime.fromisoformat(raw["decided_at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a steering decision record: {exc}") from None
    if decided_at.tzinfo is None:
        raise ValueError("decided_at must carry its UTC offset")
    row[0] = decided_at
    return row


def write_decisions(client: Client, values: list[bytes], policy: RetryPolicy | None = None) -> list[Refused[bytes]]:
    """Inserts every record it can; returns those it cannot read or the warehouse refuses as bad data.

    Blocking; transient failures raise, and a retry is harmless (the table's key replaces a row).
    """
    readable: list[tuple[bytes, list[Any]]] = []
    refused: list[Refused[bytes]] = []
    for value in values:
        try:
            readable.append((value, decision_row(value)))
        except ValueError as exc:
            refused.append(Refused(value, str(exc)))
    bad = write_isolating(
        readable, lambda batch: insert_decisions(client, [row for _, row in batch]), policy or RetryPolicy()
    )
    return refused + [Refused(b.item[0], b.reason) for b in bad]


def _write_decisions(warehouse: Callable[[], Client], values: list[bytes], policy: RetryPolicy) -> list[Refused[bytes]]:
    return write_decisions(warehouse(), values, policy)


def add_steering_agents(
    app: faust.App,
    settings: Settings,
    warehouse: Callable[[], Client],
    *,
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> LiveScores:
    """Register the score fold, the score publisher and the decision sink on ``app``."""
    live = LiveScores(LiveScoreConfig.from_settings(settings))
    policy = RetryPolicy.from_settings(settings)
    beacons = app.topic(settings.topic_beacons, key_type=bytes, value_type=bytes, value_serializer="raw")
    dead_letters = app.topic(settings.topic_dead_letter, value_serializer="raw")
    scores_topic = app.topic(settings.topic_cdn_scores, key_type=bytes, value_type=bytes, value_serializer="raw")
    decisions = app.topic(settings.topic_steering_decisions, key_type=bytes, value_type=bytes, value_serializer="raw")
    publisher = ScorePublisher()

    @app.agent(beacons, name="cdn-score-fold")
    async def fold(stream: Any) -> None:
        async for values in stream.take(TAKE_RECORDS, within=TAKE_WITHIN_S):
            for value in values:
                fold_one(live, value)

    @app.task
    async def publish_scores() -> None:
        # A loop rather than app.timer: publishing may outlast a tick under load, and that is fine.
        while True:
            await asyncio.sleep(settings.steering_score_tick_s)
            try:
                records = publisher.records(live.scores(clock_ms()))
                for key, value in records:
                    await scores_topic.send(key=key, value=value)
            except Exception:  # a bad tick must not stop the next ones
                log.exception("publishing CDN scores failed")

    @app.agent(decisions, name="steering-decision-sink")
    async def decision_sink(stream: Any) -> None:
        async for values in stream.take(TAKE_RECORDS, within=0.5):
            batch = [v for v in values if isinstance(v, bytes)]
            write = functools.partial(_write_decisions, warehouse, batch, policy)
            for bad in await until_done(write, "steering decision sink: warehouse insert"):
                log.warning("steering decision record refused: %s", bad.reason)
                source = f"steering-decision-sink:{settings.topic_steering_decisions}"
                await dead_letters.send(value=dead_letter(source, bad.reason, bad.item))

    return live


def fold_one(live: LiveScores, value: bytes) -> None:
    """Folds one record; one it cannot fold is skipped with a log line and never stops the agent."""
    try:
        live.ingest_record(value)
    except ScoreRecordError as exc:
        log.debug("score fold skipped a record: %s", exc)
    except Exception:  # a record the fold cannot handle must not crash the agent (and loop on restart)
        live.stats.rejected += 1
        log.warning("score fold skipped a record it could not fold", exc_info=True)
