from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from delivery.steering.manifest import (
    MAX_QUERY_BYTES,
    PathwayClone,
    ReloadState,
    SteeringQueryError,
    build_manifest,
    parse_pathway_list,
    parse_query,
    parse_throughput,
    reload_uri,
)
from schemas.steering import GLOBAL, Group

KNOWN = ("cdn-a", "cdn-b", "cdn-c")


def test_manifest_has_the_spec_fields() -> None:
    doc = build_manifest(["cdn-b", "cdn-a"], ttl_s=20, reload="hls?country=NO")
    assert doc == {"VERSION": 1, "TTL": 20, "RELOAD-URI": "hls?country=NO", "PATHWAY-PRIORITY": ["cdn-b", "cdn-a"]}
    assert isinstance(doc["TTL"], int)
    assert "PATHWAY-CLONES" not in doc  # only when configured


def test_manifest_lists_pathway_clones_when_configured() -> None:
    clone = PathwayClone("cdn-a", "cdn-a-2", host="edge2.cdn-a.example", params={"token": "t1"})
    doc = build_manifest(["cdn-a-2", "cdn-a"], ttl_s=20, reload="hls", clones=[clone])
    assert doc["PATHWAY-CLONES"] == [
        {
            "BASE-ID": "cdn-a",
            "ID": "cdn-a-2",
            "URI-REPLACEMENT": {"HOST": "edge2.cdn-a.example", "PARAMS": {"token": "t1"}},
        }
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_id": "a", "id": "a", "host": "h"}, "own base"),
        ({"base_id": "a", "id": "b c", "host": "h"}, "illegal"),
        ({"base_id": "a", "id": "b"}, "replaces nothing"),
    ],
)
def test_bad_clones_are_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PathwayClone(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("priority", "ttl"), [([], 20), (["a"], 0), (["a"], 86_401)])
def test_manifest_refuses_empty_priority_and_absurd_ttl(priority: list[str], ttl: int) -> None:
    with pytest.raises(ValueError):
        build_manifest(priority, ttl_s=ttl, reload="hls")


def test_reload_uri_round_trips_group_and_state() -> None:
    group = Group("NO", 2119, "mobile", "live")
    state = ReloadState(version=7, priority=("cdn-b", "cdn-a"))
    uri = reload_uri("hls", group, state)
    assert uri.startswith("hls?")  # relative: resolves against the steering URL, any prefix
    # The player appends its own parameters to the RELOAD-URI before requesting it.
    items = [*parse_qsl(urlsplit(uri).query), ("_HLS_pathway", "cdn-b"), ("_HLS_throughput", "5000000")]
    query = parse_query(items, "hls", KNOWN)
    assert query.group == group
    assert query.state == state
    assert query.current_pathway == "cdn-b"
    assert query.throughput_bps == 5_000_000
    assert query.ignored == ()


def test_personal_orders_are_marked_in_the_state() -> None:
    state = ReloadState(version=2, priority=("cdn-c", "cdn-a", "cdn-b"), personal=True)
    uri = reload_uri("hls", Group("SE"), state)
    assert "qoe_x=1" in uri
    assert parse_query(parse_qsl(urlsplit(uri).query), "hls", KNOWN).state == state
    odd = parse_query([("qoe_x", "yes"), ("qoe_p", "cdn-a,cdn-a")], "hls", KNOWN)
    assert odd.state == ReloadState() and len(odd.ignored) == 2


def test_reload_uri_of_the_global_group_carries_only_state() -> None:
    uri = reload_uri("dash", GLOBAL, ReloadState(1, ("cdn-a",)))
    assert uri == "dash?qoe_v=1&qoe_p=cdn-a"
    assert parse_query(parse_qsl(urlsplit(uri).query), "dash", KNOWN).group == GLOBAL


def test_hls_query_parameters() -> None:
    query = parse_query(
        [("_HLS_pathway", "cdn-c"), ("_HLS_throughput", "1234567.8"), ("country", "no"), ("asn", "AS2119")],
        "hls",
        KNOWN,
    )
    assert query.protocol == "hls"
    assert query.current_pathway == "cdn-c" and query.reported_pathways == ("cdn-c",)
    assert query.throughput_bps == 1_234_568
    assert query.group == Group("NO", 2119)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"cdn-a,cdn-b"', ("cdn-a", "cdn-b")),
        ("cdn-b", ("cdn-b",)),
        ('" cdn-b , cdn-c "', ("cdn-b", "cdn-c")),
        ('""', ()),
        ("", ()),
    ],
)
def test_dash_pathway_lists_quoted_or_not(raw: str, expected: tuple[str, ...]) -> None:
    assert parse_pathway_list(raw) == expected
    query = parse_query([("_DASH_pathway", raw), ("_DASH_throughput", "800000")], "dash", KNOWN)
    assert query.reported_pathways == expected
    assert query.current_pathway == (expected[0] if expected else None)
    assert query.throughput_bps == 800_000


def test_hls_parameters_are_not_read_on_the_dash_endpoint() -> None:
    query = parse_query([("_HLS_pathway", "cdn-a")], "dash", KNOWN)
    assert query.current_pathway is None


@pytest.mark.parametrize("raw", ["fast", "-5", "0", "nan", "inf", "1e13", "", "0x10"])
def test_malformed_or_absurd_throughput_is_ignored(raw: str) -> None:
    assert parse_throughput(raw) is None
    query = parse_query([("_HLS_throughput", raw)], "hls", KNOWN)
    assert query.throughput_bps is None
    assert any(note.startswith("_HLS_throughput") for note in query.ignored)


def test_unknown_values_are_ignored_and_noted_never_raised() -> None:
    query = parse_query(
        [
            ("_HLS_pathway", "cdn-x"),
            ("country", "Norway!"),
            ("asn", "99999999999"),
            ("device", "toaster"),
            ("stream_type", "radio"),
            ("qoe_v", "-1"),
            ("qoe_p", "cdn-a,evil"),
        ],
        "hls",
        KNOWN,
    )
    assert query.current_pathway is None
    assert query.group == GLOBAL
    assert query.state == ReloadState()
    assert len(query.ignored) == 7


def test_first_occurrence_of_a_repeated_parameter_wins() -> None:
    query = parse_query([("country", "NO"), ("country", "SE")], "hls", KNOWN)
    assert query.group.country == "NO"


def test_oversized_requests_get_a_4xx_error() -> None:
    with pytest.raises(SteeringQueryError) as too_long:
        parse_query([], "hls", KNOWN, raw_query="x" * (MAX_QUERY_BYTES + 1))
    assert too_long.value.status_code == 414
    with pytest.raises(SteeringQueryError) as long_value:
        parse_query([("country", "N" * 300)], "hls", KNOWN)
    assert long_value.value.status_code == 400
    with pytest.raises(SteeringQueryError) as many:
        parse_query([(f"p{i}", "1") for i in range(40)], "hls", KNOWN)
    assert many.value.status_code == 400
