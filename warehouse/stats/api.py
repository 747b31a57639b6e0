"""``/v1/stats/*`` and ``/v1/views/{view_id}``: the QoE read model over HTTP.

Bad input is answered 400 with what is allowed, never 422: FastAPI's own validation errors are
turned into 400 by ``StatsRoute``, and query parameters a route does not know are refused.

Tenancy: the property is a dimension like the country. A token bound to a property
(``Principal.property_id``) reads that property only: the ``property`` filter is forced to it
when a request names none (the answer's ``filters`` say so), a request naming another is refused
403, and a breakdown by property shows its one row. A view of another property is answered 404
exactly like an unknown view. A token bound to no property reads every property.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, create_model

from foundation.http import OrjsonResponse, bad_request_route, only_params, problem, problems
from foundation.properties import PROPERTY_ID_PATTERN
from schemas.dimensions import SliceName
from warehouse import events, views
from warehouse.deps import BoundPropertyDep, WarehouseDep, read_property
from warehouse.stats import queries
from warehouse.stats.metrics import BY_NAME, METRICS
from warehouse.stats.queries import DIMENSIONS, MAX_MINUTES, STEPS, Filters, Window

FILTER_PARAMS = tuple(DIMENSIONS)


Dimension = SliceName


ALLOWED = {"metric": list(BY_NAME), "dimension": list(DIMENSIONS), "step": list(STEPS)}


def _filter_description(name: str) -> str:
    return f"Only views whose {name} is this value (exact match)."


def filters(
    bound: BoundPropertyDep,
    property_id: Annotated[
        str | None,
        Query(
            alias="property",
            pattern=PROPERTY_ID_PATTERN,
            description=_filter_description("property (an id of GET /v1/properties)")
            + " A token bound to a property reads it only: omitted, it is that property; another one is refused (403).",
        ),
    ] = None,
    cdn: Annotated[str | None, Query(max_length=128, description=_filter_description("CDN"))] = None,
    country: Annotated[str | None, Query(max_length=2, description=_filter_description("country (ISO 3166-1)"))] = None,
    asn: Annotated[str | None, Query(pattern=r"^\d{1,10}$", description=_filter_description("ASN"))] = None,
    device_type: Annotated[str | None, Query(max_length=128, description=_filter_description("device type"))] = None,
    player: Annotated[str | None, Query(max_length=128, description=_filter_description("player name"))] = None,
    title: Annotated[str | None, Query(max_length=128, description=_filter_description("title id"))] = None,
    stream_type: Annotated[Literal["vod", "live"] | None, Query(description=_filter_description("stream type"))] = None,
) -> Filters:
    given = {
        "property": read_property(bound, property_id),
        "cdn": cdn,
        "country": country,
        "asn": asn,
        "device_type": device_type,
        "player": player,
        "title": title,
        "stream_type": stream_type,
    }
    return Filters({k: v for k, v in given.items() if v is not None})


FiltersDep = Annotated[Filters, Depends(filters)]
Minutes = Annotated[
    int, Query(ge=1, le=MAX_MINUTES, description="Length of the window in minutes, ending with the current minute.")
]


# --- response models (OpenAPI) ------------------------------------------------------------
class WindowOut(BaseModel):
    minutes: int = Field(description="Length of the window in minutes.")
    from_: str = Field(alias="from", description="Start of the window (inclusive), UTC, ISO 8601.")
    to: str = Field(description="End of the window (exclusive): the end of the current minute, UTC.")


def _metric_fields() -> dict[str, Any]:
    return {
        m.name: (int | None if m.integer else float | None, Field(description=f"{m.description} Unit: {m.unit}."))
        for m in METRICS
    }


_Metrics: type[BaseModel] = create_model("Metrics", __config__=ConfigDict(), **_metric_fields())


_FILTERS_APPLIED = "The dimension filters applied; a token bound to a property always has its property among them."


class Overview(_Metrics):
    window: WindowOut = Field(description="The window the metrics cover.")
    filters: dict[str, str] = Field(description=_FILTERS_APPLIED)


class BreakdownRow(_Metrics):
    value: str = Field(description="The value of the dimension these metrics are for.")


class Breakdown(BaseModel):
    dimension: Dimension = Field(description="The dimension broken down.")
    window: WindowOut = Field(description="The window the metrics cover.")
    filters: dict[str, str] = Field(description=_FILTERS_APPLIED)
    rows: list[BreakdownRow] = Field(description="One row per value of the dimension, most attempts first.")
    totals: _Metrics = Field(description="The same metrics over all rows (the overview with these filters).")


class Point(BaseModel):
    t: str = Field(description="Start of the step, UTC, ISO 8601.")
    value: float | None = Field(description="The metric over the step; null where it has no data.")


class Timeseries(BaseModel):
    metric: str = Field(description="The metric.")
    unit: str = Field(description="Its unit.")
    step: str = Field(description="Length of each point.")
    window: WindowOut = Field(description="The window covered.")
    filters: dict[str, str] = Field(description=_FILTERS_APPLIED)
    points: list[Point] = Field(description="One point per step, oldest first.")


_BAD = problems({400: "Unknown parameter, metric, dimension or step, or a bad value."})
_STATS = {
    **_BAD,
    **problems({403: "The token lacks the read scope, or it is bound to a property and the request names another."}),
}

router = APIRouter(tags=["stats"], route_class=bad_request_route(ALLOWED))


@router.get(
    "/v1/stats/overview",
    summary="QoE metrics over the last N minutes",
    response_model=Overview,
    responses=_STATS,
    dependencies=[only_params("minutes", *FILTER_PARAMS)],
)
def overview(client: WarehouseDep, selected: FiltersDep, minutes: Minutes = 60) -> OrjsonResponse:
    window = Window.last(minutes)
    values = queries.overview(client, window, selected)
    return OrjsonResponse({**values, "window": window.describe(), "filters": dict(selected.values)})


@router.get(
    "/v1/stats/breakdown",
    summary="QoE metrics per value of a dimension",
    response_model=Breakdown,
    responses=_STATS,
    dependencies=[only_params("dimension", "minutes", "limit", *FILTER_PARAMS)],
)
def breakdown(
    client: WarehouseDep,
    selected: FiltersDep,
    dimension: Annotated[Dimension, Query(description="The dimension to break the metrics down by.")],
    minutes: Minutes = 60,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many values, most attempts first.")] = 50,
) -> OrjsonResponse:
    window = Window.last(minutes)
    rows = queries.breakdown(client, window, dimension, selected, limit)
    totals = queries.overview(client, window, selected)
    body = {"dimension": dimension, "window": window.describe(), "filters": dict(selected.values)}
    return OrjsonResponse({**body, "rows": rows, "totals": totals})


@router.get(
    "/v1/stats/timeseries",
    summary="One QoE metric per step over the last N minutes",
    response_model=Timeseries,
    responses=_STATS,
    dependencies=[only_params("metric", "step", "minutes", *FILTER_PARAMS)],
)
def timeseries(
    client: WarehouseDep,
    selected: FiltersDep,
    metric: Annotated[
        str, Query(description="The metric to plot.", json_schema_extra={"enum": [m.name for m in METRICS]})
    ],
    step: Annotated[str, Query(description="Length of each point.", json_schema_extra={"enum": list(STEPS)})] = "1m",
    minutes: Minutes = 60,
) -> OrjsonResponse:
    window = Window.last(minutes)
    points = queries.timeseries(client, window, metric, step, selected)
    if step in STEPS:
        window = window.aligned(STEPS[step])
    return OrjsonResponse(
        {
            "metric": metric,
            "unit": BY_NAME[metric].unit if metric in BY_NAME else "",
            "step": step,
            "window": window.describe(),
            "filters": dict(selected.values),
            "points": points,
        }
    )


# --- one view -----------------------------------------------------------------------------
_Ts = str | None
VIEW_FIELDS: dict[str, tuple[Any, str]] = {
    "view_id": (str, "The view id the player generated for this play attempt."),
    "version": (int, "Version of this state: grows each time the sessionizer rewrites the view."),
    "viewer_id": (str, "The viewer id the player keeps in storage."),
    "first_seen_at": (str, "When the server received the view's first beacon (UTC, ISO 8601)."),
    "last_received_at": (str, "When the server received the view's newest beacon."),
    "clock_offset_ms": (int, "Server clock − viewer clock, estimated at the first beacon; added to event times."),
    "requested_at": (_Ts, "Play intent (playback_request), server clock; null if never sent."),
    "started_at": (_Ts, "First frame (playback_start), server clock; null if the view never started."),
    "ended_at": (_Ts, "End of the view (view_end, or the last event of a view closed by inactivity)."),
    "last_event_at": (_Ts, "Time of the newest event, server clock."),
    "closed": (bool, "The view is over: view_end arrived or the view timed out."),
    "exit_reason": (str, "view_end reason (user_exit, ended, error, ...), else error/ended/timeout; empty if open."),
    "cdn": (str, "The last CDN the view used (context CDN, then content-steering pathway changes)."),
    "first_cdn": (str, "The CDN the view started on."),
    "country": (str, "Country (edge geo header, else the player's context)."),
    "region": (str, "Region."),
    "asn": (int, "Autonomous system number of the viewer's network; 0 when unknown."),
    "device_type": (str, "Device type."),
    "os": (str, "Operating system."),
    "browser": (str, "Browser."),
    "player_name": (str, "Player name."),
    "player_version": (str, "Player version."),
    "title_id": (str, "Title id."),
    "title": (str, "Title as the player named it."),
    "stream_type": (str, "vod or live."),
    "sdk_name": (str, "SDK that sent the beacons."),
    "sdk_version": (str, "SDK version."),
    "attempt": (bool, "The view had play intent (or showed a frame)."),
    "played": (bool, "At least one frame was shown."),
    "autoplay": (bool, "The play intent was autoplay."),
    "vst_ms": (float | None, "Video startup time: play intent → first frame, ms; null if not both known."),
    "watch_ms": (float, "Watch time: playing + stalls + seek waits, from the first frame; pauses excluded."),
    "playing_ms": (float, "Time the playhead advanced."),
    "stall_count": (int, "Stalls after the first frame outside seeks."),
    "stall_ms": (float, "Their total duration, ms."),
    "seek_count": (int, "Seeks after the first frame."),
    "seek_ms": (float, "Time waiting after seeks (including stalls that began during a seek)."),
    "pause_count": (int, "Pauses."),
    "rebuffer_ratio": (float, "stall_ms ÷ watch_ms (0 when nothing was watched)."),
    "avg_bitrate_kbps": (float | None, "Time-weighted indicated bitrate of what played."),
    "top_bitrate_kbps": (float | None, "Highest bitrate of the ladder (CMCD tb), when the player reported it."),
    "avg_framerate": (float | None, "Time-weighted frame rate of what played."),
    "upscale_pct": (float | None, "Time-weighted upscale on the fitting axis, %."),
    "max_upscale_pct": (float | None, "Largest upscale while playing, %."),
    "avg_quality": (float | None, "Time-weighted per-rendition quality (VMAF) when every rendition had one."),
    "upswitches": (int, "Rendition changes to a higher bitrate after the first frame."),
    "downswitches": (int, "Rendition changes to a lower bitrate after the first frame."),
    "dropped_frames": (int, "Frames dropped (heartbeat counters)."),
    "total_frames": (int, "Frames decoded (heartbeat counters)."),
    "ebvs": (bool, "Exit before video start: closed before the first frame without a fatal error, after ≥ 1 s."),
    "short_exit": (bool, "Closed before the first frame in under 1 s (not counted as EBVS)."),
    "vsf": (bool, "Video startup failure: technical fatal error before the first frame."),
    "vsf_business": (bool, "Business exception (geo-block, entitlement...) before the first frame."),
    "vpf": (bool, "Video playback failure: technical fatal error after the first frame."),
    "vpf_business": (bool, "Business exception after the first frame."),
    "error_code": (str, "Code of the fatal error, if any."),
    "warnings": (int, "Non-fatal errors."),
    "qoe_score": (float | None, "QoE score 0–100 (docs/qoe-score.md); provisional while the view is open."),
    "score_success": (float | None, "Success sub-score."),
    "score_startup": (float | None, "Startup sub-score."),
    "score_smoothness": (float | None, "Smoothness sub-score."),
    "score_quality": (float | None, "Quality sub-score."),
    "score_basis": (str, "What the quality sub-score came from: quality (VMAF), bitrate, or empty."),
    "events": (int, "Distinct events folded (one per seq)."),
    "max_seq": (int, "Highest event seq seen."),
    "property": (str, "The property (app, brand or environment) of the view's first beacon."),
}

_view_fields: dict[str, Any] = {name: (kind, Field(description=text)) for name, (kind, text) in VIEW_FIELDS.items()}
ViewOut: type[BaseModel] = create_model("ViewOut", **_view_fields)


class EventOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Event type (schemas.events.EventType).")
    seq: int = Field(description="Per-view sequence number.")
    ts: int = Field(description="Viewer clock, ms since the epoch, as sent.")
    playhead_ms: int = Field(description="Position in the content.")
    server_time: str = Field(description="ts corrected to the server's clock (ts + clock_offset_ms), ISO 8601.")
    received_at: str = Field(description="When the server received the beacon that carried the event.")


class ViewDetail(BaseModel):
    view: ViewOut = Field(description="The view's latest state and metrics.")
    events: list[EventOut] = Field(
        description="The view's events in seq order with their type-specific fields, duplicates folded."
    )


@router.get(
    "/v1/views/{view_id}",
    summary="One view: its metrics and its event timeline",
    response_model=ViewDetail,
    description="For a token bound to a property: a view of its property, with the events posted for it; a view "
    "of another property is answered 404 like an unknown one.",
    responses={
        **_BAD,
        **problems({404: "No such view (or not sessionized yet); for a token bound to a property: none of it."}),
    },
    dependencies=[only_params()],
)
def view(
    client: WarehouseDep,
    bound: BoundPropertyDep,
    view_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="The view id.")],
) -> OrjsonResponse:
    found = views.view(client, view_id, property_id=bound)
    if found is None:
        if events.has_events(client, view_id, property_id=bound):
            return problem(404, f"view {view_id!r} has events but is not sessionized yet; retry in a second")
        return problem(404, f"no view {view_id!r}: no beacon with this view id was stored")
    timeline = events.timeline(client, view_id, int(found["clock_offset_ms"]), property_id=bound)
    return OrjsonResponse({"view": found, "events": timeline})
