"""An audience of virtual viewers, run in virtual time (offline evaluation) or real time (live load).

    data = load_data(traces_dir, manifests_dir)
    sim = Simulation(SimConfig(viewers=1000, duration_ms=600_000, seed=0), data, chooser=my_policy)
    result = sim.run_virtual()            # as fast as possible; same seed → same events
    result.views                          # per-view ground truth (ViewMetrics)

    async with AsyncSender(url, poster=AiohttpPoster()) as sender:
        sim = Simulation(config, data, sink=sender)
        await sim.run_realtime(stop=stop_event)   # paced to the wall clock, beacons to ingest

Every viewer draws from its own random stream, seeded by (seed, viewer index), so a run is
reproducible and a policy under test does not perturb the workload the other viewers see.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from qoe_sdk import BeaconSink, MemorySink, Reporter, ReporterStats, ViewerIdentity, system_clock_ms

from qoe_sim.audience import Catalog, ViewerProfile, default_catalog, draw_profile
from qoe_sim.chooser import CdnChooser, StaticChooser
from qoe_sim.engine import LagMeter, Scheduler, long_lived_heap, run_realtime
from qoe_sim.manifest import Manifest, load_manifest
from qoe_sim.metrics import ViewMetrics
from qoe_sim.network import DEFAULT_CDNS, PEERING_SPREAD, CdnProfile, Incident, Network
from qoe_sim.player import BehaviorConfig, PlayerConfig, State, Viewer, World
from qoe_sim.synthetic import SEGMENT_SIZES, THROUGHPUT_MODELS
from qoe_sim.traces import Trace, TraceLibrary

# Virtual runs stamp events from a fixed epoch, so seeded runs are byte-identical.
VIRTUAL_EPOCH_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
SYNTHETIC_TRACE_STEPS = 900
SWEEP_MS = 1_000  # how often the SDK's flush sweep runs


@dataclass(frozen=True)
class SimConfig:
    viewers: int = 200
    duration_ms: float | None = 300_000  # None: until stopped (real time only)
    seed: int = 0
    ramp_ms: float = 30_000  # first play intents spread uniformly over this
    cdns: tuple[str, ...] = DEFAULT_CDNS
    cdn_profiles: Mapping[str, Mapping[str, CdnProfile]] | None = None  # None: the default scenario
    peering_spread: float = PEERING_SPREAD
    incidents: tuple[Incident, ...] = ()
    player: PlayerConfig = field(default_factory=PlayerConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    sample_rate: float = 1.0
    experiment: str = ""  # reported in every view's context, e.g. the steering policy under test
    property_key: str | None = None  # the property's public key, in every beacon (a gateway may require one)
    keep_views: int | None = None  # keep only the latest N finished views (long real-time runs)

    def __post_init__(self) -> None:
        if self.viewers < 1:
            raise ValueError("viewers must be at least 1")
        if self.seed < 0:
            raise ValueError("seed must be non-negative")
        if self.duration_ms is not None and self.duration_ms <= 0:
            raise ValueError("duration must be positive")
        if self.ramp_ms < 0:
            raise ValueError("ramp must not be negative")


@dataclass(frozen=True)
class SimData:
    manifest: Manifest
    traces: TraceLibrary | None  # None: synthetic links from the fitted model
    catalog: Catalog
    description: str


def default_data_dirs(shared_data: Path | None) -> tuple[Path | None, Path | None]:
    """``<shared_data>/traces`` and ``<shared_data>/manifests`` where they exist."""
    if shared_data is None:
        return None, None
    traces, manifests = shared_data / "traces", shared_data / "manifests"
    return (traces if traces.is_dir() else None), (manifests if manifests.is_dir() else None)


def load_data(
    traces_dir: Path | None,
    manifests_dir: Path | None,
    *,
    manifest_name: str = "bbb",
    catalog: Catalog | None = None,
    seed: int = 0,
) -> SimData:
    """Real traces and manifest where given; the fitted synthetic model for what is missing."""
    notes = []
    if manifests_dir is not None:
        manifest = load_manifest(manifests_dir / f"{manifest_name}.json")
        notes.append(f"manifest {manifest_name} ({manifest.segments} segments × {manifest.rungs} rungs)")
    else:
        manifest = SEGMENT_SIZES.generate(np.random.default_rng([seed, 1]), name="synthetic")
        notes.append("synthetic segment sizes (fitted to bbb)")
    library = TraceLibrary.from_dir(traces_dir) if traces_dir is not None else None
    if library is not None:
        counts = ", ".join(f"{k} {len(v)}" for k, v in library.classes.items())
        notes.append(f"traces: {counts}")
    else:
        notes.append("synthetic links (model fitted to the FCC, HSDPA and LTE traces)")
    return SimData(manifest, library, catalog or default_catalog(), "; ".join(notes))


@dataclass
class SimResult:
    views: list[ViewMetrics]
    sim_ms: float
    wall_s: float
    callbacks: int
    sdk: ReporterStats
    lag: LagMeter | None = None

    @property
    def speedup(self) -> float:
        return self.sim_ms / 1000 / self.wall_s if self.wall_s > 0 else math.inf


@dataclass(frozen=True)
class Snapshot:
    """The audience right now, for the progress display."""

    sim_ms: float
    duration_ms: float | None
    states: dict[str, int]
    views_done: int
    sdk: ReporterStats
    lag_p99_ms: float | None  # real time only: how late callbacks ran


class Simulation:
    def __init__(
        self,
        config: SimConfig,
        data: SimData,
        *,
        chooser: CdnChooser | None = None,
        sink: BeaconSink | None = None,
        keep_beacons: bool = False,
    ) -> None:
        """``sink`` receives the beacons (the HTTP sender in real time); by default they are
        counted in memory, and kept in ``memory_sink.payloads`` with ``keep_beacons``."""
        self.config = config
        self.data = data
        self.scheduler = Scheduler()
        self._origin_ms = VIRTUAL_EPOCH_MS
        self.memory_sink: MemorySink | None = None
        if sink is None:
            sink = self.memory_sink = MemorySink(self.clock_ms, keep=keep_beacons)
        self.sink: BeaconSink = sink
        self.reporter = Reporter(self.sink, clock=self.clock_ms)
        self.network = Network(
            config.cdns,
            profiles=config.cdn_profiles,
            incidents=config.incidents,
            seed=config.seed,
            peering_spread=config.peering_spread,
        )
        self.chooser: CdnChooser = chooser or StaticChooser.uniform(config.cdns)
        self.views: deque[ViewMetrics] = deque(maxlen=config.keep_views)
        self.views_done = 0
        self.lag: LagMeter | None = None
        self._stopping = False
        self._world = World(
            scheduler=self.scheduler,
            network=self.network,
            manifest=data.manifest,
            catalog=data.catalog,
            chooser=self.chooser,
            player=config.player,
            behavior=config.behavior,
            record=self._record,
            stopping=lambda: self._stopping,
        )
        self.viewers = [self._make_viewer(i) for i in range(config.viewers)]
        self.scheduler.at(SWEEP_MS, self._sweep)

    def clock_ms(self) -> int:
        """The viewers' clock: the run's origin plus simulation time."""
        return self._origin_ms + int(self.scheduler.now)

    def _make_viewer(self, index: int) -> Viewer:
        rng = random.Random(f"qoe-sim:{self.config.seed}:{index}")
        profile = draw_profile(rng)
        trace = self._trace_for(index, profile, rng)
        tracker = self.reporter.tracker(
            ViewerIdentity.new(rng),
            context=self._context(profile),
            sample_rate=self.config.sample_rate,
            property_key=self.config.property_key,
        )
        viewer = Viewer(index, self._world, rng, profile, trace, tracker)
        viewer.start(rng.uniform(0.0, self.config.ramp_ms))
        return viewer

    def _trace_for(self, index: int, profile: ViewerProfile, rng: random.Random) -> Trace:
        if self.data.traces is not None:
            return self.data.traces.pick(profile.trace_class, rng)
        model = THROUGHPUT_MODELS[profile.trace_class]
        generator = np.random.default_rng([self.config.seed, 2, index])
        return model.generate(generator, SYNTHETIC_TRACE_STEPS, name=f"synthetic-{index}")

    def _context(self, profile: ViewerProfile) -> dict[str, object]:
        return {
            "player_name": profile.player_name,
            "player_version": "1.0.0",
            "device_type": profile.device.device_type,
            "os": profile.os,
            "country": profile.country,
            "region": profile.region,
            "asn": profile.asn,
            "connection_type": profile.connection_type,
            "experiment": self.config.experiment,
        }

    def _record(self, metrics: ViewMetrics) -> None:
        self.views.append(metrics)
        self.views_done += 1

    def _sweep(self, _: object = None) -> None:
        self.reporter.sweep(self.clock_ms())
        self.scheduler.after(SWEEP_MS, self._sweep)

    def snapshot(self) -> Snapshot:
        states = dict.fromkeys((s.value for s in State), 0)
        for viewer in self.viewers:
            states[viewer.state.value] += 1
        lag = self.lag.quantile_ms(0.99) if self.lag is not None else None
        return Snapshot(self.scheduler.now, self.config.duration_ms, states, self.views_done, self.reporter.stats, lag)

    def stop(self) -> None:
        """End every view in progress (as an unload) and flush what the SDK still holds."""
        self._stopping = True
        for viewer in self.viewers:
            viewer.shutdown()
        self.reporter.flush_all()

    # --- running ------------------------------------------------------------------------------
    def run_virtual(self, progress: Callable[[Snapshot], None] | None = None) -> SimResult:
        if self.config.duration_ms is None:
            raise ValueError("a virtual-time run needs a duration")
        started = time.perf_counter()
        tick = None if progress is None else (lambda _: progress(self.snapshot()))
        self.scheduler.run_until(self.config.duration_ms, tick)
        self.stop()
        return self._result(time.perf_counter() - started, None)

    async def run_realtime(
        self,
        *,
        stop: asyncio.Event | None = None,
        progress: Callable[[Snapshot], None] | None = None,
        progress_every_s: float = 1.0,
    ) -> SimResult:
        """Pace the audience to the wall clock until the duration elapses or ``stop`` is set."""
        self._origin_ms = system_clock_ms() - int(self.scheduler.now)
        lag = self.lag = LagMeter()
        started = time.perf_counter()
        reporter_task = asyncio.create_task(self._report(progress, progress_every_s)) if progress else None
        try:
            end = self.config.duration_ms if self.config.duration_ms is not None else math.inf
            with long_lived_heap():
                await run_realtime(self.scheduler, end, stop=stop, lag=lag)
        finally:
            if reporter_task is not None:
                reporter_task.cancel()
            self.stop()
        if progress is not None:
            progress(self.snapshot())
        return self._result(time.perf_counter() - started, lag)

    async def _report(self, progress: Callable[[Snapshot], None], every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            progress(self.snapshot())

    def _result(self, wall_s: float, lag: LagMeter | None) -> SimResult:
        return SimResult(
            list(self.views), self.scheduler.now, wall_s, self.scheduler.events_run, self.reporter.stats, lag
        )
