"""Numbered, forward-only migrations: the warehouse's DDL, every ``NNNN_name.sql`` beside this module.

Numbers give a total order. Applied versions are recorded in ``schema_migrations`` with the checksum
of their text; a file that changed after it was applied is an error, never silently re-run.

Why the files live here: every table has one owning module in ``warehouse/`` (see the docstrings of
:mod:`warehouse.events`, :mod:`warehouse.views`, ...), so its DDL sits beside them. They moved from
``streams/``, ``delivery/`` and ``recommender/``, and an existing data directory must not notice:
the ledger records the version, name and checksum of each file and never its folder, so the
files kept their names and their bytes. Never edit an applied file, not even a comment (several
still name their old folders): its checksum would change and :func:`migrate` would refuse to run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files

from clickhouse_connect.driver.client import Client

from foundation.settings import Settings

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = MergeTree ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, settings: Settings) -> list[str]:
        rendered = self.sql.replace("{raw_retention_days}", str(settings.raw_retention_days))
        return [part.strip() for part in rendered.split(";\n") if part.strip() and not _only_comments(part)]


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


def discover() -> list[Migration]:
    """Every migration beside this module, in version order."""
    found: dict[int, Migration] = {}
    for entry in files(__name__).iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        migration = Migration(int(match[1]), match[2], entry.read_text())
        if migration.version in found:
            raise ValueError(
                f"two migrations numbered {migration.version:04d}: {found[migration.version].name}, {migration.name}"
            )
        found[migration.version] = migration
    return [found[v] for v in sorted(found)]


def applied(client: Client) -> dict[int, str]:
    client.command(_LEDGER)
    rows = client.query("SELECT version, checksum FROM schema_migrations").result_rows
    return {int(version): str(checksum) for version, checksum in rows}


def migrate(client: Client, settings: Settings, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply pending migrations in order; returns those applied now."""
    done = applied(client)
    pending = []
    for migration in migrations if migrations is not None else discover():
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise RuntimeError(
                    f"migration {migration.version:04d}_{migration.name} changed after it was applied; "
                    "add a new migration instead"
                )
            continue
        for statement in migration.statements(settings):
            client.command(statement)
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
            column_names=["version", "name", "checksum", "applied_at"],
        )
        pending.append(migration)
    apply_retention(client, settings)
    return pending


def apply_retention(client: Client, settings: Settings) -> None:
    """Keep the raw-event TTL equal to the setting, also after the table was created."""
    ttl = f"toDateTime(received_at) + toIntervalDay({settings.raw_retention_days})"
    current = client.query(
        "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'beacon_events'"
    ).result_rows
    if current and ttl not in str(current[0][0]):
        days = settings.raw_retention_days
        client.command(
            f"ALTER TABLE beacon_events MODIFY TTL toDateTime(received_at) + INTERVAL {days} DAY",
            settings={"materialize_ttl_after_modify": 0},
        )
