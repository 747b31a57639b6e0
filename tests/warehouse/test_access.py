"""Access tokens in the warehouse (warehouse.access), on the real embedded engine."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from foundation.access import AccessDeniedError, Principal, Scope, Token, TokenVerifier, new_token, secret_matches
from warehouse.access import bindable_property, create_token, ensure_token, list_tokens, load_tokens, revoke_token
from warehouse.properties import create_property

pytestmark = pytest.mark.integration

READ, ADMIN = frozenset({Scope.READ}), frozenset({Scope.ADMIN})


def test_the_secret_is_returned_once_and_stored_only_as_its_hash(warehouse: Client) -> None:
    issued = create_token(warehouse, "grafana", READ, "ops")
    assert (issued.info.name, issued.info.scopes, issued.info.created_by) == ("grafana", READ, "ops")
    assert issued.to_json()["token"] == str(issued.token)
    rows = warehouse.query("SELECT * FROM access_tokens").result_rows
    stored = " ".join(str(value) for row in rows for value in row)
    assert issued.token.token_id in stored
    assert issued.token.secret not in stored and str(issued.token) not in stored
    [snapshot] = load_tokens(warehouse)
    assert snapshot.secret_hash.startswith("$argon2id$") and secret_matches(snapshot.secret_hash, issued.token.secret)


def test_listing_shows_every_token_newest_first_without_secrets(warehouse: Client) -> None:
    first = create_token(warehouse, "first", READ, "ops")
    second = create_token(warehouse, "second", frozenset({Scope.READ, Scope.ADMIN}), "ops")
    listed = list_tokens(warehouse)
    assert [info.token_id for info in listed] == [second.info.token_id, first.info.token_id]
    assert listed[0].scopes == {Scope.READ, Scope.ADMIN} and all(info.active for info in listed)
    shown = str([info.to_json() for info in listed])
    assert first.token.secret not in shown and "argon2" not in shown


def test_revoking_writes_a_new_version_that_leaves_the_snapshot(warehouse: Client) -> None:
    kept = create_token(warehouse, "kept", READ, "ops")
    gone = create_token(warehouse, "gone", READ, "ops")
    revoked = revoke_token(warehouse, gone.info.token_id, "alice")
    assert revoked is not None and not revoked.active and revoked.revoked_by == "alice"
    assert [stored.info.token_id for stored in load_tokens(warehouse)] == [kept.info.token_id]
    again = revoke_token(warehouse, gone.info.token_id, "bob")
    assert again is not None and again.revoked_by == "alice"  # the first revocation stands
    assert revoke_token(warehouse, new_token().token_id, "alice") is None
    states = {info.token_id: info.active for info in list_tokens(warehouse)}
    assert states == {kept.info.token_id: True, gone.info.token_id: False}


def test_a_verifier_on_the_warehouse_refuses_a_token_once_it_is_revoked(warehouse: Client) -> None:
    issued = create_token(warehouse, "ci", READ, "ops")
    verifier = TokenVerifier(lambda: load_tokens(warehouse))
    assert verifier.authenticate(f"Bearer {issued.token}").name == "ci"
    revoke_token(warehouse, issued.info.token_id, "ops")
    verifier.refresh()
    with pytest.raises(AccessDeniedError, match="unknown or revoked"):
        verifier.authenticate(f"Bearer {issued.token}")


def test_the_bootstrap_token_is_registered_once_and_never_revived(warehouse: Client) -> None:
    token = new_token()
    assert ensure_token(warehouse, token, "bootstrap", ADMIN, "env") == "registered"
    assert ensure_token(warehouse, token, "bootstrap", ADMIN, "env") == "already registered"
    assert len(list_tokens(warehouse)) == 1
    revoke_token(warehouse, token.token_id, "ops")
    assert "not registered again" in ensure_token(warehouse, token, "bootstrap", ADMIN, "env")
    assert load_tokens(warehouse) == []


def test_an_id_held_by_another_secret_is_not_taken_over(warehouse: Client) -> None:
    held = create_token(warehouse, "held", ADMIN, "ops")
    impostor = Token(held.token.token_id, new_token().secret)
    with pytest.raises(ValueError, match="already held by another token"):
        ensure_token(warehouse, impostor, "bootstrap", ADMIN, "env")


def test_a_read_token_can_be_bound_to_an_active_property(warehouse: Client) -> None:
    create_property(warehouse, "brand-a", "Brand A", (), "ops")
    assert bindable_property(warehouse, "brand-a", READ) == "brand-a"
    issued = create_token(warehouse, "brand-a dashboards", READ, "ops", property_id="brand-a")
    [stored] = load_tokens(warehouse)
    assert stored.info.property_id == "brand-a" == Principal.of(stored.info).property_id
    assert issued.to_json()["property"] == "brand-a"


@pytest.mark.parametrize(
    ("property_id", "scopes", "reason"),
    [("brand-z", READ, "no active property 'brand-z'"), ("brand-a", ADMIN, "read scope only")],
)
def test_a_token_cannot_be_bound_to_an_unknown_property_or_with_admin(
    warehouse: Client, property_id: str, scopes: frozenset[Scope], reason: str
) -> None:
    create_property(warehouse, "brand-a", "Brand A", (), "ops")
    with pytest.raises(ValueError, match=reason):
        bindable_property(warehouse, property_id, scopes)


def test_unbound_tokens_read_every_property(warehouse: Client) -> None:
    create_token(warehouse, "grafana", READ, "ops")
    [stored] = load_tokens(warehouse)
    assert stored.info.property_id == "" and stored.info.to_json()["property"] is None
