"""QoE overview: KPI tiles, a metric over time, the startup-time histogram and a breakdown, with filters.

Everything comes from ``warehouse.stats.queries``, the layer behind ``/v1/stats``, but the startup-time
histogram, which reads each view's latest state from ``warehouse.views``.
"""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from clickhouse_connect.driver.client import Client
from dash import Input, Output, State, dcc, html
from dash.dash_table.DataTable import DataTable

from dashboards.auth import viewer_property
from dashboards.data import DashboardData
from schemas.dimensions import SLICES
from warehouse import views
from warehouse.stats import queries
from warehouse.stats.metrics import BY_NAME, HEADLINE
from warehouse.stats.queries import Filters, Window

PATH = "/qoe"
TITLE = "QoE overview"
REFRESH_MS = 5000
WINDOWS = {15: "15 minutes", 60: "1 hour", 360: "6 hours", 1440: "24 hours"}
STEP_FOR_WINDOW = {15: "1m", 60: "1m", 360: "5m", 1440: "15m"}
# Every sliced dimension but the ASN, whose thousands of values make no usable dropdown.
FILTERS = tuple(name for name in SLICES if name != "asn")
TILES = {
    "attempts": ("Attempts", "{:,.0f}"),
    "plays": ("Plays", "{:,.0f}"),
    "concurrent_viewers": ("Peak concurrent viewers", "{:,.0f}"),
    "vst_p50_ms": ("Startup time p50", "{:,.0f} ms"),
    "vst_p95_ms": ("Startup time p95", "{:,.0f} ms"),
    "ebvs_pct": ("Exits before start", "{:.2f} %"),
    "vsf_pct": ("Startup failures", "{:.2f} %"),
    "vpf_pct": ("Playback failures", "{:.2f} %"),
    "rebuffer_ratio": ("Rebuffering ratio", "{:.2%}"),
    "rebuffer_per_min": ("Stalls per minute", "{:.3f}"),
    "avg_bitrate_kbps": ("Average bitrate", "{:,.0f} kbps"),
    "switches_per_min": ("Switches per minute", "{:.3f}"),
    "qoe_score": ("QoE score", "{:.1f}"),
}
assert tuple(TILES) == HEADLINE
TABLE_COLUMNS = ("value", *HEADLINE)


def layout() -> html.Div:
    filters = [
        dcc.Dropdown(id=f"qoe-filter-{name}", placeholder=name.replace("_", " "), style={"minWidth": "9rem"})
        for name in FILTERS
    ]
    return html.Div(
        [
            html.H2(TITLE),
            html.Div(
                [
                    dcc.Dropdown(
                        id="qoe-window",
                        options=[{"label": v, "value": k} for k, v in WINDOWS.items()],
                        value=60,
                        clearable=False,
                        style={"minWidth": "9rem"},
                    ),
                    *filters,
                ],
                className="tiles",
            ),
            html.Div(id="qoe-tiles", className="tiles", style={"marginTop": "1rem"}),
            html.Div(
                [
                    dcc.Dropdown(
                        id="qoe-metric",
                        options=[{"label": m, "value": m} for m in BY_NAME],
                        value="concurrent_viewers",
                        clearable=False,
                        style={"minWidth": "16rem"},
                    )
                ],
                style={"marginTop": "1rem"},
            ),
            dcc.Graph(id="qoe-timeseries"),
            dcc.Graph(id="qoe-vst-histogram"),
            html.Div(
                [
                    html.Span("Breakdown by "),
                    dcc.Dropdown(
                        id="qoe-dimension",
                        options=[{"label": d.label, "value": name} for name, d in SLICES.items()],
                        value="cdn",
                        clearable=False,
                        style={"minWidth": "10rem"},
                    ),
                ],
                className="tiles",
            ),
            DataTable(
                id="qoe-breakdown",
                columns=[{"name": c, "id": c} for c in TABLE_COLUMNS],
                sort_action="native",
                style_table={"overflowX": "auto"},
            ),
            dcc.Interval(id="qoe-refresh", interval=REFRESH_MS),
        ]
    )


