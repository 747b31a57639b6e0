"""Sessionizer benchmarks, each beside a baseline measured in the same run.

- Throughput: events/s folded into views and written to the warehouse by a Faust worker running
  the sessionizer agent alone, against a raw aiokafka loop that reads and parses the same
  pre-filled topic and does nothing else (target ≥ 0.5× the loop). Two more figures on the same
  topic say where the time goes: a Faust agent that only counts and acknowledges records (the
  ceiling of any Faust agent with these consumer settings), and the deployed worker, where the raw
  sink and the CDN-score agent read the same records in the same process.
- Freshness: time from a beacon's 202 to its effect in ``GET /v1/stats/overview``, p50 and p99,
  under background traffic; the baseline is the raw-event path of the same beacons (202 → the
  event readable from ``GET /v1/events``). Target p99 ≤ 2 s.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from kafka import KafkaProducer

from bench.report import BenchRow
from bench.stream_runner import child_rate, faust_ceiling_row
from bench.streams import LOOP, baseline_rate, rate_between
from foundation.access import new_token
from foundation.broker import EmbeddedBroker, free_port
from foundation.process import spawn, wait_ready
from foundation.settings import Settings
from foundation.stack import LocalStack
from foundation.topics import ensure_topics, platform_topics

SECTION = "Sessionizer: beacons → views, rollups and the Stats API"
VIEWS = 2000
BEACONS_PER_VIEW = 10
EVENTS_PER_BEACON = 20
EVENT_GAP_MS = 500
PROBES = 100
BACKGROUND_VIEWS = 100


def view_beacons(view_id: str, t0: int) -> list[dict[str, Any]]:
    """One realistic view: startup, heartbeats with a stall and a switch now and then, then view_end."""
    kinds: list[dict[str, Any]] = [
        {"type": "playback_request"},
        {"type": "player_resize", "width": 1920, "height": 1080},
        {"type": "rendition_change", "bitrate_kbps": 2500.0, "width": 1280, "height": 720, "framerate": 30},
        {"type": "playback_start"},
    ]
    total = BEACONS_PER_VIEW * EVENTS_PER_BEACON
    while len(kinds) < total - 1:
        i = len(kinds)
        if i % 50 == 10:
            kinds += [{"type": "stall_start"}, {"type": "stall_end"}]
        elif i % 70 == 30:
            kinds.append({"type": "rendition_change", "bitrate_kbps": 4500.0, "width": 1920, "height": 1080})
        else:
            kinds.append({"type": "heartbeat", "dropped_frames": i // 10, "total_frames": i * 15})
    kinds = [*kinds[: total - 1], {"type": "view_end", "reason": "user_exit"}]
    events = [
        {**kind, "ts": t0 + i * EVENT_GAP_MS, "seq": i, "playhead_ms": i * EVENT_GAP_MS} for i, kind in enumerate(kinds)
    ]
    spread = zlib.crc32(view_id.encode())
    context = {"player_name": "bench", "title_id": f"title-{spread % 50}", "cdn": f"cdn-{spread % 3}"}
    return [
        {
            "version": 1,
            "view_id": view_id,
            "viewer_id": f"viewer-{view_id}",
            "batch_seq": b,
            "sent_at": events[(b + 1) * EVENTS_PER_BEACON - 1]["ts"],
            "sdk": {"name": "bench", "version": "1"},
            "context": context,
            "events": events[b * EVENTS_PER_BEACON : (b + 1) * EVENTS_PER_BEACON],
        }
        for b in range(BEACONS_PER_VIEW)
    ]


def bench_records(now_ms: int) -> Iterator[tuple[bytes, bytes]]:
    """Every view's beacons, interleaved the way concurrent viewers send them."""
    t0 = now_ms - BEACONS_PER_VIEW * EVENTS_PER_BEACON * EVENT_GAP_MS
    views = [view_beacons(f"bench-{i}", t0 + i) for i in range(VIEWS)]
    for b in range(BEACONS_PER_VIEW):
        for beacons in views:
            beacon = beacons[b]
            server = {"received_at": beacon["sent_at"] + 30, "country": "NO", "device_type": "desktop"}
            yield str(beacon["view_id"]).encode(), orjson.dumps({"server": server, "beacon": beacon})


def fill_topic(bootstrap: str, topic: str) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=1_048_576)
    events = 0
    for key, value in bench_records(int(time.time() * 1000)):
        events += value.count(b'"seq":')
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    return events


def worker_rate(bootstrap: str, total_events: int, data_dir: Path) -> float:
    """The deployed worker (every agent) from the same topic; progress = events in the overview."""
    port = free_port()
    token = new_token()  # the worker's API registers it; the overview needs a token
    env = {**os.environ, "QOE_KAFKA_BOOTSTRAP": bootstrap, "QOE_DATA_DIR": str(data_dir), "QOE_ADMIN_TOKEN": str(token)}
    env["QOE_INTERNAL_API_PORT"] = str(port)
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    worker = spawn("bench-worker", ["worker", "--api"], env, logs)
    samples: list[tuple[float, int]] = []
    try:
        wait_ready([f"http://127.0.0.1:{port}/healthz"], [worker], 90)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=token.bearer, timeout=10) as client:
            deadline = time.monotonic() + 600
            while not samples or samples[-1][1] < total_events:
                body = client.get("/v1/stats/overview", params={"minutes": 60}).json()
                samples.append((time.monotonic(), int(body["events"] or 0)))
                if time.monotonic() > deadline:
                    raise TimeoutError(f"sessionizer folded {samples[-1][1]} of {total_events} events in 600 s")
                time.sleep(0.1)
    finally:
        worker.stop()
    return rate_between(samples, total_events)


