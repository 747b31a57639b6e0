"""Properties and their public keys in the warehouse (warehouse.properties), on the real embedded engine."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from foundation.properties import DEFAULT_PROPERTY, Property, valid_property_key
from warehouse.properties import (
    PropertyError,
    PropertyExistsError,
    create_property,
    ensure_property,
    list_properties,
    revoke_property,
)

pytestmark = pytest.mark.integration


def test_a_created_property_has_a_fresh_public_key_and_its_origins(warehouse: Client) -> None:
    web = create_property(warehouse, "web", "web player", ["https://*.example.com", "http://localhost:8000"], "ops")
    assert valid_property_key(web.key) and web.active
    assert (web.property_id, web.name, web.created_by) == ("web", "web player", "ops")
    assert web.origins == ("https://*.example.com", "http://localhost:8000")
    app = create_property(warehouse, "ios-app", "iOS app", [], "ops")
    assert app.origins == () and app.key != web.key
    [listed] = [prop for prop in list_properties(warehouse) if prop.property_id == "web"]
    assert listed == web and listed.created_at is not None
    assert Property.from_json(web.to_json()).key == web.key


def test_listing_shows_every_property_newest_first_revoked_ones_included(warehouse: Client) -> None:
    older = create_property(warehouse, "older", "older", [], "ops")
    newer = create_property(warehouse, "newer", "newer", [], "ops")  # within the same ms: ordered by id
    revoke_property(warehouse, "older", "ops")
    listed = list_properties(warehouse)
    assert [prop.property_id for prop in listed] == ["newer", "older"]
    assert [prop.active for prop in listed] == [True, False]
    assert {prop.key for prop in listed} == {older.key, newer.key}


def test_an_active_id_is_not_created_twice(warehouse: Client) -> None:
    kept = create_property(warehouse, "web", "web", [], "ops")
    with pytest.raises(PropertyExistsError, match="'web' exists"):
        create_property(warehouse, "web", "another", [], "mallory")
    assert list_properties(warehouse) == [kept]


def test_revoking_writes_a_new_version_and_creating_the_id_again_rotates_its_key(warehouse: Client) -> None:
    leaked = create_property(warehouse, "web", "web", ["https://example.com"], "ops")
    revoked = revoke_property(warehouse, "web", "alice")
    assert revoked is not None and not revoked.active and revoked.revoked_by == "alice"
    assert revoked.key == leaked.key and revoked.revoked_at is not None
    again = revoke_property(warehouse, "web", "bob")
    assert again is not None and again.revoked_by == "alice"  # the first revocation stands
    assert revoke_property(warehouse, "nobody", "alice") is None

    rotated = create_property(warehouse, "web", "web", ["https://example.com"], "ops")
    assert rotated.active and rotated.key != leaked.key
    assert list_properties(warehouse) == [rotated]  # one row per property: its newest version
    versions = warehouse.query("SELECT count() FROM properties WHERE property_id = 'web'").result_rows
    assert versions == [(3,)]  # created, revoked, created again: each an insert


@pytest.mark.parametrize(
    ("property_id", "name", "origins", "reason"),
    [
        ("Web", "web", [], "a property id is"),
        ("-web", "web", [], "a property id is"),
        ("x" * 64, "web", [], "a property id is"),
        ("web", "   ", [], "a property name has"),
        ("web", "x" * 201, [], "a property name has"),
        ("web", "web", ["https://example.com/path"], "an origin is"),
        ("web", "web", ["example.com"], "an origin is"),
        ("web", "web", ["ftp://example.com"], "an origin is"),
    ],
)
def test_a_bad_id_name_or_origin_is_refused_with_the_reason(
    warehouse: Client, property_id: str, name: str, origins: list[str], reason: str
) -> None:
    with pytest.raises(PropertyError, match=reason):
        create_property(warehouse, property_id, name, origins, "ops")
    assert list_properties(warehouse) == []


def test_repeated_origins_are_stored_once(warehouse: Client) -> None:
    origins = ["https://a.example", "https://b.example", "https://a.example"]
    prop = create_property(warehouse, "web", "web", origins, "ops")
    assert prop.origins == ("https://a.example", "https://b.example")


def test_the_default_property_is_ensured_once_and_recreated_after_a_revocation(warehouse: Client) -> None:
    first = ensure_property(warehouse, DEFAULT_PROPERTY, "default", "qoe up")
    assert first.active and first.origins == () and first.created_by == "qoe up"
    assert ensure_property(warehouse, DEFAULT_PROPERTY, "default", "qoe up") == first
    assert len(list_properties(warehouse)) == 1
    revoke_property(warehouse, DEFAULT_PROPERTY, "ops")
    again = ensure_property(warehouse, DEFAULT_PROPERTY, "default", "qoe up")
    assert again.active and again.key != first.key
    with pytest.raises(PropertyError, match="a property id is"):
        ensure_property(warehouse, "Not A Slug", "x", "qoe up")
