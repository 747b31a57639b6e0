from __future__ import annotations

import math

import pytest
from qoe_sim.network import CdnProfile, Incident, IncidentError, Network, parse_duration_ms, parse_incident


def test_the_example_spec_parses() -> None:
    incident = parse_incident("cdn-b:degrade:60s-180s")
    assert incident == Incident("cdn-b", "degrade", 60_000, 180_000, 0.25, "")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("cdn-b@eu:outage:2m-4m", Incident("cdn-b", "outage", 120_000, 240_000, 1.0, "eu")),
        ("cdn-a@US:latency=800:0-", Incident("cdn-a", "latency", 0, math.inf, 800.0, "US")),
        ("cdn-c:errors=0.3:90s+60s", Incident("cdn-c", "errors", 90_000, 150_000, 0.3, "")),
        ("cdn-a:degrade=0.1:500ms-1.5s", Incident("cdn-a", "degrade", 500, 1_500, 0.1, "")),
        ("cdn-a:degrade:30-90", Incident("cdn-a", "degrade", 30_000, 90_000, 0.25, "")),
    ],
)
def test_incident_specs(spec: str, expected: Incident) -> None:
    assert parse_incident(spec, ("cdn-a", "cdn-b", "cdn-c")) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cdn-b", "expected CDN\\[@ZONE\\|@COUNTRY\\]:KIND"),
        ("cdn-b:degrade:60s", "expected"),
        ("cdn-b:melt:60s-180s", "kind 'melt' is not one of degrade, outage, latency, errors"),
        ("cdn-z:outage:0-10s", "unknown CDN 'cdn-z'"),
        ("cdn-b@mars:outage:0-10s", "neither a zone"),
        ("cdn-b:outage:3m-1m", "must end after it starts"),
        ("cdn-b:degrade=2:0-10s", "fraction in \\[0, 1\\]"),
        ("cdn-b:outage:10x-20x", "not a duration"),
    ],
)
def test_bad_incident_specs_are_explained(spec: str, message: str) -> None:
    with pytest.raises(IncidentError, match=message):
        parse_incident(spec, ("cdn-a", "cdn-b", "cdn-c"))


def test_durations() -> None:
    assert parse_duration_ms("90") == 90_000
    assert parse_duration_ms("1.5m") == 90_000
    assert parse_duration_ms("2h") == 7_200_000
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration_ms("soon")


def test_incidents_apply_only_in_their_window_place_and_cdn() -> None:
    base = {"cdn-b": {"eu": CdnProfile(1.0, 10, 0.0), "na": CdnProfile(1.0, 10, 0.0)}}
    network = Network(
        ("cdn-a", "cdn-b"),
        profiles=base,
        incidents=(parse_incident("cdn-b@eu:degrade=0.5:60s-180s"), parse_incident("cdn-b@NO:outage:100s-110s")),
        peering_spread=0.0,
    )
    assert network.conditions("cdn-b", "eu", "DE", 1, 59_999).throughput_factor == 1.0
    assert network.conditions("cdn-b", "eu", "DE", 1, 60_000).throughput_factor == 0.5
    assert network.conditions("cdn-b", "na", "US", 1, 90_000).throughput_factor == 1.0
    assert network.conditions("cdn-b", "eu", "NO", 1, 105_000).outage
    assert not network.conditions("cdn-b", "eu", "DE", 1, 105_000).outage
    assert network.conditions("cdn-b", "eu", "DE", 1, 180_000).throughput_factor == 1.0
    assert network.conditions("cdn-a", "eu", "DE", 1, 90_000).failure_prob > 0  # unknown CDN: the default profile


def test_peering_factors_are_fixed_per_cdn_and_asn_and_differ_between_them() -> None:
    network = Network(seed=3)
    factors = {(cdn, asn): network.peering_factor(cdn, asn) for cdn in network.cdns for asn in (7922, 3320, 2119)}
    assert all(0 < f <= 1 for f in factors.values())
    assert len(set(factors.values())) > 1
    assert Network(seed=3).peering_factor("cdn-a", 7922) == factors[("cdn-a", 7922)]
