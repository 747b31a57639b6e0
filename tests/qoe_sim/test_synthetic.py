from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from qoe_sim.synthetic import (
    SEGMENT_SIZES,
    THROUGHPUT_MODELS,
    fit,
    fit_segment_sizes,
    fit_throughput,
)


@pytest.mark.shared_data
def test_recorded_constants_are_what_fit_returns_on_the_shared_data(shared_data: Path) -> None:
    fitted = fit(shared_data / "traces", shared_data / "manifests" / "bbb.json")
    assert set(fitted.throughput) == set(THROUGHPUT_MODELS)
    for klass, model in fitted.throughput.items():
        recorded, refitted = asdict(THROUGHPUT_MODELS[klass]), asdict(model)
        assert recorded.pop("klass") == refitted.pop("klass") == klass
        assert recorded == pytest.approx(refitted, rel=1e-9), klass
    recorded_sizes = asdict(SEGMENT_SIZES)
    for name, value in asdict(fitted.segment_sizes).items():
        assert recorded_sizes[name] == pytest.approx(value, rel=1e-9), name


@pytest.mark.parametrize("klass", sorted(THROUGHPUT_MODELS))
def test_generated_links_refit_to_their_model(klass: str) -> None:
    model = THROUGHPUT_MODELS[klass]
    rng = np.random.default_rng(11)
    traces = [model.generate(rng, 3_000) for _ in range(300)]
    refit = fit_throughput(traces, klass)
    assert refit.log_mean == pytest.approx(model.log_mean, abs=4 * model.log_sd_between / 300**0.5 + 0.02)
    assert refit.log_sd_between == pytest.approx(model.log_sd_between, rel=0.2, abs=0.03)
    assert refit.log_sd_within == pytest.approx(model.log_sd_within, rel=0.05)
    assert refit.ar1 == pytest.approx(model.ar1, abs=0.03)
    assert refit.zero_share == pytest.approx(model.zero_share, abs=0.003)
    assert refit.step_ms == model.step_ms and refit.latency_ms == model.latency_ms


def test_generated_segment_sizes_refit_to_their_model() -> None:
    long = type(SEGMENT_SIZES)(**{**asdict(SEGMENT_SIZES), "segments": 20_000})
    refit = fit_segment_sizes(long.generate(np.random.default_rng(4)))
    assert refit.mean_ratio == pytest.approx(SEGMENT_SIZES.mean_ratio, rel=0.02)
    assert refit.log_sd == pytest.approx(SEGMENT_SIZES.log_sd, rel=0.05)
    assert refit.rung_correlation == pytest.approx(SEGMENT_SIZES.rung_correlation, abs=0.03)
    assert refit.ar1 == pytest.approx(SEGMENT_SIZES.ar1, abs=0.05)


def test_a_synthetic_manifest_has_the_fitted_ladder() -> None:
    manifest = SEGMENT_SIZES.generate(np.random.default_rng(0))
    assert manifest.bitrates_kbps == SEGMENT_SIZES.bitrates_kbps
    assert manifest.segments == SEGMENT_SIZES.segments
    assert min(min(row) for row in manifest.sizes_bits) > 0
