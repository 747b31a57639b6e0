"""The dashboards' users on the real embedded warehouse: argon2id hashes, never passwords."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from clickhouse_connect.driver.client import Client

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
