"""The dashboards' users on the real embedded warehouse: argon2id hashes, never passwords."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from clickhouse_connect.driver.client import Client

from warehouse.properties import create_property, revoke_property
from warehouse.users import (
    MIN_PASSWORD_LENGTH,
    UserError,
    disable_user,
    ensure_user,
    find_user,
    generate_password,
    list_users,
    save_user,
    verify_user,
)

PASSWORD = "correct horse battery staple"
COLUMNS = ["name", "password_hash", "role", "disabled", "updated_at", "updated_by"]


def stored_rows(client: Client) -> list[tuple[object, ...]]:
    sql = "SELECT name, password_hash, role, disabled, updated_by FROM dashboard_users ORDER BY updated_at"
    return [tuple(row) for row in client.query(sql).result_rows]


def test_a_user_is_stored_with_an_argon2id_hash_and_never_its_password(warehouse: Client) -> None:
    save_user(warehouse, "ops", PASSWORD, "read", "test")
    save_user(warehouse, "also", PASSWORD, "admin", "test")
    rows = stored_rows(warehouse)
    assert [(name, role, disabled, by) for name, _, role, disabled, by in rows] == [
        ("ops", "read", False, "test"),
        ("also", "admin", False, "test"),
    ]
    hashes = [str(row[1]) for row in rows]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1], "each hash has its own salt"
    every_value = warehouse.query("SELECT * FROM dashboard_users").result_rows
    assert PASSWORD not in str(every_value)


def test_the_right_password_signs_in_and_nothing_else_does(warehouse: Client) -> None:
    save_user(warehouse, "ops", PASSWORD, "admin", "test")
    user = verify_user(warehouse, "ops", PASSWORD)
    assert user is not None and user.name == "ops" and user.is_admin
    assert verify_user(warehouse, "ops", PASSWORD + "!") is None
    assert verify_user(warehouse, "ops", "") is None
    assert verify_user(warehouse, "nobody", PASSWORD) is None
    assert verify_user(warehouse, "Not A Name", PASSWORD) is None
    assert verify_user(warehouse, "ops", PASSWORD * 100) is None  # past the longest password: no hashing of it


def test_a_new_password_and_role_replace_the_old_ones_at_once(warehouse: Client) -> None:
    before = save_user(warehouse, "ops", PASSWORD, "read", "test")
    after = save_user(warehouse, "ops", "another password, longer", "admin", "test")  # same millisecond, likely
    assert after.updated_at > before.updated_at and after.stamp != before.stamp
    assert verify_user(warehouse, "ops", PASSWORD) is None
    signed_in = verify_user(warehouse, "ops", "another password, longer")
    assert signed_in is not None and signed_in.role == "admin" and signed_in.stamp == after.stamp
    assert [(u.name, u.role) for u in list_users(warehouse)] == [("ops", "admin")]


def test_a_disabled_user_cannot_sign_in_until_saved_again(warehouse: Client) -> None:
    save_user(warehouse, "ops", PASSWORD, "read", "test")
    disabled = disable_user(warehouse, "ops", "cli:someone")
    assert disabled is not None and disabled.disabled
    assert verify_user(warehouse, "ops", PASSWORD) is None
    listed = list_users(warehouse)
    assert [(u.name, u.disabled, u.updated_by) for u in listed] == [("ops", True, "cli:someone")]
    assert disable_user(warehouse, "nobody", "cli:someone") is None
    save_user(warehouse, "ops", PASSWORD, "read", "test")
    assert verify_user(warehouse, "ops", PASSWORD) is not None


def test_ensure_hashes_again_only_when_something_changed(warehouse: Client) -> None:
    assert ensure_user(warehouse, "admin", PASSWORD, "admin", "bootstrap") == "created"
    assert ensure_user(warehouse, "admin", PASSWORD, "admin", "bootstrap") == "unchanged"
    assert len(stored_rows(warehouse)) == 1
    assert ensure_user(warehouse, "admin", "a changed password", "admin", "bootstrap") == "updated"
    assert verify_user(warehouse, "admin", PASSWORD) is None
    disable_user(warehouse, "admin", "cli:someone")
    assert ensure_user(warehouse, "admin", "a changed password", "admin", "bootstrap") == "updated"
    assert verify_user(warehouse, "admin", "a changed password") is not None
    assert len(stored_rows(warehouse)) == 4


@pytest.mark.parametrize(
    ("name", "password", "role"),
    [
        ("Upper", PASSWORD, "read"),
        ("with space", PASSWORD, "read"),
        ("a:b", PASSWORD, "read"),  # a session names the user as name:stamp
        ("ops\n", PASSWORD, "read"),  # a regex's $ would let the newline through
        ("", PASSWORD, "read"),
        ("ops", "x" * (MIN_PASSWORD_LENGTH - 1), "read"),
        ("ops", PASSWORD, "root"),
    ],
)
def test_names_roles_and_passwords_are_checked(warehouse: Client, name: str, password: str, role: str) -> None:
    with pytest.raises(UserError):
        save_user(warehouse, name, password, role, "test")
    assert stored_rows(warehouse) == []


def test_a_hash_made_with_weaker_costs_is_replaced_at_sign_in(warehouse: Client) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    row = ["ops", weak, "read", False, datetime.now(UTC), "an older release"]
    warehouse.insert("dashboard_users", [row], column_names=COLUMNS)
    assert verify_user(warehouse, "ops", PASSWORD) is not None
    newest = str(stored_rows(warehouse)[-1][1])
    assert newest != weak and not PasswordHasher().check_needs_rehash(newest)
    found = find_user(warehouse, "ops")
    assert found is not None and found.updated_by == "rehash"


def test_generated_passwords_are_long_random_and_accepted(warehouse: Client) -> None:
    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20 and all(len(p) >= 24 for p in passwords)
    save_user(warehouse, "ops", passwords.pop(), "read", "test")


# --- tenancy: a read user bound to one property ------------------------------------------------


@pytest.fixture
def brands(warehouse: Client) -> Client:
    """Two active properties, brand-a and brand-b."""
    create_property(warehouse, "brand-a", "Brand A", (), "ops")
    create_property(warehouse, "brand-b", "Brand B", (), "ops")
    return warehouse


def test_a_read_user_bound_to_a_property_reads_it_after_sign_in(brands: Client) -> None:
    saved = save_user(brands, "brand-a-ops", PASSWORD, "read", "test", property_id="brand-a")
    assert saved.property_id == "brand-a" and saved.to_json()["property"] == "brand-a"
    signed_in = verify_user(brands, "brand-a-ops", PASSWORD)
    assert signed_in is not None and signed_in.property_id == "brand-a"
    save_user(brands, "everyone", PASSWORD, "read", "test")
    listed = {u.name: (u.property_id, u.to_json()["property"]) for u in list_users(brands)}
    assert listed == {"brand-a-ops": ("brand-a", "brand-a"), "everyone": ("", None)}
    stored = brands.query("SELECT name, property FROM dashboard_users ORDER BY name").result_rows
    assert [tuple(row) for row in stored] == [("brand-a-ops", "brand-a"), ("everyone", "")]


def test_a_new_password_or_role_keeps_the_property_unless_another_is_given(brands: Client) -> None:
    """The decision: a change that names no property keeps the user's, so a password reset never
    widens what a bound user sees; "" unbinds it, another id moves it."""
    save_user(brands, "ops", PASSWORD, "read", "test", property_id="brand-a")
    kept = save_user(brands, "ops", "a new password, long enough", "read", "test")
    assert kept.property_id == "brand-a"
    found = find_user(brands, "ops")
    assert found is not None and found.property_id == "brand-a" and found.stamp == kept.stamp
    moved = save_user(brands, "ops", PASSWORD, "read", "test", property_id="brand-b")
    assert moved.property_id == "brand-b" and verify_user(brands, "ops", PASSWORD) == moved
    unbound = save_user(brands, "ops", PASSWORD, "read", "test", property_id="")
    assert unbound.property_id == "" and [u.property_id for u in list_users(brands)] == [""]
    assert save_user(brands, "ops", PASSWORD, "read", "test").property_id == "", "unbound stays unbound"


def test_disabling_and_saving_again_keep_the_property(brands: Client) -> None:
    save_user(brands, "ops", PASSWORD, "read", "test", property_id="brand-a")
    disabled = disable_user(brands, "ops", "cli:someone")
    assert disabled is not None and disabled.property_id == "brand-a"
    assert [(u.disabled, u.property_id) for u in list_users(brands)] == [(True, "brand-a")]
    enabled = save_user(brands, "ops", PASSWORD, "read", "test")
    assert (enabled.disabled, enabled.property_id) == (False, "brand-a"), "enabled again, still bound"


def test_a_rehash_at_sign_in_keeps_the_property(brands: Client) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    row = ["ops", weak, "read", False, datetime.now(UTC), "an older release", "brand-a"]
    brands.insert("dashboard_users", [row], column_names=[*COLUMNS, "property"])
    signed_in = verify_user(brands, "ops", PASSWORD)
    assert signed_in is not None and signed_in.updated_by == "rehash" and signed_in.property_id == "brand-a"
    found = find_user(brands, "ops")
    assert found is not None and found.property_id == "brand-a"


def test_a_user_saved_before_properties_reads_every_property(warehouse: Client) -> None:
    """Rows written without the column (before migration 0048) read as every property."""
    row = ["ops", PasswordHasher().hash(PASSWORD), "read", False, datetime.now(UTC), "an older release"]
    warehouse.insert("dashboard_users", [row], column_names=COLUMNS)
    signed_in = verify_user(warehouse, "ops", PASSWORD)
    assert signed_in is not None and signed_in.property_id == "" and signed_in.to_json()["property"] is None


@pytest.mark.parametrize(
    ("role", "property_id", "reason"),
    [
        ("read", "brand-z", "no active property 'brand-z'"),
        ("read", "Not An Id", "no active property"),
        ("read", "brand-c", "no active property 'brand-c'"),  # revoked
        ("admin", "brand-a", "read role only: administration is not per property"),
    ],
)
def test_a_user_is_bound_only_to_an_active_property_and_as_a_reader(
    brands: Client, role: str, property_id: str, reason: str
) -> None:
    create_property(brands, "brand-c", "Brand C", (), "ops")
    revoke_property(brands, "brand-c", "ops")
    with pytest.raises(UserError, match=reason):
        save_user(brands, "ops", PASSWORD, role, "test", property_id=property_id)
    assert stored_rows(brands) == []


def test_a_bound_user_becomes_an_admin_only_when_unbound_at_once(brands: Client) -> None:
    save_user(brands, "ops", PASSWORD, "read", "test", property_id="brand-a")
    with pytest.raises(UserError, match="bound to property 'brand-a': unbind it"):
        save_user(brands, "ops", PASSWORD, "admin", "test")  # keeping brand-a would make a bound admin
    with pytest.raises(UserError, match="read role only"):
        save_user(brands, "ops", PASSWORD, "admin", "test", property_id="brand-a")
    assert [(u.role, u.property_id) for u in list_users(brands)] == [("read", "brand-a")]
    promoted = save_user(brands, "ops", PASSWORD, "admin", "test", property_id="")
    assert (promoted.role, promoted.property_id) == ("admin", "")


def test_a_kept_property_is_not_checked_again_once_revoked(brands: Client) -> None:
    """A revoked property's reader keeps reading it (as its bound tokens do): never widened to every property."""
    save_user(brands, "ops", PASSWORD, "read", "test", property_id="brand-a")
    revoke_property(brands, "brand-a", "ops")
    assert save_user(brands, "ops", "a new password, long enough", "read", "test").property_id == "brand-a"
    with pytest.raises(UserError, match="no active property 'brand-a'"):
        save_user(brands, "other", PASSWORD, "read", "test", property_id="brand-a")


def test_ensure_makes_the_user_unbound(brands: Client) -> None:
    """The bootstrap admin: a user of that name bound meanwhile is unbound and made admin again."""
    assert ensure_user(brands, "admin", PASSWORD, "admin", "bootstrap") == "created"
    save_user(brands, "admin", PASSWORD, "read", "test", property_id="brand-a")
    assert ensure_user(brands, "admin", PASSWORD, "admin", "bootstrap") == "updated"
    found = find_user(brands, "admin")
    assert found is not None and (found.role, found.property_id) == ("admin", "")
    assert ensure_user(brands, "admin", PASSWORD, "admin", "bootstrap") == "unchanged"
    save_user(brands, "reader", PASSWORD, "read", "test", property_id="brand-a")
    assert ensure_user(brands, "reader", PASSWORD, "read", "test", property_id="brand-a") == "unchanged"
