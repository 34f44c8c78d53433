"""The PostgreSQL schema: the same tables as SQLite's (`ddl.py`, in PostgreSQL's types), as versioned
migrations of their own.

Times are UTC epoch ms in BIGINT columns and structured fields are JSON text, exactly as in SQLite, so
both backends share the row <-> model mapping of `rows.py`. Flags stay INTEGER 0/1 for the same reason.
The table `cronui_schema` counts the migrations a database has had; opening a database written by an
older cronui applies the rest in one transaction (PostgreSQL's DDL is transactional: a failed migration
leaves nothing half done), one opener at a time (an advisory lock); a database written by a newer
cronui is refused. A new migration is appended to MIGRATIONS, never edited in place.
"""

from __future__ import annotations

import re

from cronui.store import ddl

MIGRATIONS: list[str] = ddl.typed(
    [
        # v1: everything SQLite's v1..v3 hold
        "\n".join(
            [
                ddl.JOBS,
                ddl.RUNS,
                ddl.RUN_KEYS,
                ddl.RUN_LISTS,
                ddl.RUNS_FINISHED,
                ddl.CLAIM_LOOKUPS,
                ddl.RUN_EVENTS,
                ddl.LEASE_AND_STATE,
                ddl.JOB_MEMORY,
            ]
        ),
        # v2..: as on SQLite from its v4
        *ddl.LATER,
    ],
    ddl.PG_TYPES,
)

SCHEMA_VERSION = len(MIGRATIONS)

VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS cronui_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
)

# the sequence behind run_events.id (an identity column's sequence is named after its table and column)
EVENT_SEQUENCE = "run_events_id_seq"


def expected_objects() -> tuple[set[str], set[str]]:
    """The tables and the named indexes the current schema has (what `check` looks for)."""
    text = "\n".join(MIGRATIONS)
    tables = set(re.findall(r"CREATE TABLE (\w+)", text)) | {"cronui_schema"}
    indexes = set(re.findall(r"CREATE (?:UNIQUE )?INDEX (\w+)", text))
    return tables, indexes