def _tile(label: str, value: str) -> html.Div:
    return html.Div(
        [html.Div(value, className="tile-value"), html.Div(label, className="tile-label")], className="tile"
    )


def _fmt(template: str, value: float | None) -> str:
    return "–" if value is None else template.format(value)


def tiles(values: dict[str, Any]) -> list[html.Div]:
    return [_tile(label, _fmt(template, values[name])) for name, (label, template) in TILES.items()]


def timeseries_figure(points: list[dict[str, Any]], metric: str) -> go.Figure:
    unit = BY_NAME[metric].unit
    figure = go.Figure(go.Scatter(x=[p["t"] for p in points], y=[p["value"] for p in points], mode="lines+markers"))
    figure.update_layout(title=f"{metric} ({unit})", margin={"t": 40, "b": 30}, height=300)
    return figure


def histogram_figure(bins: list[dict[str, Any]]) -> go.Figure:
    labels = [f"{b['from_ms'] / 1000:.2f}–{b['to_ms'] / 1000:.2f} s" if b["to_ms"] else "more" for b in bins]
    figure = go.Figure(go.Bar(x=labels, y=[b["views"] for b in bins]))
    figure.update_layout(
        title="Video startup time of the views that started (CTA-2066 prefers distributions to means)",
        margin={"t": 40, "b": 30},
        height=300,
        xaxis_title="startup time",
        yaxis_title="views",
    )
    return figure


def breakdown_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def cell(value: Any) -> Any:
        return round(value, 4) if isinstance(value, float) else value

    return [{c: cell(r[c]) for c in TABLE_COLUMNS} for r in rows]


def render(
    client: Client, minutes: int, filters: dict[str, str], metric: str, dimension: str, bound: str = ""
) -> tuple[list[html.Div], go.Figure, go.Figure, list[dict[str, Any]], dict[str, list[str]]]:
    """Everything the page shows, from the query layer; ``bound``: the one property the viewer
    reads, whatever they picked (empty: every property)."""
    window = Window.last(minutes)
    selected = Filters(filters | {"property": bound} if bound else filters)
    values = queries.overview(client, window, selected)
    points = queries.timeseries(client, window, metric, STEP_FOR_WINDOW.get(minutes, "1m"), selected)
    bins = views.vst_histogram(client, window, selected)
    rows = queries.breakdown(client, window, dimension, selected)
    options = {name: queries.dimension_values(client, window, name) for name in FILTERS}
    if bound and "property" in options:
        options["property"] = [bound]  # the names of other properties are theirs
    return tiles(values), timeseries_figure(points, metric), histogram_figure(bins), breakdown_rows(rows), options


def register(app: dash.Dash, data: DashboardData) -> None:
    @app.callback(
        Output("qoe-tiles", "children"),
        Output("qoe-timeseries", "figure"),
        Output("qoe-vst-histogram", "figure"),
        Output("qoe-breakdown", "data"),
        *[Output(f"qoe-filter-{name}", "options") for name in FILTERS],
        Input("qoe-refresh", "n_intervals"),
        Input("qoe-window", "value"),
        Input("qoe-metric", "value"),
        Input("qoe-dimension", "value"),
        *[Input(f"qoe-filter-{name}", "value") for name in FILTERS],
        State("qoe-window", "value"),
    )
    def refresh(_: Any, minutes: int, metric: str, dimension: str, *rest: Any) -> tuple[Any, ...]:
        chosen = dict(zip(FILTERS, rest[: len(FILTERS)], strict=True))
        filters = {name: value for name, value in chosen.items() if value}
        bound = viewer_property()
        shown, series, histogram, rows, options = render(
            data.warehouse(), int(minutes), filters, metric, dimension, bound
        )
        return (shown, series, histogram, rows, *[options[name] for name in FILTERS])
