"""The SQLite schema: its tables, as versioned migrations, and how a file is brought up to date.

`PRAGMA user_version` counts the migrations a file has had. Opening a file written by an older cronui
applies the rest in one transaction (after the file is copied aside); a file written by a newer cronui
is refused. The tables are `ddl.py`'s, in SQLite's types. A new migration is appended to MIGRATIONS,
never edited in place.
"""

from __future__ import annotations

import time
from pathlib import Path

from cronui.store import ddl
from cronui.store.ddl import Migration

# SQLite's only index of its own: the first claim looked up what waits and what runs through it
RUNS_ACTIVE = "CREATE INDEX runs_active ON runs(status, not_before) WHERE status IN ('pending', 'running');"

MIGRATIONS: list[str] = ddl.typed(
    [
        # v1
        "\n".join([ddl.JOBS, ddl.RUNS, ddl.RUN_KEYS, RUNS_ACTIVE, ddl.RUN_LISTS, ddl.RUN_EVENTS, ddl.LEASE_AND_STATE]),
        # v2: what a job carries from run to run (an agent's conversation, its alert state)
        ddl.JOB_MEMORY + ddl.RUNS_FINISHED,
        # v3: the claim's two lookups (what waits, what runs), each on its own small partial index
        ddl.CLAIM_LOOKUPS,
        # v4..: as on PostgreSQL
        *ddl.LATER,
    ],
    ddl.SQLITE_TYPES,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migration_for(version: int, where: str) -> Migration | None:
    """The migration for a file at schema `version`; None when it is current (see ddl.migration_for)."""
    return ddl.migration_for(version, where, MIGRATIONS)


def aside_path(path: Path, version: int) -> Path:
    """Where a file at schema `version` is copied before a migration touches it."""
    return path.with_name(f"{path.name}.v{version}-{time.strftime('%Y%m%d%H%M%S')}.bak")
