"""Stats API latency with ≥ 10M events in the warehouse, beside a raw-event route in the same run.

The warehouse is filled in SQL (``INSERT … SELECT`` from ``numbers()``), through the tables the
pipeline fills, so their materialized views run as they do in production:

- ``beacon_events``: 250,000 views × 40 events = 10,000,000 rows, over the last 24 hours. Each view
  is a request, a rendition, a first frame, heartbeats, one stall in four views and a view_end,
  7.5 s apart (a 5-minute view); dimensions are drawn per view from a hash of its number: 3 CDNs,
  12 countries, 60 ASNs, 4 device types, 3 players, 400 titles, VOD or live.
- ``views``: each view twice (an open version, then the closed one), with the figures its events give.
- ``view_deltas``: each view's five minutes, each written as two deltas (an open view is rewritten
  while it plays), with its attempt, play and startup time in its first minute and its end and score
  in its last: 2,500,000 rows, which fill ``qoe_minute``, ``qoe_minute_cube`` and ``qoe_hour``.

Then ``OPTIMIZE … FINAL`` merges the parts, as the background merges of a running warehouse do.

The API runs in a child process (chDB opens one data directory per process) on a uvicorn thread;
requests are sequential, from the same child. The baseline is ``GET /v1/events/summary``, which
answers from the raw events.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.report import BenchRow
from foundation.settings import Settings

SECTION = "Stats API: latency over 10M events"
VIEWS = 250_000
EVENTS_PER_VIEW = 40
MINUTES_PER_VIEW = 5
REQUESTS = 30
QUERIES = (
    "/v1/stats/overview?minutes=60",
    "/v1/stats/overview?minutes=1440",
    "/v1/stats/overview?minutes=60&cdn=cdn-1&country=C3",
    "/v1/stats/breakdown?dimension=cdn&minutes=60",
    "/v1/stats/breakdown?dimension=title&minutes=1440",
    "/v1/stats/breakdown?dimension=asn&minutes=60&device_type=tv",
    "/v1/stats/timeseries?metric=rebuffer_ratio&step=1m&minutes=60",
    "/v1/stats/timeseries?metric=concurrent_viewers&step=15m&minutes=1440",
    "/v1/views/bench-123457",
)
BASELINE = "/v1/events/summary?minutes=60"

# Per-view values drawn from hashes of the view number, shared by every table below.
_VIEW = """
    concat('bench-', toString(v)) AS view_id,
    toUnixTimestamp64Milli(now64(3)) AS now_ms,
    now_ms - 360000 - toInt64(cityHash64(v, 'start') % 86040000) AS start_ms,
    concat('cdn-', toString(cityHash64(v, 'cdn') % 3)) AS cdn,
    concat('C', toString(cityHash64(v, 'country') % 12)) AS country,
    toUInt32(64500 + cityHash64(v, 'asn') % 60) AS asn,
    ['desktop', 'mobile', 'tablet', 'tv'][1 + cityHash64(v, 'device') % 4] AS device_type,
    ['web', 'ios', 'android'][1 + cityHash64(v, 'player') % 3] AS player_name,
    concat('title-', toString(cityHash64(v, 'title') % 400)) AS title_id,
    if(cityHash64(v, 'live') % 5 = 0, 'live', 'vod') AS stream_type,
    300 + toInt64(cityHash64(v, 'vst') % 2700) AS vst_ms,
    cityHash64(v, 'stall') % 4 = 0 AS stalled
"""

_EVENTS = f"""
INSERT INTO beacon_events
SELECT
    fromUnixTimestamp64Milli(ts_ms + 50, 'UTC') AS received_at,
    fromUnixTimestamp64Milli(ts_ms, 'UTC') AS ts,
    view_id, concat('viewer-', toString(v % 50000)) AS viewer_id, intDiv(seq, 10) AS batch_seq, seq, type,
    toUInt64(seq * 7500) AS playhead_ms, cdn, country, '' AS region, asn, device_type, 'Linux' AS os,
    'Chrome' AS browser, player_name, '1.0' AS player_version, title_id, stream_type,
    'bench' AS sdk_name, '1' AS sdk_version,
    concat('{{"type":"', type, '","ts":', toString(ts_ms), ',"seq":', toString(seq), ',"playhead_ms":',
        toString(seq * 7500), '}}') AS attrs,
    'bench/beacons' AS kafka_source, toUInt16(v % 4) AS kafka_partition, number AS kafka_offset,
    'default' AS property
