"""The SQLite store (aiosqlite): WAL, busy timeout, foreign keys, versioned migrations.

One process at a time schedules (the scheduler lease); any number read and write jobs. Each write that
must be atomic is one `BEGIN IMMEDIATE` transaction, so two processes never interleave inside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from cronui.model import Job, Lease, Milestone, Run, RunEvent, RunStatus
from cronui.store.base import (
    EVENT_COLUMNS,
    DuplicateJobName,
    JobStats,
    PruneResult,
    RunFilter,
    SchemaTooNew,
    StoreError,
    event_from_row,
    event_to_row,
    job_from_row,
    job_to_row,
    run_from_row,
    run_to_row,
)

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
]

SCHEMA_VERSION = len(MIGRATIONS)

_RUN_SELECT = "SELECT r.*, j.name AS job_name FROM runs r JOIN jobs j ON j.id = r.job_id"


def _percentile(sorted_values: list[int], q: float) -> int | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


class SQLiteStore:
    """The default store: one local SQLite file (mode 0600)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self._db: aiosqlite.Connection | None = None
        # One connection, many coroutines: a transaction must not interleave with another statement.
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            db = await aiosqlite.connect(self.path, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open database: {e}") from None
        db.row_factory = sqlite3.Row
        self._db = db
        try:
            await db.execute("PRAGMA busy_timeout = 10000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await self._migrate()
        except sqlite3.DatabaseError as e:
            await self.close()
            raise StoreError(f"{self.path}: not a cronui database ({e})") from None

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def _migrate(self) -> None:
        version = (await self._one("PRAGMA user_version"))[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path}: written by a newer cronui (schema {version}, this one knows {SCHEMA_VERSION})"
            )
        if version == SCHEMA_VERSION:
            return
        if version > 0 and str(self.path) != ":memory:":
            # Keep the old file aside before touching it; a failed migration loses nothing.
            aside = self.path.with_name(f"{self.path.name}.v{version}-{time.strftime('%Y%m%d%H%M%S')}.bak")
            await self.backup(str(aside))
        async with self._tx():
            for v in range(version, SCHEMA_VERSION):
                for stmt in _split_sql(MIGRATIONS[v]):
                    await self.db.execute(stmt)
            await self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        db = self.db
        async with self._lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            else:
                await db.execute("COMMIT")

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._lock, self.db.execute(sql, params) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock, self.db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    # ------------------------------------------------------------ jobs

    async def create_job(self, job: Job) -> Job:
        await self.save_jobs([job], [], [], job.created_at)
        return job

    async def update_job(self, job: Job) -> Job:
        await self.save_jobs([], [job], [], job.updated_at)
        return job

    async def save_jobs(self, creates: Sequence[Job], updates: Sequence[Job], removes: Sequence[int], now: int) -> None:
        """Create, update and remove many jobs in one transaction: all of them or none."""
        async with self._tx() as db:
            for job_id in removes:
                await self._remove_job(db, job_id, now)
            for job in updates:
                row = job_to_row(job)
                job_id = row.pop("id")
                sets = ", ".join(f"{c} = ?" for c in row)
                try:
                    await db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*row.values(), job_id])
                except sqlite3.IntegrityError:
                    raise DuplicateJobName(f"a job named {job.name!r} already exists") from None
            for job in creates:
                row = job_to_row(job)
                row.pop("id")
                try:
                    cur = await db.execute(
                        f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                        list(row.values()),
                    )
                except sqlite3.IntegrityError:
                    raise DuplicateJobName(f"a job named {job.name!r} already exists") from None
                job.id = cur.lastrowid

    async def remove_job(self, job_id: int, now: int) -> None:
        async with self._tx() as db:
            await self._remove_job(db, job_id, now)

    async def _remove_job(self, db: aiosqlite.Connection, job_id: int, now: int) -> None:
        """Soft delete: the row and its runs stay, the name is free again, pending runs are cancelled."""
        await db.execute(
            "UPDATE jobs SET deleted_at = ?, enabled = 0, next_run_at = NULL, updated_at = ? WHERE id = ?",
            (now, now, job_id),
        )
        await db.execute(
            "UPDATE runs SET status = 'cancelled', reason = 'job removed', finished_at = ? "
            "WHERE job_id = ? AND status = 'pending'",
            (now, job_id),
        )

    async def get_job(self, job_id: int) -> Job | None:
        row = await self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(row) if row else None

    async def get_job_by_name(self, name: str) -> Job | None:
        row = await self._one("SELECT * FROM jobs WHERE name = ? AND deleted_at IS NULL", (name,))
        return job_from_row(row) if row else None

    async def list_jobs(self) -> list[Job]:
        rows = await self._all("SELECT * FROM jobs WHERE deleted_at IS NULL ORDER BY name")
        return [job_from_row(r) for r in rows]

    async def chain_edges(self) -> dict[str, list[str]]:
        rows = await self._all(
            "SELECT name, on_success, on_failure FROM jobs WHERE deleted_at IS NULL "
            "AND (on_success != '[]' OR on_failure != '[]')"
        )
        return {r["name"]: [*json.loads(r["on_success"]), *json.loads(r["on_failure"])] for r in rows}

    async def existing_names(self, names: Sequence[str]) -> set[str]:
        if not names:
            return set()
        marks = ", ".join("?" for _ in names)
        rows = await self._all(f"SELECT name FROM jobs WHERE deleted_at IS NULL AND name IN ({marks})", tuple(names))
        return {r[0] for r in rows}

    # ------------------------------------------------------------ scheduling

    async def due_jobs(self, now: int) -> list[Job]:
        rows = await self._all(
            "SELECT * FROM jobs WHERE deleted_at IS NULL AND enabled = 1 AND next_run_at <= ? ORDER BY next_run_at",
            (now,),
        )
        return [job_from_row(r) for r in rows]

    async def next_wakeup(self, now: int) -> int | None:
        """The earliest future moment with work: a job's next slot or a retry's backoff end."""
        row = await self._one(
            "SELECT MIN(t) FROM ("
            " SELECT MIN(next_run_at) AS t FROM jobs WHERE deleted_at IS NULL AND enabled = 1"
            " UNION ALL SELECT MIN(not_before) FROM runs WHERE status = 'pending' AND not_before > ?)",
            (now,),
        )
        return row[0]

    async def _insert_run(self, db: aiosqlite.Connection, run: Run) -> Run | None:
        row = run_to_row(run)
        row.pop("id")
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cur = await db.execute(f"INSERT INTO runs ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING", list(row.values()))
        if cur.rowcount != 1:
            return None
        run.id = cur.lastrowid
        return run

    async def materialize(self, plans: Sequence[tuple[int, Sequence[Run], int | None]]) -> list[Run]:
        """For each (job id, runs, next fire): insert the runs (a slot that exists already is left
        alone) and advance the job — all in one transaction."""
        inserted: list[Run] = []
        async with self._tx() as db:
            for job_id, runs, next_run_at in plans:
                for run in runs:
                    if await self._insert_run(db, run) is not None:
                        inserted.append(run)
                await db.execute("UPDATE jobs SET next_run_at = ? WHERE id = ?", (next_run_at, job_id))
        return inserted

    async def insert_run(self, run: Run) -> Run | None:
        async with self._tx() as db:
            return await self._insert_run(db, run)

    async def pending_runs(self, now: int, limit: int = 500) -> list[Run]:
        rows = await self._all(
            f"{_RUN_SELECT} WHERE r.status = 'pending' AND r.not_before <= ? ORDER BY r.not_before, r.id LIMIT ?",
            (now, limit),
        )
        return [run_from_row(r) for r in rows]

    async def claim_runs(self, run_ids: Sequence[int], node: str, now: int, lease_ms: int) -> list[Run]:
        """Mark pending runs as running on `node`; returns those this call claimed (others lost a race)."""
        claimed: list[int] = []
        async with self._tx() as db:
            for run_id in run_ids:
                cur = await db.execute(
                    "UPDATE runs SET status = 'running', node = ?, started_at = ?, lease_expires_at = ? "
                    "WHERE id = ? AND status = 'pending'",
                    (node, now, now + lease_ms, run_id),
                )
                if cur.rowcount == 1:
                    claimed.append(run_id)
        if not claimed:
            return []
        marks = ", ".join("?" for _ in claimed)
        rows = await self._all(f"{_RUN_SELECT} WHERE r.id IN ({marks}) ORDER BY r.id", tuple(claimed))
        return [run_from_row(r) for r in rows]

    async def skip_pending(self, run_id: int, status: RunStatus, reason: str, now: int) -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE runs SET status = ?, reason = ?, finished_at = ? WHERE id = ? AND status = 'pending'",
                (str(status), reason, now, run_id),
            )
            return cur.rowcount == 1

    async def finish_run(
        self, run: Run, job_changes: Mapping[str, Any], new_runs: Sequence[Run] = ()
    ) -> list[Run] | None:
        """Record a run's end, its job's new state and what follows (retry, chains) together.

        Fenced: only a run still pending or running on `run.node` is written; None when another
        scheduler has taken it over meanwhile (its outcome there stands)."""
        row = run_to_row(run)
        run_id = row.pop("id")
        for fixed in ("job_id", "trigger", "scheduled_for", "attempt", "retry_of", "triggered_by", "queued_at"):
            row.pop(fixed)
        inserted: list[Run] = []
        async with self._tx() as db:
            cur = await db.execute(
                f"UPDATE runs SET {', '.join(f'{c} = ?' for c in row)} "
                "WHERE id = ? AND status IN ('pending', 'running') AND node IS ?",
                [*row.values(), run_id, run.node],
            )
            if cur.rowcount != 1:
                return None
            if job_changes:
                changes = {k: str(v) if k == "last_status" and v is not None else v for k, v in job_changes.items()}
                await db.execute(
                    f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in changes)} WHERE id = ?",
                    [*changes.values(), run.job_id],
                )
            for new in new_runs:
                if await self._insert_run(db, new) is not None:
                    inserted.append(new)
        return inserted

    async def renew_run_leases(self, node: str, run_ids: Sequence[int], expires_at: int) -> None:
        if not run_ids:
            return
        marks = ", ".join("?" for _ in run_ids)
        async with self._tx() as db:
            await db.execute(
                f"UPDATE runs SET lease_expires_at = ? WHERE node = ? AND status = 'running' AND id IN ({marks})",
                (expires_at, node, *run_ids),
            )

    async def orphaned_runs(self, now: int, live_node: str | None) -> list[Run]:
        """Runs left `running` by a holder that is gone (any node but `live_node`)."""
        rows = await self._all(
            f"{_RUN_SELECT} WHERE r.status = 'running' AND (r.node IS NULL OR r.node != ?)",
            (live_node or "",),
        )
        return [run_from_row(r) for r in rows]

    async def request_cancel(self, run_id: int, now: int) -> Run | None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE runs SET status = 'cancelled', reason = 'cancelled before it started', finished_at = ? "
                "WHERE id = ? AND status = 'pending'",
                (now, run_id),
            )
            await db.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (run_id,))
        return await self.get_run(run_id)

    async def cancel_requested(self, run_ids: Sequence[int]) -> list[int]:
        if not run_ids:
            return []
        marks = ", ".join("?" for _ in run_ids)
        rows = await self._all(f"SELECT id FROM runs WHERE cancel_requested = 1 AND id IN ({marks})", tuple(run_ids))
        return [r[0] for r in rows]

    async def get_run(self, run_id: int) -> Run | None:
        row = await self._one(f"{_RUN_SELECT} WHERE r.id = ?", (run_id,))
        return run_from_row(row) if row else None

    async def attempts(self, root_id: int) -> list[Run]:
        """Every attempt of one slot, first to last."""
        rows = await self._all(f"{_RUN_SELECT} WHERE r.id = ? OR r.retry_of = ? ORDER BY r.attempt", (root_id, root_id))
        return [run_from_row(r) for r in rows]

    async def list_runs(self, flt: RunFilter) -> list[Run]:
        where: list[str] = []
        params: list[Any] = []
        if flt.job_id is not None:
            where.append("r.job_id = ?")
            params.append(flt.job_id)
        if flt.statuses:
            where.append(f"r.status IN ({', '.join('?' for _ in flt.statuses)})")
            params.extend(str(s) for s in flt.statuses)
        if flt.since is not None:
            where.append("r.queued_at >= ?")
            params.append(flt.since)
        if flt.before_id is not None:
            where.append("r.id < ?")
            params.append(flt.before_id)
        sql = _RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.id DESC LIMIT ?"
        rows = await self._all(sql, (*params, flt.limit))
        return [run_from_row(r) for r in rows]

    async def recent_statuses(self, job_ids: Sequence[int], per_job: int) -> dict[int, list[RunStatus]]:
        out: dict[int, list[RunStatus]] = {}
        for job_id in job_ids:
            rows = await self._all(
                "SELECT status FROM runs WHERE job_id = ? AND status NOT IN ('pending', 'running') "
                "ORDER BY id DESC LIMIT ?",
                (job_id, per_job),
            )
            out[job_id] = [RunStatus(r[0]) for r in reversed(rows)]
        return out

    async def job_stats(self, job_id: int, since: int | None = None) -> JobStats:
        rows = await self._all(
            "SELECT status, duration_ms, total_tokens, cost_usd FROM runs "
            "WHERE job_id = ? AND status IN ('succeeded', 'failed', 'timed_out', 'interrupted') "
            "AND (? IS NULL OR queued_at >= ?)",
            (job_id, since, since),
        )
        durations = sorted(r["duration_ms"] for r in rows if r["duration_ms"] is not None)
        costs = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
        return JobStats(
            runs=len(rows),
            succeeded=sum(1 for r in rows if r["status"] == "succeeded"),
            failed=sum(1 for r in rows if r["status"] != "succeeded"),
            median_ms=_percentile(durations, 0.5),
            p95_ms=_percentile(durations, 0.95),
            total_tokens=sum(r["total_tokens"] or 0 for r in rows),
            cost_usd=sum(costs) if costs else None,
        )

    async def update_delivery(
        self, run_id: int, status: str, reason: str | None, milestones: Sequence[Milestone]
    ) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE runs SET delivery_status = ?, delivery_reason = ?, milestones = ? WHERE id = ?",
                (
                    status,
                    reason,
                    json.dumps([{"name": m.name, "at": m.at, "data": m.data} for m in milestones]),
                    run_id,
                ),
            )

    async def timeline(self, job_id: int | None, since: int, bucket_ms: int) -> list[tuple[int, RunStatus, int]]:
        """Runs per time bucket and status (bucket start, status, count), oldest first."""
        rows = await self._all(
            "SELECT (queued_at / ?) * ? AS bucket, status, COUNT(*) FROM runs "
            "WHERE queued_at >= ? AND (? IS NULL OR job_id = ?) GROUP BY bucket, status ORDER BY bucket",
            (bucket_ms, bucket_ms, since, job_id, job_id),
        )
        return [(r[0], RunStatus(r[1]), r[2]) for r in rows]

    async def get_memory(self, job_id: int, key: str) -> Any:
        row = await self._one("SELECT value FROM job_memory WHERE job_id = ? AND key = ?", (job_id, key))
        return json.loads(row[0]) if row else None

    async def set_memory(self, job_id: int, key: str, value: Any, now: int) -> None:
        async with self._tx() as db:
            if value is None:
                await db.execute("DELETE FROM job_memory WHERE job_id = ? AND key = ?", (job_id, key))
            else:
                await db.execute(
                    "INSERT INTO job_memory (job_id, key, value, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(job_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    (job_id, key, json.dumps(value), now),
                )

    # ------------------------------------------------------------ events

    async def append_events(self, events: Sequence[RunEvent]) -> None:
        if not events:
            return
        async with self._tx() as db:
            for ev in events:
                cur = await db.execute(
                    "INSERT INTO run_events (run_id, job_id, at, kind, name, data) VALUES (?, ?, ?, ?, ?, ?)",
                    event_to_row(ev),
                )
                ev.id = cur.lastrowid

    async def _events(self, where: str, params: Sequence[Any]) -> list[RunEvent]:
        cols = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
        rows = await self._all(
            f"SELECT {cols}, j.name AS job_name FROM run_events e LEFT JOIN jobs j ON j.id = e.job_id WHERE {where}",
            params,
        )
        return [event_from_row(r) for r in rows]

    async def events_after(self, last_id: int, limit: int = 1000) -> list[RunEvent]:
        return await self._events("e.id > ? ORDER BY e.id LIMIT ?", (last_id, limit))

    async def run_events(self, run_id: int, after_id: int = 0) -> list[RunEvent]:
        return await self._events("e.run_id = ? AND e.id > ? ORDER BY e.id", (run_id, after_id))

    async def last_event_id(self) -> int:
        row = await self._one("SELECT COALESCE(MAX(id), 0) FROM run_events")
        return int(row[0])

    # ------------------------------------------------------------ the scheduler lease

    async def acquire_lease(self, me: Lease, now: int, holder_alive: Callable[[Lease], bool]) -> Lease:
        async with self._tx() as db:
            async with db.execute("SELECT * FROM scheduler_lease WHERE id = 1") as cur:
                row = await cur.fetchone()
            current = _lease_from_row(row) if row else None
            if current is None or current.holder == me.holder or current.expires_at <= now or not holder_alive(current):
                acquired_at = current.acquired_at if current and current.holder == me.holder else now
                await db.execute(
                    "INSERT INTO scheduler_lease (id, holder, host, pid, address, acquired_at, expires_at) "
                    "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET holder = excluded.holder, "
                    "host = excluded.host, pid = excluded.pid, address = excluded.address, "
                    "acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
                    (me.holder, me.host, me.pid, me.address, acquired_at, me.expires_at),
                )
                return Lease(me.holder, me.host, me.pid, me.address, acquired_at, me.expires_at)
            return current

    async def renew_lease(self, holder: str, now: int, expires_at: int) -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE scheduler_lease SET expires_at = ? WHERE id = 1 AND holder = ?", (expires_at, holder)
            )
            return cur.rowcount == 1

    async def release_lease(self, holder: str) -> None:
        async with self._tx() as db:
            await db.execute("DELETE FROM scheduler_lease WHERE id = 1 AND holder = ?", (holder,))

    async def get_lease(self) -> Lease | None:
        row = await self._one("SELECT * FROM scheduler_lease WHERE id = 1")
        return _lease_from_row(row) if row else None

    # ------------------------------------------------------------ state

    async def get_state(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM state WHERE key = ?", (key,))
        return row[0] if row else None

    async def set_state(self, key: str, value: str | None) -> None:
        async with self._tx() as db:
            if value is None:
                await db.execute("DELETE FROM state WHERE key = ?", (key,))
            else:
                await db.execute(
                    "INSERT INTO state (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    # ------------------------------------------------------------ maintenance

    async def prune(self, now: int, keep_days: float, runs_per_job: int, event_hours: float) -> PruneResult:
        cutoff = now - int(keep_days * 86_400_000)
        final = "status NOT IN ('pending', 'running')"
        async with self._tx() as db:
            cur = await db.execute(f"DELETE FROM runs WHERE {final} AND queued_at < ?", (cutoff,))
            runs = cur.rowcount
            cur = await db.execute(
                f"DELETE FROM runs WHERE {final} AND id IN ("
                " SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY id DESC) AS n"
                f" FROM runs WHERE {final}) WHERE n > ?)",
                (runs_per_job,),
            )
            runs += cur.rowcount
            cur = await db.execute("DELETE FROM run_events WHERE at < ?", (now - int(event_hours * 3_600_000),))
            events = cur.rowcount
        return PruneResult(runs=runs, events=events)

    async def check(self) -> list[str]:
        problems = [r[0] for r in await self._all("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {r[0]} row {r[1]} -> {r[2]}" for r in await self._all("PRAGMA foreign_key_check")]
        return problems

    async def backup(self, path: str) -> None:
        target = Path(path)
        if target.exists():
            raise StoreError(f"{target}: already exists; refusing to overwrite")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        dest = await aiosqlite.connect(target)
        try:
            await self.db.backup(dest)
        finally:
            await dest.close()


def _lease_from_row(row: Any) -> Lease:
    return Lease(
        holder=row["holder"],
        host=row["host"],
        pid=row["pid"],
        address=row["address"],
        acquired_at=row["acquired_at"],
        expires_at=row["expires_at"],
    )


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (no statement in them contains a ';' inside a literal)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
