"""Benchmarks serve the APIs as production does: behind the access-token check, with a read token."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from foundation.access import Scope, TokenVerifier
from warehouse.access import create_token, load_tokens


def read_access(client: Client) -> tuple[TokenVerifier, dict[str, str]]:
    """A verifier over the warehouse's tokens, and the headers of a read token stored there."""
    issued = create_token(client, "bench", frozenset({Scope.READ}), "bench")
    return TokenVerifier(lambda: load_tokens(client)), issued.token.bearer
