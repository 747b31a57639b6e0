"""Access tokens (foundation.access): the wire format, scopes, hashing, and the verifier's snapshot and caches."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from foundation.access import (
    UNKNOWN_RELOAD_S,
    AccessDeniedError,
    Refresher,
    Scope,
    StoredToken,
    Token,
    TokenInfo,
    TokenStoreUnavailableError,
    TokenVerifier,
    grants,
    hash_secret,
    new_token,
    parse_scopes,
    parse_token,
    secret_matches,
)
from tests.factories.waiting import wait_for

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_token_round_trips_through_its_wire_form_and_hides_its_secret() -> None:
    token = new_token()
    assert parse_token(str(token)) == token
    assert str(token).startswith(f"qoe_{token.token_id}_") and len(token.token_id) == 16
    assert token.secret not in repr(token)
    assert token.bearer == {"Authorization": f"Bearer {token}"}
    assert new_token() != token


@pytest.mark.parametrize(
    "text",
    ["", "qoe", "qoe_0123456789abcdef", "qoe_0123456789abcdef_short", "key_0123456789abcdef_" + "s" * 43,
     "qoe_0123456789ABCDEF_" + "s" * 43, "qoe_0123456789abcdef_" + "s" * 42 + "!"],
)  # fmt: skip
def test_malformed_tokens_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="qoe_<16 hex digits>_<secret>"):
        parse_token(text)


def test_admin_implies_read_and_read_is_not_admin() -> None:
    assert grants({Scope.ADMIN}, Scope.READ) and grants({Scope.ADMIN}, Scope.ADMIN)
    assert grants({Scope.READ}, Scope.READ) and not grants({Scope.READ}, Scope.ADMIN)
    assert parse_scopes(["read", " ADMIN "]) == {Scope.READ, Scope.ADMIN}
    with pytest.raises(ValueError, match="unknown scope 'write'"):
        parse_scopes(["read", "write"])
    with pytest.raises(ValueError, match="at least one scope"):
        parse_scopes([])


def test_the_hash_holds_no_secret_and_verifies_only_it() -> None:
    token = new_token()
    stored = hash_secret(token.secret)
    assert stored.startswith("$argon2id$") and token.secret not in stored
    assert hash_secret(token.secret) != stored  # salted
    assert secret_matches(stored, token.secret)
    assert not secret_matches(stored, token.secret + "x")
    assert not secret_matches("not a hash", token.secret)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Store:
    """A loader of the verifier's snapshot, counting its loads; ``failing`` makes it raise."""

    def __init__(self, *tokens: StoredToken) -> None:
        self.tokens = {stored.info.token_id: stored for stored in tokens}
        self.loads = 0
        self.failing = False

    def __call__(self) -> list[StoredToken]:
        self.loads += 1
        if self.failing:
            raise ConnectionError("warehouse down")
        return [stored for stored in self.tokens.values() if stored.info.active]

    def revoke(self, token_id: str) -> None:
        stored = self.tokens[token_id]
        self.tokens[token_id] = replace(stored, info=replace(stored.info, revoked_at=CREATED, revoked_by="test"))


