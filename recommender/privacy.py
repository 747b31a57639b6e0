"""What erasing a viewer means for the recommender, and what it does about it.

Per viewer, the recommender keeps nothing of its own. A viewer's interactions, and with them the
"because you watched" reasons and the continue-watching list, are read from ``views`` at each
request (:mod:`warehouse.interactions`), so they are gone as soon as the erasure deleted the
views. Recommendations are computed per request and never stored; the cached demand per segment
holds distinct-viewer counts, no ids, and is read again within a minute.

A trained model keeps no row per viewer either: a saved model holds the item ids, item-to-item
weights (or item scores) and item popularity (:mod:`recommender.store`), never a user id or a
user's history. Those numbers were learnt from the erased viewer's views among everyone's, though,
so :func:`retrain_after_erasure` replaces a model trained on views by one trained without them.
Should a training be running already (it may have read the views before they were erased), the
scheduled retrain does it: it retrains whenever the count of closed views differs from the one
the latest model was trained on, and the erasure changed it. With too little data left to
train on, the current model stays and keeps the viewer's share of its weights until a retrain
succeeds; the answer says so. Older versions kept beside the current one
(``store.KEEP_VERSIONS``) rotate out with the next retrains.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from foundation.settings import Settings
from recommender.retrain import RUNNING, SUCCEEDED, retrainer_for
from recommender.service import model_root
from recommender.store import ModelStoreError, current_info

TRIGGER = "erasure"


def retrain_after_erasure(client: Client, settings: Settings, *, wait: bool = False) -> str:
    """Start (or, with ``wait``, run) a retrain when the current model was trained on views; says
    what happened in one line."""
    root = model_root(settings)
    try:
        source = current_info(root).get("source")
    except ModelStoreError:
        return "no model has been trained on this model store: nothing to retrain"
    if source != "views":
        return "the current model was trained on MovieLens ratings, not on views: it holds nothing of the viewer"
    retrainer = retrainer_for(root)
    if not wait:
        if retrainer.start(client, TRIGGER):
            return "retraining the model without the viewer's views (GET /v1/recommender/training)"
        return _later("a training is running already")
    status = retrainer.run(client, TRIGGER)
    if status.state == SUCCEEDED:
        return f"retrained the model without the viewer's views: {(status.report or {}).get('version')}"
    if status.state == RUNNING:
        return _later("a training is running already")
    return (
        f"not retrained ({status.state}: {status.detail}); the current model keeps what it learnt from the "
        "viewer's views, as item weights, until a retrain succeeds"
    )


def _later(why: str) -> str:
    return f"not retrained now ({why}); the scheduled retrain replaces the model, as the erased views changed its data"
