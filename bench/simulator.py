"""Benchmark: how large a live audience one process sustains, and how fast virtual time runs.

A minimal beacon sink (``qoe_sim.sink``) runs in its own process, on the other core, so the
figures are the simulator's and its SDK's, not the platform's. Baselines from the same run:
a bare HTTP POST loop against the same sink with httpx and with aiohttp (the ceiling of each
client on this machine with nothing else to do).

The audience counts as sustained when callbacks ran on time (99th percentile of lateness under
a second) and the sender kept up (no beacon lost, a backlog under one second of traffic).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
from qoe_sdk import AiohttpPoster, AsyncSender
from qoe_sim.run import resolve_data
from qoe_sim.simulation import SimConfig, SimData, Simulation
from qoe_sim.sink import free_port

from bench.report import BenchRow
from foundation.settings import Settings

SECTION = "Audience simulator (qoe_sim)"
LAG_LIMIT_MS = 1_000.0


@dataclass(frozen=True)
class BenchSettings:
    viewers: int = 5_000
    duration_s: float = 60.0
    ramp_s: float = 20.0
    baseline_s: float = 6.0
    virtual_viewers: int = 2_000
    virtual_duration_s: float = 300.0
    concurrency: int = 32
    ingest_url: str | None = None  # None: a local sink in its own process


def run(settings: Settings, bench: BenchSettings | None = None) -> list[BenchRow]:
    bench = bench or BenchSettings()
    data = resolve_data(settings, seed=settings.seed)
    with _sink(bench.ingest_url) as url:
        rows = _run_loop(_measure_live(url, data, bench, settings.seed))
    rows.append(_virtual_speed(data, bench, settings.seed))
    return rows


def _run_loop(coroutine: object) -> list[BenchRow]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)  # type: ignore[arg-type]


@contextlib.contextmanager
def _sink(ingest_url: str | None) -> Iterator[str]:
    if ingest_url is not None:
        yield ingest_url.rstrip("/")
        return
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "qoe_sim.sink", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the beacon sink exited: {process.stderr.read().decode() if process.stderr else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise RuntimeError("the beacon sink did not start listening within 20 s")


def _typical_body(data: SimData, seed: int) -> bytes:
    """A beacon as the audience sends it: the median-sized payload of a short virtual run."""
    simulation = Simulation(SimConfig(viewers=50, duration_ms=60_000, seed=seed), data, keep_beacons=True)
    simulation.run_virtual()
    assert simulation.memory_sink is not None
    bodies = sorted((orjson.dumps(p) for p in simulation.memory_sink.payloads), key=len)
    return bodies[len(bodies) // 2]


async def _bare_loop(url: str, body: bytes, seconds: float, concurrency: int, client: str) -> float:
    """POSTs per second a bare loop achieves against the sink: the client's ceiling."""
    headers = {"content-type": "application/json"}
    endpoint = f"{url}/v1/beacons"
    done = 0
    end = time.perf_counter() + seconds
    if client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as session:

            async def httpx_worker() -> None:
                nonlocal done
                while time.perf_counter() < end:
                    (await session.post(endpoint, content=body, headers=headers)).raise_for_status()
                    done += 1

            started = time.perf_counter()
            await asyncio.gather(*(httpx_worker() for _ in range(concurrency)))
    else:
        poster = AiohttpPoster(max_connections=concurrency)

        async def aiohttp_worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                await poster.post(endpoint, body, headers)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(aiohttp_worker() for _ in range(concurrency)))
        await poster.aclose()
    return done / (time.perf_counter() - started)