class CountingVerify:
    """The argon2 check, counted: the verifier must run it once per token, not per request."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, secret_hash: str, secret: str) -> bool:
        self.calls += 1
        return secret_matches(secret_hash, secret)


def stored(token: Token, *scopes: Scope) -> StoredToken:
    info = TokenInfo(token.token_id, "test", frozenset(scopes), CREATED, "test")
    return StoredToken(info, hash_secret(token.secret))


@pytest.fixture
def reader() -> Token:
    return new_token()


@pytest.fixture
def admin() -> Token:
    return new_token()


@pytest.fixture
def store(reader: Token, admin: Token) -> Store:
    return Store(stored(reader, Scope.READ), stored(admin, Scope.ADMIN))


def bearer(token: Token) -> str:
    return f"Bearer {token}"


def test_scopes_decide_between_the_principal_401_and_403(store: Store, reader: Token, admin: Token) -> None:
    verifier = TokenVerifier(store, clock=FakeClock())
    assert verifier.authorize(bearer(reader), Scope.READ).token_id == reader.token_id
    assert verifier.authorize(bearer(admin), Scope.READ).scopes == {Scope.ADMIN}
    assert verifier.authorize(bearer(admin), Scope.ADMIN).token_id == admin.token_id
    with pytest.raises(AccessDeniedError) as refused:
        verifier.authorize(bearer(reader), Scope.ADMIN)
    assert refused.value.status == 403 and "needs admin" in refused.value.reason
    assert refused.value.headers == {}


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "needs an access token"),
        ("Basic dXNlcjpwYXNz", "Authorization: Bearer"),
        ("Bearer", "Authorization: Bearer"),
        ("Bearer not-a-token", "qoe_<16 hex digits>_<secret>"),
        (f"Bearer {new_token()}", "unknown or revoked"),
    ],
    ids=["missing", "basic", "empty", "malformed", "unknown"],
)
def test_without_a_valid_token_the_answer_is_401_with_a_bearer_challenge(
    store: Store, header: str | None, reason: str
) -> None:
    with pytest.raises(AccessDeniedError) as refused:
        TokenVerifier(store, clock=FakeClock()).authorize(header, Scope.READ)
    assert refused.value.status == 401 and reason in refused.value.reason
    assert refused.value.headers["WWW-Authenticate"].startswith('Bearer realm="qoe", error="invalid_token"')


def test_a_verified_secret_is_not_hashed_again_and_a_wrong_one_only_once(store: Store, reader: Token) -> None:
    verify = CountingVerify()
    verifier = TokenVerifier(store, clock=FakeClock(), verify=verify)
    for _ in range(5):
        verifier.authorize(bearer(reader), Scope.READ)
    assert verify.calls == 1
    wrong = Token(reader.token_id, reader.secret[::-1])
    for _ in range(5):
        with pytest.raises(AccessDeniedError, match=r"secret of token .* is wrong"):
            verifier.authorize(bearer(wrong), Scope.READ)
    assert verify.calls == 2
    verifier.authorize(bearer(reader), Scope.READ)  # the right secret still passes after wrong ones
    assert verify.calls == 2


def test_the_snapshot_is_reloaded_once_per_interval_and_a_revocation_lands_with_it(store: Store, reader: Token) -> None:
    clock = FakeClock()
    verifier = TokenVerifier(store, clock=clock, refresh_every_s=1.0)
    verifier.authorize(bearer(reader), Scope.READ)
    store.revoke(reader.token_id)
    clock.now += 0.5
    verifier.authorize(bearer(reader), Scope.READ)  # within the interval: the snapshot still holds it
    assert store.loads == 1
    clock.now += 0.5
    with pytest.raises(AccessDeniedError, match="unknown or revoked") as refused:
        verifier.authorize(bearer(reader), Scope.READ)
    assert refused.value.status == 401 and store.loads == 2


def test_a_token_created_after_the_snapshot_works_at_once(store: Store) -> None:
    clock = FakeClock()
    verifier = TokenVerifier(store, clock=clock, refresh_every_s=1.0)
    verifier.refresh()
    late = new_token()
    store.tokens[late.token_id] = stored(late, Scope.READ)
    clock.now += UNKNOWN_RELOAD_S
    assert verifier.authorize(bearer(late), Scope.READ).token_id == late.token_id


def test_made_up_ids_reload_the_snapshot_at_most_every_few_hundred_ms(store: Store) -> None:
    clock = FakeClock()
    verifier = TokenVerifier(store, clock=clock, refresh_every_s=1.0)
    verifier.refresh()
    for _ in range(50):
        with pytest.raises(AccessDeniedError, match="unknown or revoked"):
            verifier.authorize(bearer(new_token()), Scope.READ)
        clock.now += 0.01
    assert store.loads == 1 + 2  # 0.5 s of guessing: a reload at 0.2 s and at 0.4 s


def test_a_revoked_and_re_created_id_does_not_reuse_the_remembered_secret(store: Store, reader: Token) -> None:
    """The remembered secret belongs to the stored hash: another token under the same id starts afresh."""
    clock, verify = FakeClock(), CountingVerify()
    verifier = TokenVerifier(store, clock=clock, verify=verify)
    verifier.authorize(bearer(reader), Scope.READ)
    store.tokens[reader.token_id] = stored(Token(reader.token_id, new_token().secret), Scope.READ)
    clock.now += 1.0
    with pytest.raises(AccessDeniedError, match="is wrong"):
        verifier.authorize(bearer(reader), Scope.READ)
    assert verify.calls == 2


def test_a_failing_store_serves_the_last_snapshot_until_it_is_too_old_to_trust(store: Store, reader: Token) -> None:
    clock = FakeClock()
    verifier = TokenVerifier(store, clock=clock, refresh_every_s=1.0, stale_after_s=4.0)
    verifier.authorize(bearer(reader), Scope.READ)
    store.failing = True
    clock.now += 3.5
    verifier.authorize(bearer(reader), Scope.READ)
    loads = store.loads
    clock.now += 0.2
    verifier.authorize(bearer(reader), Scope.READ)
    assert store.loads == loads  # one failed attempt per interval, not one per request
    clock.now += 1.0
    with pytest.raises(TokenStoreUnavailableError):
        verifier.authorize(bearer(reader), Scope.READ)
    store.failing = False
    clock.now += 1.0
    assert verifier.authorize(bearer(reader), Scope.READ).token_id == reader.token_id


def test_refresh_reloads_at_once(store: Store, reader: Token) -> None:
    verifier = TokenVerifier(store, clock=FakeClock())
    verifier.authorize(bearer(reader), Scope.READ)
    store.revoke(reader.token_id)
    verifier.refresh()
    with pytest.raises(AccessDeniedError, match="unknown or revoked"):
        verifier.authorize(bearer(reader), Scope.READ)


def test_the_refresher_reloads_in_the_background_until_stopped(store: Store) -> None:
    verifier = TokenVerifier(store)
    refresher = Refresher(verifier, interval_s=0.01).start()
    try:
        wait_for(lambda: store.loads, 5, "three reloads", until=lambda loads: loads >= 3, poll_s=0.01)
    finally:
        refresher.stop()
    stopped_at = store.loads
    time.sleep(0.05)
    assert store.loads == stopped_at