def _background(gateway: str, stop: threading.Event) -> None:
    """Steady traffic: BACKGROUND_VIEWS views, each sending a 10-event beacon about every 2 s."""
    with httpx.Client(base_url=gateway, timeout=10) as client:
        seqs = dict.fromkeys(range(BACKGROUND_VIEWS), 0)
        started = time.time()
        while not stop.is_set():
            for v in range(BACKGROUND_VIEWS):
                now = int(time.time() * 1000)
                seq = seqs[v]
                kinds = ["playback_request", "playback_start"] if seq == 0 else []
                kinds += ["heartbeat"] * (10 - len(kinds))
                events = [{"type": k, "ts": now, "seq": seq + i, "playhead_ms": 0} for i, k in enumerate(kinds)]
                seqs[v] = seq + len(events)
                beacon = {
                    "version": 1,
                    "view_id": f"bg-{int(started)}-{v}",
                    "viewer_id": "bg",
                    "batch_seq": seq // 10,
                    "sdk": {"name": "bench", "version": "1"},
                    "context": {"title_id": "background"},
                    "events": events,
                }
                client.post("/v1/beacons", json=beacon)
                if stop.wait(2.0 / BACKGROUND_VIEWS):
                    return


def freshness(data_dir: Path) -> tuple[list[float], list[float]]:
    """Seconds from 202 to the overview (ours) and to the raw event (baseline), per probe."""
    ours: list[float] = []
    raw: list[float] = []
    with LocalStack(data_dir) as stack:
        stop = threading.Event()
        traffic = threading.Thread(target=_background, args=(stack.gateway, stop), daemon=True)
        traffic.start()
        try:
            with httpx.Client(base_url=stack.gateway, headers=stack.auth_headers, timeout=10) as client:
                for i in range(PROBES + 5):
                    o, r = _probe(client, f"probe-{i}-{int(time.time())}")
                    if i >= 5:  # the first probes pay for the consumer group join
                        ours.append(o)
                        raw.append(r)
                    time.sleep(0.2)
        finally:
            stop.set()
            traffic.join()
    return ours, raw


def _probe(client: httpx.Client, view_id: str) -> tuple[float, float]:
    now = int(time.time() * 1000)
    beacon = {
        "version": 1,
        "view_id": view_id,
        "viewer_id": "probe",
        "batch_seq": 0,
        "sdk": {"name": "bench", "version": "1"},
        "context": {"title_id": view_id},
        "events": [{"type": "playback_request", "ts": now, "seq": 0, "playhead_ms": 0}],
    }
    response = client.post("/v1/beacons", json=beacon)
    accepted = time.monotonic()
    response.raise_for_status()
    seen: dict[str, float] = {}
    deadline = accepted + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        if "ours" not in seen:
            body = client.get("/v1/stats/overview", params={"minutes": 5, "title": view_id}).json()
            if body.get("attempts") == 1:
                seen["ours"] = time.monotonic() - accepted
        if "raw" not in seen and client.get("/v1/events", params={"view_id": view_id}).status_code == 200:
            seen["raw"] = time.monotonic() - accepted
        time.sleep(0.01)
    if len(seen) < 2:
        raise TimeoutError(f"probe {view_id} not visible after 30 s: {seen}")
    return seen["ours"], seen["raw"]


def run(settings: Settings) -> list[BenchRow]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(dir=settings.data_dir) as tmp:
        ensure_topics(broker.bootstrap, platform_topics(settings))
        total = fill_topic(broker.bootstrap, settings.topic_beacons)
        base = baseline_rate(broker.bootstrap, settings.topic_beacons, total)
        count_only = child_rate("count-only", broker.bootstrap, total, Path(tmp))
        ours = child_rate("sessionizer", broker.bootstrap, total, Path(tmp))
        deployed = worker_rate(broker.bootstrap, total, Path(tmp))
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as tmp:
        fresh, raw = freshness(Path(tmp))
    p50, p99 = (float(np.percentile(fresh, q)) for q in (50, 99))
    raw50, raw99 = (float(np.percentile(raw, q)) for q in (50, 99))
    shape = f"{VIEWS:,} views × {BEACONS_PER_VIEW} beacons × {EVENTS_PER_BEACON} events"
    probes = f"{PROBES} probes (a new view each) beside {BACKGROUND_VIEWS} background views, polled every 10 ms"
    return [
        BenchRow(
            SECTION,
            "events/s folded and written (sessionizer agent alone)",
            ours,
            "events/s",
            base,
            LOOP,
            "≥ 0.5× baseline",
            ours >= 0.5 * base,
            f"{shape}; rate between 10% and 100% of the events",
        ),
        faust_ceiling_row(SECTION, count_only, base),
        BenchRow(
            SECTION,
            "events/s folded and written (sessionizer agent alone)",
            ours,
            "events/s",
            count_only,
            "Faust agent that only counts and acks",
            "reported",
            None,
            "how much of that ceiling the sessionizer keeps",
        ),
        BenchRow(
            SECTION,
            "events/s folded and written (deployed worker)",
            deployed,
            "events/s",
            base,
            LOOP,
            "reported",
            None,
            "qoe worker --api: raw sink, sessionizer and CDN-score agents read every record in one process",
        ),
        BenchRow(
            SECTION,
            "freshness p50: 202 → /v1/stats/overview",
            p50,
            "s",
            raw50,
            "202 → raw event readable",
            "reported",
            None,
            probes,
        ),
        BenchRow(
            SECTION,
            "freshness p99: 202 → /v1/stats/overview",
            p99,
            "s",
            raw99,
            "202 → raw event readable",
            "≤ 2 s",
            p99 <= 2.0,
            probes,
        ),
    ]