async def _measure_live(url: str, data: SimData, bench: BenchSettings, seed: int) -> list[BenchRow]:
    body = _typical_body(data, seed)
    httpx_rate = await _bare_loop(url, body, bench.baseline_s, 8, "httpx")
    aiohttp_rate = await _bare_loop(url, body, bench.baseline_s, bench.concurrency, "aiohttp")
    config = SimConfig(
        viewers=bench.viewers,
        duration_ms=bench.duration_s * 1000,
        ramp_ms=bench.ramp_s * 1000,
        seed=seed,
        keep_views=1_000,
    )
    poster = AiohttpPoster(max_connections=bench.concurrency)
    async with AsyncSender(url, poster=poster, max_concurrency=bench.concurrency) as sender:
        simulation = Simulation(config, data, sink=sender)
        window = asyncio.create_task(_steady_window(simulation, sender, bench))
        result = await simulation.run_realtime()
        steady = await window
        await sender.drain(15)
    lag = result.lag
    assert lag is not None
    p99 = lag.quantile_ms(0.99)
    beacons_s, events_s, cpu_share, backlog = steady
    kept_up = sender.stats.beacons_dropped == 0 and backlog < max(beacons_s, 1.0)
    sustained = p99 < LAG_LIMIT_MS and kept_up
    notes = (
        f"{bench.viewers:,} viewers for {bench.duration_s:.0f} s (first plays over {bench.ramp_s:.0f} s); "
        f"rates over the steady part; {sender.stats.beacons_dropped} beacons lost; aiohttp client"
    )
    return [
        BenchRow(SECTION, "live viewers sustained (one process)", bench.viewers if sustained else 0, "viewers",
                 target="≥ 5,000 on 2 cores", passed=sustained and bench.viewers >= 5_000, notes=notes),
        BenchRow(SECTION, "beacons delivered", beacons_s, "beacons/s", baseline=httpx_rate,
                 baseline_label="bare httpx POST loop, same sink"),
        BenchRow(SECTION, "events delivered", events_s, "events/s"),
        BenchRow(SECTION, "HTTP client ceiling: aiohttp", aiohttp_rate, "POST/s", baseline=httpx_rate,
                 baseline_label="httpx, same sink and body", notes="why the simulator sends with aiohttp"),
        BenchRow(SECTION, "simulator CPU at that audience", cpu_share * 100, "% of a core", target="< 100%",
                 passed=cpu_share < 1.0),
        BenchRow(SECTION, "scheduling lag p99", p99, "ms", target=f"< {LAG_LIMIT_MS:,.0f} ms",
                 passed=p99 < LAG_LIMIT_MS, notes=f"max {lag.max_ms:,.0f} ms"),
    ]  # fmt: skip


async def _steady_window(
    simulation: Simulation, sender: AsyncSender, bench: BenchSettings
) -> tuple[float, float, float, int]:
    """Beacons/s, events/s, CPU share and final backlog, from after the ramp to just before the end."""
    begin = min(bench.ramp_s + 5, bench.duration_s / 2)
    await asyncio.sleep(begin)
    start = (time.perf_counter(), time.process_time(), sender.stats.beacons_sent, sender.stats.events_sent)
    await asyncio.sleep(max(0.5, bench.duration_s - begin - 1))
    wall = time.perf_counter() - start[0]
    return (
        (sender.stats.beacons_sent - start[2]) / wall,
        (sender.stats.events_sent - start[3]) / wall,
        (time.process_time() - start[1]) / wall,
        sender.backlog,
    )


def _virtual_speed(data: SimData, bench: BenchSettings, seed: int) -> BenchRow:
    config = SimConfig(viewers=bench.virtual_viewers, duration_ms=bench.virtual_duration_s * 1000, seed=seed)
    result = Simulation(config, data).run_virtual()
    viewer_seconds = bench.virtual_viewers * bench.virtual_duration_s
    return BenchRow(
        SECTION,
        "virtual time, as fast as possible",
        result.speedup,
        "× real time",
        baseline=1.0,
        baseline_label="real time",
        notes=f"{bench.virtual_viewers:,} viewers × {bench.virtual_duration_s:.0f} s: "
        f"{viewer_seconds / result.wall_s:,.0f} viewer-seconds per second, {result.callbacks:,} callbacks, "
        f"{result.sdk.events_recorded:,} SDK events",
    )
