"""Warehouse-side routes of the recommender: the catalogue, recommendations and training.

- ``GET /v1/catalog/titles?q=&genre=&limit=&offset=``, ``GET /v1/catalog/titles/{title_id}``,
  ``GET /v1/catalog/titles/{title_id}/poster.svg?size=poster|thumb``, ``GET /v1/catalog/genres``
- ``GET /v1/recommendations/{viewer_id}?k=10``
- ``GET /v1/recommender/model``; ``GET`` / ``POST /v1/recommender/training`` (status / start one)

Bad input is answered 400 with what is allowed (never FastAPI's 422), unknown titles 404 with the
reason. A recommendation is always answered: with no model, no history or a warehouse that
cannot answer, it falls back to popular titles and says so.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from foundation.http import BadRequestError, OrjsonResponse, bad_request_route, only_params, problem, problems
from recommender.catalog import title_json
from recommender.posters import SIZES, poster_svg
from recommender.retrain import LOOKBACK, retrainer_for
from recommender.service import LoadedModel, RecommendationService, model_root
from recommender.serving import MAX_K, Pick, Recommendations
from warehouse import catalog as catalogue
from warehouse.deps import SettingsDep, WarehouseDep

log = logging.getLogger(__name__)

MAX_LIMIT = 100
MAX_OFFSET = 100_000
ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"  # schemas.beacon.Id: what players may send as ids
POSTER_MAX_AGE_S = 86_400


_ALLOWED: dict[str, Any] = {
    "k": {"min": 1, "max": MAX_K},
    "limit": {"min": 1, "max": MAX_LIMIT},
    "offset": {"min": 0, "max": MAX_OFFSET},
    "size": list(SIZES),
    "viewer_id": "1 to 64 of A-Z a-z 0-9 _ . : -",
    "title_id": "1 to 64 of A-Z a-z 0-9 _ . : -",
}


router = APIRouter(route_class=bad_request_route(_ALLOWED))

# The route class answers bad input 400 (not FastAPI's 422): each route documents what it answers.
_BAD = problems({400: "A bad or unknown parameter; the answer says what is allowed."})
_NO_TITLE = problems({404: "No such title in the catalogue."})

TitleId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN, description="e.g. ml-1")]


# --- catalogue ----------------------------------------------------------------------------------
@router.get(
    "/v1/catalog/titles",
    tags=["catalog"],
    summary="Search the catalogue by name and genre",
    responses=_BAD,
    dependencies=[only_params("q", "genre", "limit", "offset")],
)
def list_titles(
    client: WarehouseDep,
    q: Annotated[str, Query(max_length=200, description="Part of the name, any case.")] = "",
    genre: Annotated[str, Query(max_length=64, description="Exact genre; see /v1/catalog/genres.")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> OrjsonResponse:
    if genre:
        known = [name for name, _ in catalogue.catalog_genres(client)]
        if genre not in known:
            raise BadRequestError({"parameter": "genre", "message": f"unknown genre {genre!r}", "allowed": known})
    rows, total = catalogue.search_titles(client, q.strip(), genre, limit, offset)
    return OrjsonResponse(
        {"total": total, "limit": limit, "offset": offset, "titles": [title_json(row) for row in rows]}
    )


@router.get("/v1/catalog/genres", tags=["catalog"], summary="Every genre with its number of titles")
def genres(client: WarehouseDep) -> OrjsonResponse:
    return OrjsonResponse({"genres": [{"genre": name, "titles": n} for name, n in catalogue.catalog_genres(client)]})


@router.get("/v1/catalog/titles/{title_id}", tags=["catalog"], summary="One title", responses={**_BAD, **_NO_TITLE})
def get_title(client: WarehouseDep, title_id: TitleId) -> OrjsonResponse:
    found = catalogue.titles_by_id(client, [title_id]).get(title_id)
    if found is None:
        return problem(404, f"no title {title_id!r} in the catalogue")
    return OrjsonResponse(title_json(found))


@router.get(
    "/v1/catalog/titles/{title_id}/poster.svg",
    tags=["catalog"],
    summary="The title's poster: an SVG drawn from its name, year and genres",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The poster."}, **_BAD, **_NO_TITLE},
    dependencies=[only_params("size")],
)
def poster(
    client: WarehouseDep,
    title_id: TitleId,
    size: Annotated[str, Query(pattern="^(" + "|".join(SIZES) + ")$", description="poster or thumb")] = "poster",
) -> Response:
    found = catalogue.titles_by_id(client, [title_id]).get(title_id)
    if found is None:
        return problem(404, f"no title {title_id!r} in the catalogue")
    svg = poster_svg(title_id, found["title"], found["year"], found["genres"], size)
    headers = {"Cache-Control": f"public, max-age={POSTER_MAX_AGE_S}"}
    return Response(svg, media_type="image/svg+xml", headers=headers)


# --- recommendations ----------------------------------------------------------------------------
_service_lock = threading.Lock()


def get_service(request: Request, client: WarehouseDep, settings: SettingsDep) -> RecommendationService:
    """One service per application, made on first use (the API factory knows nothing of it)."""
    with _service_lock:
        service: RecommendationService | None = getattr(request.app.state, "recommendations", None)
        if service is None:
            service = RecommendationService(client, model_root(settings))
            request.app.state.recommendations = service
        return service


ServiceDep = Annotated[RecommendationService, Depends(get_service)]


@router.get(
    "/v1/recommendations/{viewer_id}",
    tags=["recommendations"],
    summary="Titles for one viewer, each with the reason it was chosen",
    responses=_BAD,
    dependencies=[only_params("k")],
)
def recommendations(
    service: ServiceDep,
    viewer_id: Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)],
    k: Annotated[int, Query(ge=1, le=MAX_K, description=f"How many titles, 1 to {MAX_K}.")] = 10,
) -> OrjsonResponse:
    try:
        result, loaded = service.recommend(viewer_id, k)
    except Exception:  # the warehouse failed us: answer with no history rather than a 5xx
        log.exception("recommender: history or demand unavailable for %s", viewer_id)
        return OrjsonResponse(_unavailable(service, viewer_id, k))
    return OrjsonResponse(_recommendations_json(service, result, loaded, k))


def _unavailable(service: RecommendationService, viewer_id: str, k: int) -> dict[str, Any]:
    loaded = service.models.current()
    return {
        "viewer_id": viewer_id,
        "k": k,
        "strategy": "unavailable",
        "model": _model_json(loaded),
        "context": None,
        "items": [],
        "continue_watching": [],
        "notes": ["the warehouse could not be read: no recommendation right now, try again shortly"],
    }


def _recommendations_json(
    service: RecommendationService, result: Recommendations, loaded: LoadedModel | None, k: int
) -> dict[str, Any]:
    picks = [*result.picks, *result.continue_watching]
    mentioned = {pick.title_id for pick in picks} | {p.reason.because for p in picks if p.reason.because}
    try:
        titles = catalogue.titles_by_id(service.client, mentioned)
    except Exception:
        log.exception("recommender: catalogue unavailable")
        titles = {}
    names = {title_id: row["title"] for title_id, row in titles.items()}
    return {
        "viewer_id": result.viewer_id,
        "k": k,
        "strategy": result.strategy,
        "model": _model_json(loaded),
        "context": result.context.to_json() if result.context else None,
        "items": [_pick_json(pick, titles, names) for pick in result.picks],
        "continue_watching": [_pick_json(pick, titles, names) for pick in result.continue_watching],
        "notes": result.notes,
    }


def _pick_json(pick: Pick, titles: dict[str, dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    row = titles.get(pick.title_id)
    reason = pick.reason
    entry: dict[str, Any] = {
        "title_id": pick.title_id,
        "title": title_json(row) if row is not None else None,
        "score": pick.score,
        "reason": reason.text(names),
        "reason_code": reason.code,
    }
    if reason.because is not None:
        entry["because"] = {"title_id": reason.because, "title": names.get(reason.because)}
    if reason.segment is not None:
        entry["segment"] = reason.segment.to_json()
    if reason.progress is not None:
        entry["progress"] = reason.progress
    return entry


def _model_json(loaded: LoadedModel | None) -> dict[str, Any] | None:
    if loaded is None:
        return None
    info = loaded.trained.info
    return {
        "version": loaded.version,
        "config": loaded.trained.config.label,
        "source": info.get("source", "movielens"),
        "titles": int(loaded.trained.model.n_items),
        "loaded_at": loaded.loaded_at,
    }


# --- model and training -------------------------------------------------------------------------
@router.get(
    "/v1/recommender/model",
    tags=["recommendations"],
    summary="The model serving recommendations now",
    responses=problems({404: "No model trained yet, or the current one cannot be loaded."}),
)
def current_model(service: ServiceDep) -> OrjsonResponse:
    loaded = service.models.current()
    if loaded is None:
        detail = "no recommendation model has been trained yet: run `qoe recommender train`"
        if service.models.last_error:
            detail = f"the current model cannot be loaded: {service.models.last_error}"
        return problem(404, detail)
    return OrjsonResponse({**(_model_json(loaded) or {}), "info": dict(loaded.trained.info)})


@router.get("/v1/recommender/training", tags=["recommendations"], summary="How the latest training went")
def training_status(settings: SettingsDep) -> OrjsonResponse:
    return OrjsonResponse(retrainer_for(model_root(settings)).status.to_json())


class TrainingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lookback_days: int = Field(LOOKBACK.days, ge=1, le=3650, description="Train on the views of this many days.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the validation split.")


@router.post(
    "/v1/recommender/training",
    tags=["recommendations", "admin"],
    summary="Train a new model from the views now (in the background)",
    status_code=202,
    responses={**_BAD, **problems({409: "A training is running already; the answer is its status."})},
)
def start_training(
    client: WarehouseDep, settings: SettingsDep, request: TrainingRequest | None = None
) -> OrjsonResponse:
    retrainer = retrainer_for(model_root(settings))
    body = request or TrainingRequest()
    options = replace(retrainer.options, lookback=timedelta(days=body.lookback_days), seed=body.seed)
    started = retrainer.start(client, "api", options)
    status = retrainer.status.to_json()
    if not started:
        return OrjsonResponse({**status, "detail": "a training is running already"}, status_code=409)
    return OrjsonResponse(status, status_code=202)