FROM (
    SELECT number, intDiv(number, {EVENTS_PER_VIEW}) AS v, number % {EVENTS_PER_VIEW} AS seq, {_VIEW},
        multiIf(seq = 0, 'playback_request', seq = 1, 'rendition_change', seq = 2, 'playback_start',
                seq = {EVENTS_PER_VIEW - 1}, 'view_end', stalled AND seq = 20, 'stall_start',
                stalled AND seq = 21, 'stall_end', 'heartbeat') AS type,
        start_ms + if(seq < 2, seq * 50, vst_ms + (seq - 2) * 7500) AS ts_ms
    FROM numbers({VIEWS * EVENTS_PER_VIEW})
)
"""

_VIEWS = f"""
INSERT INTO views (view_id, version, viewer_id, first_seen_at, last_received_at, clock_offset_ms, requested_at,
    started_at, ended_at, last_event_at, closed, exit_reason, cdn, first_cdn, country, asn, device_type, os,
    browser, player_name, title_id, stream_type, sdk_name, sdk_version, attempt, played, vst_ms, watch_ms,
    playing_ms, stall_count, stall_ms, rebuffer_ratio, avg_bitrate_kbps, upswitches, downswitches, qoe_score,
    events, max_seq)
SELECT view_id, toUInt64(start_ms * 1000 + closed) AS version, concat('viewer-', toString(v % 50000)),
    fromUnixTimestamp64Milli(start_ms + 50, 'UTC'), fromUnixTimestamp64Milli(end_ms + 50, 'UTC'), 0,
    fromUnixTimestamp64Milli(start_ms, 'UTC'), fromUnixTimestamp64Milli(start_ms + vst_ms, 'UTC'),
    if(closed, fromUnixTimestamp64Milli(end_ms, 'UTC'), NULL), fromUnixTimestamp64Milli(end_ms, 'UTC'),
    closed, if(closed, 'user_exit', ''), cdn, cdn, country, asn, device_type, 'Linux', 'Chrome', player_name,
    title_id, stream_type, 'bench', '1', 1, 1, vst_ms, watch_ms, watch_ms - stall_ms, stalled, stall_ms,
    stall_ms / watch_ms, 2500, 0, 0, 95 - stalled * 10, events, events - 1
