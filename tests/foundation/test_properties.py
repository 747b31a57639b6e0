"""Property keys: their format, origin matching, and the snapshot the gateway checks them against."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from foundation.properties import (
    Property,
    PropertyKeys,
    new_property_key,
    origin_allowed,
    valid_origin,
    valid_property_id,
    valid_property_key,
)


def _property(
    property_id: str = "brand-a", origins: tuple[str, ...] = (), revoked_at: datetime | None = None
) -> Property:
    return Property(property_id, property_id, new_property_key(), origins, revoked_at=revoked_at)


def test_a_new_key_is_valid_and_unguessable() -> None:
    keys = {new_property_key() for _ in range(100)}
    assert len(keys) == 100 and all(valid_property_key(key) for key in keys)
    assert not valid_property_key("qoe_pk_short") and not valid_property_key("qoe_0123456789abcdef_secret")


@pytest.mark.parametrize("text", ["brand-a", "tv", "a" * 63])
def test_property_ids_are_slugs(text: str) -> None:
    assert valid_property_id(text)


@pytest.mark.parametrize("text", ["", "Brand", "-a", "a b", "a" * 64, "a/b"])
def test_other_property_ids_are_refused(text: str) -> None:
    assert not valid_property_id(text)


@pytest.mark.parametrize(
    ("origin", "valid"),
    [
        ("https://www.example.com", True),
        ("http://localhost:8000", True),
        ("https://*.example.com", True),
        ("https://example.com/path", False),
        ("ftp://example.com", False),
        ("example.com", False),
    ],
)
def test_allowed_origins_are_scheme_host_and_port(origin: str, valid: bool) -> None:
    assert valid_origin(origin) is valid


def test_origins_match_exactly_or_by_subdomain_wildcard() -> None:
    allowed = ("https://www.example.com", "https://*.brand.tv")
    assert origin_allowed(allowed, "https://www.example.com")
    assert origin_allowed(allowed, "HTTPS://WWW.EXAMPLE.COM/")
    assert origin_allowed(allowed, "https://player.brand.tv")
    assert not origin_allowed(allowed, "https://brand.tv")  # the wildcard needs a subdomain
    assert not origin_allowed(allowed, "https://evilbrand.tv")
    assert not origin_allowed(allowed, "http://www.example.com")  # another scheme is another origin
    assert not origin_allowed(allowed, "https://www.example.com.evil.net")


def test_no_allowed_origins_or_no_origin_leaves_the_key_to_decide() -> None:
    assert origin_allowed((), "https://anywhere.example")
    assert origin_allowed(("https://www.example.com",), None)  # an app or a TV sends no Origin


def test_the_json_form_round_trips() -> None:
    prop = _property(origins=("https://www.example.com",))
    again = Property.from_json(prop.to_json())
    assert (again.property_id, again.key, again.origins) == (prop.property_id, prop.key, prop.origins)
    assert again.active


class _Loader:
    def __init__(self, *properties: Property) -> None:
        self.properties: list[Property] = list(properties)
        self.calls = 0
        self.failing = False

    async def __call__(self) -> Iterable[Property]:
        self.calls += 1
        if self.failing:
            raise ConnectionError("warehouse API away")
        return list(self.properties)


def test_a_key_is_found_and_a_revoked_one_is_not() -> None:
    live, revoked = _property("live"), _property("gone", revoked_at=datetime.now(UTC))
    keys = PropertyKeys(_Loader(live, revoked))
    assert asyncio.run(keys.lookup(live.key)) == live
    assert asyncio.run(keys.lookup(revoked.key)) is None


def test_a_key_created_just_after_a_reload_works_at_once() -> None:
    loader = _Loader()
    keys = PropertyKeys(loader, refresh_every_s=60, unknown_reload_s=0.2)
    created = _property()

    async def scenario() -> Property | None:
        assert await keys.lookup(new_property_key()) is None  # loads the (empty) snapshot, twice at most
        loader.properties.append(created)
        return await keys.lookup(created.key)  # within unknown_reload_s of the last reload: waits for the next

    assert asyncio.run(scenario()) == created


def test_unknown_keys_share_one_reload_per_interval() -> None:
    loader = _Loader()
    keys = PropertyKeys(loader, refresh_every_s=60, unknown_reload_s=0.2)

    async def scenario() -> None:
        await keys.lookup(new_property_key())
        before = loader.calls
        assert await asyncio.gather(*(keys.lookup(new_property_key()) for _ in range(50))) == [None] * 50
        assert loader.calls == before + 1

    asyncio.run(scenario())


def test_a_malformed_key_never_reloads() -> None:
    loader = _Loader()
    keys = PropertyKeys(loader, refresh_every_s=60, unknown_reload_s=0.2)

    async def scenario() -> None:
        await keys.lookup("not-a-key")
        await keys.lookup("not-a-key")

    asyncio.run(scenario())
    assert loader.calls == 1


def test_a_failed_reload_keeps_the_last_snapshot() -> None:
    prop = _property()
    loader = _Loader(prop)
    keys = PropertyKeys(loader, refresh_every_s=0.0)

    async def scenario() -> None:
        assert await keys.lookup(prop.key) == prop
        loader.failing = True
        assert await keys.lookup(prop.key) == prop  # the warehouse is away: players keep posting

    asyncio.run(scenario())
    assert keys.loaded and loader.calls >= 2


def test_nothing_loaded_is_known_as_such() -> None:
    loader = _Loader()
    loader.failing = True
    keys = PropertyKeys(loader)
    assert asyncio.run(keys.lookup(new_property_key())) is None
    assert not keys.loaded


def test_concurrent_lookups_share_one_reload() -> None:
    prop = _property()
    loader = _Loader(prop)
    keys = PropertyKeys(loader)

    async def scenario() -> list[Property | None]:
        return await asyncio.gather(*(keys.lookup(prop.key) for _ in range(20)))

    assert asyncio.run(scenario()) == [prop] * 20
    assert loader.calls == 1
