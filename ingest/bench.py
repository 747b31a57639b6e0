"""Ingest benchmark: events/s and p99 latency of ``POST /v1/beacons`` with Kafka acknowledgement,
against a bare FastAPI endpoint that only parses the JSON, both under the same wrk load."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from qoe.bench import BenchRow, LoadResult, post_load
from qoe.settings import Settings
from qoe.up import Child, wait_ready
from streams.broker import EmbeddedBroker, free_port
from streams.topics import ensure_topics, platform_topics

SECTION = "Ingest: POST /v1/beacons"
EVENTS_PER_BEACON = 20
SECONDS = 15


def bench_body() -> bytes:
    t0 = 1_790_000_000_000
    events = [{"type": "playback_request", "ts": t0, "seq": 0, "playhead_ms": 0}]
    events += [
        {"type": "heartbeat", "ts": t0 + 1000 * i, "seq": i, "playhead_ms": 1000 * i, "dropped_frames": 0}
        for i in range(1, EVENTS_PER_BEACON)
    ]
    beacon = {
        "version": 1,
        "view_id": "bench-view",
        "viewer_id": "bench-viewer",
        "batch_seq": 0,
        "sdk": {"name": "bench", "version": "1"},
        "context": {"player_name": "bench", "title_id": "t1", "cdn": "cdn-a", "country": "NO"},
        "events": events,
    }
    return orjson.dumps(beacon)


def _serve(name: str, args: list[str], env: dict[str, str], port: int, logs: Path) -> Child:
    import subprocess

    from qoe.process import die_with_parent

    log = (logs / f"{name}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, *args], env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
    )
    child = Child(name, process, logs / f"{name}.log")
    wait_ready([f"http://127.0.0.1:{port}/docs"], [child], 60)
    return child


def measure(settings: Settings, logs: Path) -> tuple[LoadResult, LoadResult]:
    body = bench_body()
    baseline_port, ours_port = free_port(), free_port()
    baseline = _serve(
        "bench-baseline",
        [
            "-m",
            "uvicorn",
            "--factory",
            "ingest.baseline:create_baseline_app",
            "--port",
            str(baseline_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        dict(os.environ),
        baseline_port,
        logs,
    )
    try:
        post_load(f"http://127.0.0.1:{baseline_port}/v1/beacons", body, seconds=3)
        base = post_load(f"http://127.0.0.1:{baseline_port}/v1/beacons", body, seconds=SECONDS)
    finally:
        baseline.stop()
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, platform_topics(settings))
        env = {**os.environ, "QOE_KAFKA_BOOTSTRAP": broker.bootstrap, "QOE_API_PORT": str(ours_port)}
        ours_child = _serve("bench-ingest", ["-m", "qoe", "ingest"], env, ours_port, logs)
        try:
            post_load(f"http://127.0.0.1:{ours_port}/v1/beacons", body, seconds=3)
            ours = post_load(f"http://127.0.0.1:{ours_port}/v1/beacons", body, seconds=SECONDS)
        finally:
            ours_child.stop()
    return ours, base


def run(settings: Settings) -> list[BenchRow]:
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ours, base = measure(settings, logs)
    ours_eps, base_eps = ours.requests_per_s * EVENTS_PER_BEACON, base.requests_per_s * EVENTS_PER_BEACON
    note = f"{EVENTS_PER_BEACON}-event beacons, wrk 1 thread × 16 connections, {SECONDS} s; one uvicorn process each"
    return [
        BenchRow(
            SECTION,
            "events/s accepted (202 after Kafka ack)",
            ours_eps,
            "events/s",
            base_eps,
            "bare FastAPI, JSON parse only",
            "≥ 0.7× baseline",
            ours_eps >= 0.7 * base_eps,
            note,
        ),
        BenchRow(
            SECTION,
            "p99 latency",
            ours.p99_ms,
            "ms",
            base.p99_ms,
            "bare FastAPI, JSON parse only",
            "reported",
            None,
            f"p50 {ours.p50_ms:.2f} ms vs {base.p50_ms:.2f} ms; non-2xx: {ours.non_2xx}",
        ),
    ]
