"""Deleting rows before their TTL: a synchronous ``ALTER TABLE … DELETE``, used by erasure only.

Why a mutation and not a lightweight ``DELETE FROM``: a lightweight delete only masks the rows,
which stay on disk until a merge happens to rewrite their part, at no predictable time, while an
erasure promises they are gone. ``ALTER TABLE … DELETE`` rewrites every part that holds a
matching row; ``mutations_sync = 2`` makes the statement return once that is done (on every
replica of a replicated table), so the caller can report the erasure complete. The parts it
replaced are removed from disk after the table's ``old_parts_lifetime`` (8 minutes by default).

A mutation sees the parts that existed when it started, never a later insert: the erasure's
second pass (:func:`warehouse.privacy.erase_viewer`) exists for that.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

SYNC = {"mutations_sync": 2}


def delete_rows(client: Client, table: str, where: str, parameters: dict[str, Any]) -> int:
    """Deletes the rows of ``table`` matching ``where`` (with ``{name:Type}`` parameters) and waits
    until they are gone; returns how many there were. A table without a match is not rewritten."""
    rows = client.query(f"SELECT count() FROM {table} WHERE {where}", parameters=parameters).result_rows
    found = int(rows[0][0]) if rows else 0
    if found:
        client.command(f"ALTER TABLE {table} DELETE WHERE {where}", parameters=parameters, settings=SYNC)
    return found
