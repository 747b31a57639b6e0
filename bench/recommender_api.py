"""Benchmark of serving through the API: ``GET /v1/recommendations/{viewer_id}`` on a full warehouse.

Runs in a child process (``python -m bench.recommender_api DATA_DIR OUT``): the embedded warehouse
opens one data directory per process. The child migrates a fresh warehouse, loads the bundled
catalogue, writes ``VIEWS`` views of ``VIEWERS`` viewers into ``views`` in SQL (titles drawn from
the catalogue with a popularity skew; 8 % of views impaired), trains the production config from
the warehouse as ``qoe recommender train`` does (model selection skipped: one candidate), serves the API with
uvicorn and times sequential requests for random viewers.

Baseline, same run and warehouse: ``GET /v1/views/{view_id}``, the Stats API's read of one view
by its primary key: the cheapest warehouse-backed answer the platform gives.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from foundation.settings import Settings

VIEWERS = 50_000
VIEWS_PER_VIEWER = 20
REQUESTS = 300
WARM_UP = 5


def fill_views(client: Any, title_ids: list[str], viewers: int, per_viewer: int, now: datetime) -> int:
    """``viewers × per_viewer`` closed VOD views over the last 30 days, generated in SQL."""
    total = viewers * per_viewer
    client.command(
        f"""
        INSERT INTO views (view_id, version, viewer_id, first_seen_at, last_received_at, requested_at, started_at,
            closed, exit_reason, country, region, device_type, title_id, title, stream_type, attempt, played,
            watch_ms, playing_ms, stall_ms, stall_count, rebuffer_ratio, vpf)
        SELECT
            concat('bench-', toString(number)) AS view_id, 1,
            concat('viewer-', toString(intDiv(number, {per_viewer}))) AS viewer,
            fromUnixTimestamp64Milli({{now_ms:Int64}} - toInt64(cityHash64(number, 1) % 2592000000), 'UTC') AS at,
            at, at, at, true,
            if(cityHash64(number, 2) % 5 = 0, 'ended', 'user_exit'),
            ['NO', 'SE', 'US', 'DE'][1 + cityHash64(intDiv(number, {per_viewer}), 3) % 4] AS country,
            concat(country, '-0', toString(cityHash64(intDiv(number, {per_viewer}), 4) % 3)),
            ['tv', 'mobile', 'desktop', 'tablet'][1 + cityHash64(intDiv(number, {per_viewer}), 5) % 4],
            {{titles:Array(String)}}[
                1 + toUInt32(pow((cityHash64(number, 6) % 1000000) / 1e6, 3) * length({{titles:Array(String)}}))
            ],
            '', 'vod', true, true,
            (cityHash64(number, 7) % 3600000) + 10000 AS watch,
            watch * 0.97, watch * 0.03, 1, 0.03,
            cityHash64(number, 8) % 100 < 8
        FROM numbers({total})
        """,
        parameters={"now_ms": int(now.timestamp() * 1000), "titles": title_ids},
    )
    return total


def measure(data_dir: Path, out: Path, viewers: int, per_viewer: int, requests: int) -> None:
    """The child: fill, train, serve, time, write the figures as JSON."""
    import httpx

    from bench.tokens import read_access
    from foundation.broker import free_port
    from foundation.servers import serve_asgi
    from recommender import api as recommender_api
    from recommender.catalog import ensure_catalog, movielens_catalog
    from recommender.retrain import TrainingOptions, train_from_warehouse
    from recommender.selection import DEFAULT_PRODUCTION
    from recommender.service import model_root
    from warehouse.app import create_api
    from warehouse.client import connect
    from warehouse.migrations import migrate
    from warehouse.stats import api as stats_api

    settings = Settings(_env_file=None, data_dir=data_dir)
    client = connect(settings)
    migrate(client, settings)
    catalog = movielens_catalog()
    ensure_catalog(client, catalog)
    started = time.monotonic()
    views = fill_views(client, catalog["title_id"].tolist(), viewers, per_viewer, datetime.now(UTC))
    fill_s = time.monotonic() - started
    started = time.monotonic()
    report = train_from_warehouse(client, model_root(settings), TrainingOptions(grid=(DEFAULT_PRODUCTION,)))
    train_s = time.monotonic() - started
    rng = random.Random(0)
    viewer_ids = [f"viewer-{rng.randrange(viewers)}" for _ in range(requests + WARM_UP)]
    view_ids = [f"bench-{rng.randrange(views)}" for _ in range(requests + WARM_UP)]
    tokens, headers = read_access(client)
    app = create_api(settings, client, [recommender_api.router, stats_api.router], tokens=tokens)
    server = serve_asgi("bench-recommender-api", app, "127.0.0.1", free_port())
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as http:
            ours = _timed(http, [f"/v1/recommendations/{viewer}?k=10" for viewer in viewer_ids])
            base = _timed(http, [f"/v1/views/{view_id}" for view_id in view_ids])
    finally:
        server.stop()
    figures = {
        "views": views,
        "viewers": viewers,
        "fill_s": fill_s,
        "train_s": train_s,
        "model": report.config,
        "pairs": report.interactions,
        "latency_ms": ours[WARM_UP:],
        "baseline_ms": base[WARM_UP:],
    }
    out.write_bytes(orjson.dumps(figures))


def _timed(http: Any, urls: list[str]) -> list[float]:
    _wait_ready(http)
    timings = []
    for url in urls:
        started = time.perf_counter()
        http.get(url).raise_for_status()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _wait_ready(http: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if http.get("/healthz").status_code == 200:
                return
        except Exception:
            time.sleep(0.1)
    raise TimeoutError("the bench API did not come up")


def serving_figures(
    settings: Settings, viewers: int = VIEWERS, per_viewer: int = VIEWS_PER_VIEWER, requests: int = REQUESTS
) -> dict[str, Any]:
    """Run :func:`measure` in a child process and return its figures."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as tmp:
        out, log = Path(tmp) / "figures.json", Path(tmp) / "bench.log"
        with log.open("wb") as sink:
            sizes = [str(viewers), str(per_viewer), str(requests)]
            command = [sys.executable, "-m", "bench.recommender_api", str(Path(tmp) / "data"), str(out), *sizes]
            subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, timeout=3600, check=False, env=os.environ)
        if not out.exists():
            raise RuntimeError(f"the recommendation API benchmark wrote no figures:\n{log.read_text()[-3000:]}")
        figures: dict[str, Any] = orjson.loads(out.read_bytes())
    return figures


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


if __name__ == "__main__":
    measure(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
