"""Synthetic links and encodings for machines without the research data, fitted to that data.

Throughput, per trace class: each trace gets its own level (a normal draw in log space, since
households and cells differ far more than one link varies over time), and around that level the
log-bandwidth follows an AR(1) process; a share of intervals is dropped to zero (outages).

Segment sizes, per rung: the ratio of a segment's size to its nominal size (bitrate × duration)
is log-normal; a scene-complexity factor shared by all rungs of a segment (correlation ``rho``)
follows an AR(1) over segments, because consecutive segments of one scene are alike.

The constants below were produced by :func:`fit` on ``<shared_data>/traces`` and
``<shared_data>/manifests/bbb.json`` (``qoe simulate-fit`` prints them); a test refits and
compares, so they cannot drift from the data silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qoe_sim.manifest import Manifest, load_manifest
from qoe_sim.traces import Trace, TraceLibrary


def _ar1(innovations: np.ndarray, phi: float) -> np.ndarray:
    """x[0] = e[0], x[k] = phi·x[k-1] + e[k]."""
    from scipy.signal import lfilter

    return np.asarray(lfilter([1.0], [1.0, -phi], innovations))


@dataclass(frozen=True)
class ThroughputModel:
    klass: str
    step_ms: float  # median interval duration
    log_mean: float  # mean over traces of each trace's mean ln(kbps), non-zero intervals
    log_sd_between: float  # sd of those per-trace means
    log_sd_within: float  # sd of ln(kbps) around the trace's own mean
    ar1: float  # lag-1 autocorrelation of those deviations
    zero_share: float  # share of intervals with no throughput at all
    latency_ms: float  # median latency

    def generate(self, rng: np.random.Generator, steps: int, name: str = "synthetic") -> Trace:
        level = rng.normal(self.log_mean, self.log_sd_between)
        innovations = rng.normal(0.0, self.log_sd_within * math.sqrt(1 - self.ar1**2), steps)
        innovations[0] = rng.normal(0.0, self.log_sd_within)  # start in the stationary distribution
        kbps = np.exp(level + _ar1(innovations, self.ar1))
        kbps[rng.random(steps) < self.zero_share] = 0.0
        if not kbps.any():
            kbps[0] = math.exp(level)
        return Trace(name, self.klass, [self.step_ms] * steps, kbps.tolist(), [self.latency_ms] * steps)


@dataclass(frozen=True)
class SegmentSizeModel:
    segment_ms: int
    bitrates_kbps: tuple[float, ...]
    segments: int
    mean_ratio: tuple[float, ...]  # per rung: mean of size / (bitrate × duration)
    log_sd: tuple[float, ...]  # per rung: sd of ln(ratio)
    rung_correlation: float  # mean correlation of ln(ratio) between two rungs of one segment
    ar1: float  # lag-1 autocorrelation, over segments, of the shared complexity factor

    def generate(self, rng: np.random.Generator, name: str = "synthetic") -> Manifest:
        n, rho = self.segments, self.rung_correlation
        noise = rng.normal(0.0, math.sqrt(1 - self.ar1**2), n)
        noise[0] = rng.normal()
        shared = _ar1(noise, self.ar1)
        sd = np.array(self.log_sd)
        mu = np.log(np.array(self.mean_ratio)) - sd**2 / 2  # so the ratio's mean is mean_ratio
        z = math.sqrt(rho) * shared[:, None] + math.sqrt(1 - rho) * rng.normal(size=(n, len(sd)))
        nominal = np.array(self.bitrates_kbps) * self.segment_ms
        sizes = np.maximum(1, np.rint(np.exp(mu + sd * z) * nominal)).astype(int)
        return Manifest(name, self.segment_ms, self.bitrates_kbps, tuple(tuple(row) for row in sizes.tolist()))


# --- fitted constants (qoe simulate-fit on the shared data) -----------------------------------
THROUGHPUT_MODELS: dict[str, ThroughputModel] = {
    "fcc-hd": ThroughputModel(
        klass="fcc-hd",
        step_ms=5000.0,
        log_mean=9.154415804401713,
        log_sd_between=0.16052929688665454,
        log_sd_within=1.3363283934033654,
        ar1=0.8896688019970886,
        zero_share=0.0005833333333333334,
        latency_ms=20.0,
    ),
    "fcc-sd": ThroughputModel(
        klass="fcc-sd",
        step_ms=5000.0,
        log_mean=8.141419553740041,
        log_sd_between=0.17647025149877787,
        log_sd_within=1.331199684267948,
        ar1=0.8981206503325878,
        zero_share=0.0008888888888888889,
        latency_ms=20.0,
    ),
    "hsdpa-3g": ThroughputModel(
        klass="hsdpa-3g",
        step_ms=1011.0,
        log_mean=6.698983861999704,
        log_sd_between=0.6130138807776476,
        log_sd_within=1.0970828147204181,
        ar1=0.8224664274659872,
        zero_share=0.005177006358480838,
        latency_ms=100.0,
    ),
    "lte-4g": ThroughputModel(
        klass="lte-4g",
        step_ms=1000.0,
        log_mean=10.172975806294101,
        log_sd_between=0.34933350863751933,
        log_sd_within=0.6798898215141439,
        ar1=0.6599482792668857,
        zero_share=0.013084941228653803,
        latency_ms=20.0,
    ),
}
SEGMENT_SIZES = SegmentSizeModel(
    segment_ms=3000,
    bitrates_kbps=(230.0, 331.0, 477.0, 688.0, 991.0, 1427.0, 2056.0, 2962.0, 5027.0, 6000.0),
    segments=199,
    mean_ratio=(
        0.9839109169033572,
        0.9884703679525524,
        0.9916800494435838,
        0.9940275213275686,
        0.9954463741512811,
        0.9965406664248594,
        0.9973216406285644,
        0.9977456492455523,
        0.9984669371657707,
        0.9986702132886653,
    ),
    log_sd=(
        0.21836704114567515,
        0.19006559819427515,
        0.24665110014551103,
        0.19632369001792715,
        0.20823353857697258,
        0.22106416245364297,
        0.21779403627098026,
        0.22084602780651483,
        0.17471981198929565,
        0.17585280895743682,
    ),
    rung_correlation=0.6760027632515883,
    ar1=-0.42052109927068493,
)


# --- fitting ------------------------------------------------------------------------------------
def _lag1(deviations: Sequence[np.ndarray]) -> float:
    num = sum(float(np.dot(d[:-1], d[1:])) for d in deviations if len(d) > 1)
    den = sum(float(np.dot(d[:-1], d[:-1])) for d in deviations if len(d) > 1)
    return num / den if den else 0.0


def fit_throughput(traces: Sequence[Trace], klass: str) -> ThroughputModel:
    """The throughput model of one class of traces."""
    if not traces:
        raise ValueError(f"no traces to fit for class {klass!r}")
    steps: list[float] = []
    latencies: list[float] = []
    levels: list[float] = []
    runs: list[np.ndarray] = []
    squares = count = zeros = 0.0
    for trace in traces:
        durations, kbps_list, latency = trace.intervals()
        kbps = np.array(kbps_list)
        steps += durations
        latencies += latency
        zeros += float((kbps <= 0).sum())
        positive = kbps > 0
        level = float(np.log(kbps[positive]).mean())
        levels.append(level)
        deviation = np.log(np.where(positive, kbps, 1.0)) - level
        squares += float((deviation[positive] ** 2).sum())
        count += float(positive.sum())
        # Autocorrelation only across consecutive non-zero intervals: split at the outages.
        breaks = np.flatnonzero(~positive)
        runs += [run[1:] if i else run for i, run in enumerate(np.split(deviation, breaks)) if len(run) > 1]
    return ThroughputModel(
        klass=klass,
        step_ms=float(np.median(steps)),
        log_mean=float(np.mean(levels)),
        log_sd_between=float(np.std(levels)),
        log_sd_within=math.sqrt(squares / count),
        ar1=_lag1(runs),
        zero_share=zeros / len(steps),
        latency_ms=float(np.median(latencies)),
    )


def fit_segment_sizes(manifest: Manifest) -> SegmentSizeModel:
    sizes = np.array(manifest.sizes_bits, dtype=float)
    nominal = np.array(manifest.bitrates_kbps) * manifest.segment_ms
    ratio = sizes / nominal
    log_ratio = np.log(ratio)
    standardized = (log_ratio - log_ratio.mean(axis=0)) / log_ratio.std(axis=0)
    corr = np.corrcoef(log_ratio, rowvar=False)
    rungs = corr.shape[0]
    off_diagonal = (corr.sum() - rungs) / (rungs * (rungs - 1)) if rungs > 1 else 1.0
    shared = standardized.mean(axis=1)
    return SegmentSizeModel(
        segment_ms=manifest.segment_ms,
        bitrates_kbps=manifest.bitrates_kbps,
        segments=manifest.segments,
        mean_ratio=tuple(float(x) for x in ratio.mean(axis=0)),
        log_sd=tuple(float(x) for x in log_ratio.std(axis=0)),
        rung_correlation=float(off_diagonal),
        ar1=_lag1([shared - shared.mean()]),
    )


@dataclass(frozen=True)
class Fitted:
    throughput: dict[str, ThroughputModel]
    segment_sizes: SegmentSizeModel

    def as_dict(self) -> dict[str, Any]:
        return {
            "throughput": {k: asdict(v) for k, v in self.throughput.items()},
            "segment_sizes": asdict(self.segment_sizes),
        }


def fit(traces_dir: Path, manifest_path: Path) -> Fitted:
    """Recompute every constant of this module from the traces and the manifest."""
    library = TraceLibrary.from_dir(traces_dir)
    throughput = {klass: fit_throughput(traces, klass) for klass, traces in library.classes.items()}
    return Fitted(throughput, fit_segment_sizes(load_manifest(manifest_path)))
