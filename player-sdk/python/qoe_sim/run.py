"""Running an audience against an ingest URL: what ``qoe simulate`` and ``qoe up`` call.

``run_audience(settings)`` is the entry point for the ``qoe up`` orchestrator (in-process, in its
event loop); ``audience_command(settings)`` is the same as a subprocess command line.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from qoe_sdk import AiohttpPoster, AsyncSender, HttpxPoster, Poster, SenderStats

from foundation.settings import Settings
from qoe_sim.chooser import CdnChooser
from qoe_sim.network import parse_incident
from qoe_sim.simulation import SimConfig, SimData, SimResult, Simulation, Snapshot, default_data_dirs, load_data

HTTP_CLIENTS = ("aiohttp", "httpx")


def default_ingest_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.api_port}"


def resolve_data(
    settings: Settings,
    *,
    traces: Path | None = None,
    manifests: Path | None = None,
    synthetic: bool = False,
    manifest_name: str = "bbb",
    seed: int = 0,
) -> SimData:
    """Explicit directories win; else ``<shared_data>/traces|manifests``; else the fitted model."""
    if synthetic:
        return load_data(None, None, manifest_name=manifest_name, seed=seed)
    default_traces, default_manifests = default_data_dirs(settings.resolved_shared_data())
    return load_data(traces or default_traces, manifests or default_manifests, manifest_name=manifest_name, seed=seed)


def make_poster(client: str, concurrency: int) -> Poster:
    if client == "aiohttp":
        return AiohttpPoster(max_connections=concurrency)
    if client == "httpx":
        return HttpxPoster(max_connections=concurrency)
    raise ValueError(f"unknown HTTP client {client!r}; choose one of {', '.join(HTTP_CLIENTS)}")


async def run_live(
    config: SimConfig,
    data: SimData,
    ingest_url: str,
    *,
    chooser: CdnChooser | None = None,
    stop: asyncio.Event | None = None,
    progress: Callable[[Snapshot], None] | None = None,
    on_sender: Callable[[AsyncSender], None] | None = None,
    concurrency: int = 32,
    http_client: str = "aiohttp",
    drain_s: float = 10.0,
) -> tuple[SimResult, SenderStats]:
    """The audience in real time, its beacons POSTed to ``ingest_url``; returns once it ends."""
    sender = AsyncSender(ingest_url, poster=make_poster(http_client, concurrency), max_concurrency=concurrency)
    if on_sender is not None:
        on_sender(sender)
    async with sender:
        simulation = Simulation(config, data, chooser=chooser, sink=sender)
        result = await simulation.run_realtime(stop=stop, progress=progress)
        await sender.drain(drain_s)
    return result, sender.stats


async def run_audience(
    settings: Settings,
    *,
    viewers: int | None = None,
    duration_s: float | None = None,
    ingest_url: str | None = None,
    incidents: tuple[str, ...] = (),
    stop: asyncio.Event | None = None,
    chooser: CdnChooser | None = None,
    property_key: str | None = None,
) -> SimResult:
    """The live audience of ``qoe up``: ``settings.audience_viewers`` viewers until ``stop`` is set."""
    config = SimConfig(
        viewers=viewers or settings.audience_viewers,
        duration_ms=None if duration_s is None else duration_s * 1000,
        seed=settings.seed,
        incidents=tuple(parse_incident(spec) for spec in incidents),
        keep_views=10_000,
        property_key=property_key,
    )
    data = resolve_data(settings, seed=settings.seed)
    result, _ = await run_live(config, data, ingest_url or default_ingest_url(settings), chooser=chooser, stop=stop)
    return result


def audience_command(settings: Settings, *, viewers: int | None = None, ingest_url: str | None = None) -> list[str]:
    """``qoe simulate`` as a subprocess that runs until terminated (SIGTERM ends it cleanly)."""
    return [
        sys.executable,
        "-m",
        "qoe",
        "simulate",
        "--viewers",
        str(viewers or settings.audience_viewers),
        "--duration",
        "0",
        "--seed",
        str(settings.seed),
        "--ingest-url",
        ingest_url or default_ingest_url(settings),
        "--quiet",
    ]
