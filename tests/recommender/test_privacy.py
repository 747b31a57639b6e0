"""After an erasure (recommender.privacy): a model learnt from the erased viewer's views is replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from recommender.privacy import retrain_after_erasure
from recommender.retrain import RUNNING, SUCCEEDED, retrainer_for, train_from_warehouse
from recommender.service import model_root
from recommender.store import current_version, load_current
from tests.factories.privacy import install_model
from tests.factories.recommender import clustered_views, insert_views
from tests.factories.waiting import wait_for
from warehouse.privacy import erase_viewer

pytestmark = pytest.mark.integration


@pytest.fixture
def host(settings: Settings, tmp_path: Path) -> Settings:
    """The settings of a host with a model store of this test's own."""
    return settings.model_copy(update={"data_dir": tmp_path})


def trained_on_views(client: Client, host: Settings) -> Path:
    """200 views of 40 viewers (``v0`` … ``v39``), within the retention, and a model trained on them."""
    insert_views(client, clustered_views(start=datetime.now(UTC) - timedelta(days=9)))
    root = model_root(host)
    assert train_from_warehouse(client, root).views == 200
    return root


def test_a_model_trained_on_views_is_retrained_without_the_erased_viewer(warehouse: Client, host: Settings) -> None:
    root = trained_on_views(warehouse, host)
    before = current_version(root)
    erase_viewer(warehouse, "v0", "test")
    note = retrain_after_erasure(warehouse, host, wait=True)
    assert note == f"retrained the model without the viewer's views: {current_version(root).name}"
    assert current_version(root) != before and load_current(root).info["views"] == 195


def test_the_host_retrains_in_the_background(warehouse: Client, host: Settings) -> None:
    root = trained_on_views(warehouse, host)
    erase_viewer(warehouse, "v1", "test")
    assert retrain_after_erasure(warehouse, host).startswith("retraining the model without the viewer's views")
    retrainer = retrainer_for(root)
    wait_for(
        lambda: retrainer.status, 120, "the retrain to finish", until=lambda status: status.state != RUNNING, poll_s=0.1
    )
    assert (retrainer.status.state, retrainer.status.trigger) == (SUCCEEDED, "erasure")
    assert load_current(root).info["views"] == 195


def test_with_too_little_data_left_the_answer_says_the_model_stays(warehouse: Client, host: Settings) -> None:
    install_model(model_root(host), {"source": "views"})
    note = retrain_after_erasure(warehouse, host, wait=True)
    assert note.startswith("not retrained (skipped: not enough viewing to train on")
    assert "keeps what it learnt from the viewer's views" in note


def test_a_model_not_learnt_from_views_and_no_model_are_left_alone(warehouse: Client, host: Settings) -> None:
    assert retrain_after_erasure(warehouse, host) == "no model has been trained on this model store: nothing to retrain"
    version = install_model(model_root(host))
    assert "trained on MovieLens ratings, not on views" in retrain_after_erasure(warehouse, host, wait=True)
    assert current_version(model_root(host)) == version
