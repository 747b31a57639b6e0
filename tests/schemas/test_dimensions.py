"""The one list of dimensions agrees with every place that slices views by them."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, get_args

import orjson

from schemas import Context
from schemas.dimensions import SLICES, VIEW_DIMENSION_COLUMNS, VIEW_DIMENSIONS, SliceName, Source
from schemas.record import ServerContext
from streams.sessionizer.events import Dims, read_record
from tests.factories.beacons import T0_MS, beacon


def beacon_record(context: dict[str, Any], server: dict[str, Any]) -> bytes:
    sent = beacon()
    sent["context"] = context
    return orjson.dumps({"server": {"received_at": T0_MS, **server}, "beacon": sent})


def test_the_slice_type_names_exactly_the_sliced_dimensions() -> None:
    assert set(get_args(SliceName)) == set(SLICES)


def test_the_sessionizer_keeps_every_dimension_in_order() -> None:
    assert tuple(f.name for f in fields(Dims)) == VIEW_DIMENSION_COLUMNS


def test_every_dimension_reads_a_field_the_record_has() -> None:
    for dimension in VIEW_DIMENSIONS:
        if dimension.source is Source.SDK:
            continue
        if dimension.source is Source.SERVER:  # the server's alone: a client cannot even send it
            assert dimension.field in ServerContext.model_fields, dimension
            assert dimension.field not in Context.model_fields, dimension
            continue
        assert dimension.field in Context.model_fields, dimension
        if dimension.source is not Source.CLIENT:
            assert dimension.field in ServerContext.model_fields, dimension


def test_the_property_is_the_servers_and_a_client_claim_is_ignored() -> None:
    """Ingest resolves the property from the beacon's key; a context field of that name is no claim."""
    assert SLICES["property"].source is Source.SERVER
    claimed = read_record(beacon_record(context={"property": "brand-b"}, server={"property": "brand-a"})).dims
    assert claimed.property == "brand-a"
    assert read_record(beacon_record(context={"property": "brand-b"}, server={})).dims.property == "default"


def test_edge_geo_beats_the_client_and_client_device_hints_beat_the_user_agent() -> None:
    record = beacon_record(
        context={"country": "SE", "asn": 1, "device_type": "tv", "cdn": "cdn-b"},
        server={"country": "NO", "asn": 2119, "device_type": "desktop"},
    )
    dims = read_record(record).dims
    assert (dims.country, dims.asn, dims.device_type, dims.cdn) == ("NO", 2119, "tv", "cdn-b")
    bare = read_record(beacon_record(context={}, server={"country": "", "device_type": "mobile"})).dims
    assert (bare.country, bare.asn, bare.device_type, bare.stream_type) == ("", 0, "mobile", "vod")


def test_the_stats_api_and_the_dashboards_slice_by_the_one_list() -> None:
    from dashboards.pages import qoe
    from warehouse.stats.queries import DIMENSIONS

    assert {name: d.column for name, d in SLICES.items()} == DIMENSIONS
    assert set(DIMENSIONS.values()) <= set(VIEW_DIMENSION_COLUMNS)
    assert set(qoe.FILTERS) <= set(SLICES)
    assert "property" in DIMENSIONS and "property" in qoe.FILTERS  # tenancy: read and picked per property