FROM (
    SELECT number, intDiv(number, 2) AS v, number % 2 AS closed, {_VIEW},
        if(closed, {EVENTS_PER_VIEW}, {EVENTS_PER_VIEW // 2}) AS events,
        start_ms + vst_ms + (events - 3) * 7500 AS end_ms,
        toFloat64((events - 3) * 7500) AS watch_ms, if(stalled AND closed, 7500.0, 0.0) AS stall_ms
    FROM numbers({VIEWS * 2})
)
"""

_DELTAS = f"""
INSERT INTO view_deltas (minute, view_id, version, cdn, country, asn, device_type, os, browser, player_name,
    title_id, stream_type, sdk_name, sdk_version, watch_ms, playing_ms, stall_ms, stall_count, bitrate_ms,
    bitrate_weight_ms, events, attempts, plays, vst_count, vst_sum_ms, ended_views, ended_watch_ms, scored_views,
    score_sum, active_samples, vst_ms, vst_samples)
SELECT toStartOfMinute(fromUnixTimestamp64Milli(start_ms, 'UTC')) + toIntervalMinute(m) AS minute, view_id,
    toUInt64(start_ms * 1000 + half), cdn, country, asn, device_type, 'Linux', 'Chrome', player_name, title_id,
    stream_type, 'bench', '1', 27750, 27750 - stall, stall, stall > 0, 2500 * (27750 - stall), 27750 - stall,
    {EVENTS_PER_VIEW // (2 * MINUTES_PER_VIEW)}, first, first, first, first * vst_ms, last, last * 277500,
    last, last * (95 - stalled * 10), arrayWithConstant(12, toInt32(half = 0)), if(first, vst_ms, 0), first
FROM (
    SELECT number, intDiv(number, {2 * MINUTES_PER_VIEW}) AS v, intDiv(number % {2 * MINUTES_PER_VIEW}, 2) AS m,
        number % 2 AS half, {_VIEW}, toUInt8(m = 0 AND half = 0) AS first,
        toUInt8(m = {MINUTES_PER_VIEW - 1} AND half = 1) AS last, if(stalled AND m = 2 AND half = 0, 7500, 0) AS stall
    FROM numbers({VIEWS * MINUTES_PER_VIEW * 2})
)
"""


def fill(client: Any) -> dict[str, int]:
    """Runs the three INSERT … SELECT statements; returns the rows each table holds."""
    settings = {"max_insert_threads": 2, "max_threads": 2}
    for statement in (_EVENTS, _VIEWS, _DELTAS):
        client.command(statement, settings=settings)
    # A warehouse that has been running has merged its parts in the background; catch up at once.
    for table in ("views", "qoe_minute", "qoe_minute_cube", "qoe_hour"):
        client.command(f"OPTIMIZE TABLE {table} FINAL")
    tables = ("beacon_events", "views", "view_deltas", "qoe_minute", "qoe_minute_cube", "qoe_hour")
    return {t: int(client.query(f"SELECT count() FROM {t}").result_rows[0][0]) for t in tables}


def _p95(samples: list[float]) -> float:
    return float(np.percentile(samples, 95))


def measure(data_dir: Path, out: Path) -> None:
    """The child: fill, serve, time every query REQUESTS times, write the figures as JSON."""
    import httpx

    from bench.tokens import read_access
    from foundation.broker import free_port
    from foundation.servers import serve_asgi
    from warehouse import api as events_api
    from warehouse.app import create_api
    from warehouse.client import connect
    from warehouse.migrations import migrate
    from warehouse.stats import api as stats_api

    settings = Settings(_env_file=None, data_dir=data_dir)
    client = connect(settings, bounded=False)  # the fill is INSERT … SELECT of 10M rows: past the read bounds
    migrate(client, settings)
    started = time.monotonic()
    rows = fill(client)
    load_s = time.monotonic() - started
    port = free_port()
    tokens, headers = read_access(client)
    app = create_api(settings, client, [stats_api.router, events_api.router], tokens=tokens)
    server = serve_asgi("bench-api", app, "127.0.0.1", port)
    latencies: dict[str, list[float]] = {url: [] for url in (*QUERIES, BASELINE)}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            _wait_ready(http)
            for _ in range(REQUESTS + 2):
                for url in latencies:
                    t0 = time.perf_counter()
                    http.get(url).raise_for_status()
                    latencies[url].append((time.perf_counter() - t0) * 1000)
    finally:
        server.stop()
    figures = {url: values[2:] for url, values in latencies.items()}  # the first two warm caches up
    out.write_bytes(orjson.dumps({"rows": rows, "load_s": load_s, "latency_ms": figures}))


def _wait_ready(http: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if http.get("/healthz").status_code == 200:
                return
        except Exception:
            time.sleep(0.1)
    raise TimeoutError("the bench API did not come up")


def run(settings: Settings) -> list[BenchRow]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as tmp:
        out = Path(tmp) / "figures.json"
        log = Path(tmp) / "bench.log"
        with log.open("wb") as sink:
            command = [sys.executable, "-m", "bench.stats_api", str(Path(tmp) / "data"), str(out)]
            subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, timeout=1800, check=False, env=os.environ)
        if not out.exists():
            raise RuntimeError(f"the Stats API benchmark wrote no figures:\n{log.read_text()[-3000:]}")
        figures = orjson.loads(out.read_bytes())
    latency: dict[str, list[float]] = figures["latency_ms"]
    ours = [x for url in QUERIES for x in latency[url]]
    base = latency[BASELINE]
    rows = figures["rows"]
    note = (
        f"{rows['beacon_events']:,} events, {rows['views']:,} view rows, {rows['view_deltas']:,} deltas "
        f"(loaded in SQL in {figures['load_s']:.0f} s, see bench/stats_api.py); {len(QUERIES)} queries × "
        f"{REQUESTS} sequential requests; embedded chDB"
    )
    slowest = max(QUERIES, key=lambda url: _p95(latency[url]))
    return [
        BenchRow(
            SECTION,
            "p95 latency, every /v1/stats and /v1/views query",
            _p95(ours),
            "ms",
            _p95(base),
            "GET /v1/events/summary (raw events, last hour)",
            "≤ 200 ms",
            _p95(ours) <= 200,
            note,
        ),
        BenchRow(
            SECTION,
            "p95 latency of the slowest query",
            _p95(latency[slowest]),
            "ms",
            _p95(base),
            "GET /v1/events/summary (raw events, last hour)",
            "reported",
            None,
            slowest,
        ),
    ]


if __name__ == "__main__":
    measure(Path(sys.argv[1]), Path(sys.argv[2]))
