"""The SQLite schema: its tables, as versioned migrations, and how a file is brought up to date.

`PRAGMA user_version` counts the migrations a file has had. Opening a file written by an older cronui
applies the rest in one transaction (after the file is copied aside); a file written by a newer cronui
is refused. A new migration is appended to MIGRATIONS, never edited in place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cronui.store.base import SchemaTooNew

MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        schedule TEXT NOT NULL,
        timezone TEXT NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        auto_disabled TEXT,
        overlap TEXT NOT NULL DEFAULT 'skip',
        queue_limit INTEGER NOT NULL DEFAULT 3,
        misfire TEXT NOT NULL DEFAULT 'run_once',
        misfire_grace_s REAL NOT NULL DEFAULT 300,
        pool TEXT,
        max_retries INTEGER NOT NULL DEFAULT 0,
        retry_delay_s REAL NOT NULL DEFAULT 30,
        timeout_s REAL NOT NULL DEFAULT 600,
        delivery TEXT NOT NULL DEFAULT '{}',
        on_success TEXT NOT NULL DEFAULT '[]',
        on_failure TEXT NOT NULL DEFAULT '[]',
        tags TEXT NOT NULL DEFAULT '[]',
        source TEXT NOT NULL DEFAULT 'cli',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER,
        next_run_at INTEGER,
        last_status TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX jobs_live_name ON jobs(name) WHERE deleted_at IS NULL;
    CREATE INDEX jobs_due ON jobs(next_run_at) WHERE deleted_at IS NULL AND enabled = 1;

    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        trigger TEXT NOT NULL,
        scheduled_for INTEGER NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1,
        retry_of INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        triggered_by INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        status TEXT NOT NULL,
        reason TEXT,
        missed_count INTEGER NOT NULL DEFAULT 1,
        queued_at INTEGER NOT NULL,
        not_before INTEGER NOT NULL DEFAULT 0,
        started_at INTEGER,
        finished_at INTEGER,
        duration_ms INTEGER,
        node TEXT,
        lease_expires_at INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        exit_code INTEGER,
        signal INTEGER,
        http_status INTEGER,
        output TEXT NOT NULL DEFAULT '',
        stderr TEXT NOT NULL DEFAULT '',
        output_bytes INTEGER NOT NULL DEFAULT 0,
        stderr_bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        summary TEXT,
        request TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        total_tokens INTEGER,
        cost_usd REAL,
        tool_calls TEXT,
        milestones TEXT,
        delivery_status TEXT,
        delivery_reason TEXT
    );
    -- each run comes to exist once, however many processes or restarts race
    CREATE UNIQUE INDEX runs_slot ON runs(job_id, scheduled_for) WHERE trigger IN ('schedule', 'catchup');
    CREATE UNIQUE INDEX runs_retry ON runs(retry_of, attempt) WHERE retry_of IS NOT NULL;
    CREATE UNIQUE INDEX runs_chain ON runs(triggered_by, job_id) WHERE triggered_by IS NOT NULL;
    CREATE INDEX runs_job_latest ON runs(job_id, id DESC);
    CREATE INDEX runs_active ON runs(status, not_before) WHERE status IN ('pending', 'running');
    CREATE INDEX runs_queued ON runs(queued_at);
    CREATE INDEX runs_status_id ON runs(status, id DESC);

    CREATE TABLE run_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER,
        job_id INTEGER,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT,
        data TEXT
    );
    CREATE INDEX run_events_run ON run_events(run_id, id);
    CREATE INDEX run_events_at ON run_events(at);

    CREATE TABLE scheduler_lease (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        holder TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        address TEXT NOT NULL,
        acquired_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );

    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT);
    """,
    # v2: what a job carries from run to run (an agent's conversation, its alert state)
    """
    CREATE TABLE job_memory (
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (job_id, key)
    );
    CREATE INDEX runs_job_finished ON runs(job_id, finished_at);
    """,
    # v3: the claim's two lookups (what waits, what runs), each on its own small partial index
    """
    CREATE INDEX runs_pending ON runs(not_before) WHERE status = 'pending';
    CREATE INDEX runs_running ON runs(job_id) WHERE status = 'running';
    """,
    # v4: the processes that schedule this database, each with its heartbeat (`cronui nodes`)
    """
    CREATE TABLE nodes (
        node TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        seen_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        running INTEGER NOT NULL DEFAULT 0
    );
    """,
    # v5: a running run's fence token, bumped by every claim and takeover (the writes of a holder whose
    # run was taken over are refused)
    """
    ALTER TABLE runs ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
    """,
    # v6: placement: a job pinned to nodes carrying a label, and the labels each node offers (JSON list)
    """
    ALTER TABLE jobs ADD COLUMN node_label TEXT;
    ALTER TABLE nodes ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX jobs_placed ON jobs(node_label) WHERE node_label IS NOT NULL;
    """,
    # v7: what today's runs cost, for the budget of all agent jobs together (only runs with a cost)
    """
    CREATE INDEX runs_costed ON runs(finished_at) WHERE cost_usd IS NOT NULL;
    """,
    # v8: a job's hook runs by when they were queued, for the per-job hook limit counted as each is inserted
    """
    CREATE INDEX runs_hooked ON runs(job_id, queued_at) WHERE trigger = 'manual' AND request IS NOT NULL;
    """,
    # v9: shared conversations (`--conversation session:NAME`): one history per session name, and the
    # session each job talks in (written with the job; the claim lets a session's runs take turns by it)
    """
    ALTER TABLE jobs ADD COLUMN session TEXT;
    CREATE INDEX jobs_session ON jobs(session) WHERE session IS NOT NULL;
    CREATE TABLE sessions (
        name TEXT PRIMARY KEY,
        history TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    """,
    # v10: the options of chain edges (`--when`): {"on_success": {"JOB": {"when": "contains:X"}}}
    """
    ALTER TABLE jobs ADD COLUMN chain_options TEXT NOT NULL DEFAULT '{}';
    """,
    # v11: approvals: a job whose runs wait for a person (`approval`), and the waiting runs' deadlines
    """
    ALTER TABLE jobs ADD COLUMN approval INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN approval_timeout_s REAL NOT NULL DEFAULT 3600;
    ALTER TABLE jobs ADD COLUMN approval_default TEXT NOT NULL DEFAULT 'reject';
    ALTER TABLE jobs ADD COLUMN approval_max_waiting INTEGER NOT NULL DEFAULT 3;
    ALTER TABLE runs ADD COLUMN approval_deadline INTEGER;
    ALTER TABLE runs ADD COLUMN approval_default TEXT;
    ALTER TABLE runs ADD COLUMN approval_notice TEXT;
    CREATE INDEX runs_awaiting ON runs(job_id, approval_deadline) WHERE status = 'awaiting_approval';
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


@dataclass
class Migration:
    """What brings one file up to date: the statements from its version to the current one."""

    from_version: int
    to_version: int
    statements: list[str]


def migration_for(version: int, where: str) -> Migration | None:
    """The migration for a file at schema `version`; None when it is current. A file written by a newer
    cronui is refused (SchemaTooNew)."""
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(f"{where}: written by a newer cronui (schema {version}, this one knows {SCHEMA_VERSION})")
    if version == SCHEMA_VERSION:
        return None
    statements = [stmt for script in MIGRATIONS[version:SCHEMA_VERSION] for stmt in split_sql(script)]
    return Migration(version, SCHEMA_VERSION, statements)


def aside_path(path: Path, version: int) -> Path:
    """Where a file at schema `version` is copied before a migration touches it."""
    return path.with_name(f"{path.name}.v{version}-{time.strftime('%Y%m%d%H%M%S')}.bak")


def split_sql(script: str) -> list[str]:
    """Split a migration into statements (no statement in them contains a ';' inside a literal)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
