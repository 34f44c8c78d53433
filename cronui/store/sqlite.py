"""The SQLite store (aiosqlite): the Store contract on one local file.

One process at a time schedules (the scheduler lease); any number read and write jobs. Each write that
must be atomic is one `BEGIN IMMEDIATE` transaction, so two processes never interleave inside it: the
single writer decides what PostgreSQL decides under its row and advisory locks, and the store's clock
is the caller's (one host). What both backends do alike is `sql_reads.py`, `sql_writes.py` and
`sql_runs.py`; the file itself (opening, migrations, the lock) is `connection.py`. Kept here: what
SQLite does its own way — the batch writes that lean on the single writer (next fires, turned-away
runs, event ids from the table's sequence) and JSON where PostgreSQL has arrays.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence

from cronui.model import Job, Run, RunEvent, RunStatus
from cronui.model.records import Node, SlotWrite
from cronui.store.alerts import SqlAlerts
from cronui.store.audit import SqlAudit
from cronui.store.base import DuplicateJobName, StoreError
from cronui.store.connection import SQLiteConnection
from cronui.store.dialect import Dialect, Tx
from cronui.store.health import SqlHealth
from cronui.store.metrics import SqlMetrics
from cronui.store.owners import SqlOwners
from cronui.store.rows import NODE_COLUMNS, event_to_row
from cronui.store.sql_pings import SqlPings
from cronui.store.tokens import SqlTokens
from cronui.store.wakeup import SQLiteWakeups

NODE_UPSERT = (
    f"INSERT INTO nodes ({NODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(node) DO UPDATE SET "
    "seen_at = excluded.seen_at, expires_at = excluded.expires_at, running = excluded.running, "
    "labels = excluded.labels"
)


class SQLiteStore(
    SQLiteWakeups, SQLiteConnection, SqlAlerts, SqlHealth, SqlPings, SqlMetrics, SqlTokens, SqlAudit, SqlOwners
):
    """The default store: one local SQLite file (mode 0600)."""

    multi_node = False  # one process schedules at a time (the scheduler lease)
    dialect = Dialect()  # the shared SQL's defaults are SQLite's

    def _refused(self, job: Job, error: Exception) -> StoreError | None:
        """A name taken, or a value the column cannot hold (a NaN stored as NULL)."""
        if not isinstance(error, sqlite3.IntegrityError):
            return None
        if "UNIQUE" in str(error):
            return DuplicateJobName(f"a job named {job.name!r} already exists")
        return StoreError(f"job {job.name!r} cannot be stored: {error}")

    async def recent_statuses(self, job_ids: Sequence[int], per_job: int) -> dict[int, list[RunStatus]]:
        out: dict[int, list[RunStatus]] = {}
        for job_id in job_ids:
            rows = await self.fetch_all(
                "SELECT status FROM runs WHERE job_id = ? "
                "AND status NOT IN ('pending', 'running', 'awaiting_approval') ORDER BY id DESC LIMIT ?",
                (job_id, per_job),
            )
            out[job_id] = [RunStatus(r[0]) for r in reversed(rows)]
        return out

    async def materialize(self, writes: Sequence[SlotWrite]) -> list[Run]:
        """For each job: advance its next fire from `expected` (compare-and-set) and insert its slots'
        runs — all jobs in one transaction. A job whose next fire moved meanwhile is left as it is."""
        runs: list[Run] = []
        async with self.write() as tx:
            await tx.many(
                "UPDATE jobs SET next_run_at = ? WHERE id = ? AND next_run_at IS ?",
                [(w.next_run_at, w.job_id, w.expected) for w in writes],
            )
            with_runs = [w for w in writes if w.runs]
            if with_runs:
                # Which compare-and-sets held: the job's next fire is now the planned one (a plan with
                # runs always moves it). Had another planner written the same plan, the slots' unique
                # index keeps its runs from being inserted twice.
                among, ids = self.dialect.in_list([w.job_id for w in with_runs])
                next_now = {
                    row[0]: row[1] for row in await tx.rows(f"SELECT id, next_run_at FROM jobs WHERE id {among}", ids)
                }
                runs = [
                    run
                    for w in with_runs
                    if w.expected != w.next_run_at and next_now.get(w.job_id) == w.next_run_at
                    for run in w.runs
                ]
            return await self._insert_runs(tx, runs)

    async def _skip_runs(self, tx: Tx, skips: Sequence[tuple[int, str, str]], now: int) -> list[int]:
        """Under the write lock every run the claim picked is still pending: all are turned away."""
        await tx.many(
            "UPDATE runs SET status = ?, reason = ?, finished_at = ? WHERE id = ? AND status = 'pending'",
            [(status, reason, now, run_id) for run_id, status, reason in skips],
        )
        return sorted(run_id for run_id, _, _ in skips)

    async def renew_run_leases(self, node: str, fences: Mapping[int, int], now: int, lease_ms: int) -> list[int]:
        """Extend the leases of `node`'s runs (run id -> the fence token it holds) to `lease_ms` from now on
        the store's clock (one host: `now`); returns those still held (the rest were taken over)."""
        if not fences:
            return []
        async with self.write() as tx:
            rows = await tx.rows(
                "UPDATE runs SET lease_expires_at = ? FROM json_each(?) AS f "
                "WHERE runs.id = CAST(f.key AS INTEGER) AND runs.fence = f.value AND runs.node = ? "
                "AND runs.status = 'running' RETURNING runs.id",
                (now + lease_ms, json.dumps({str(k): v for k, v in fences.items()}), node),
            )
        return sorted(row[0] for row in rows)

    async def append_events(self, events: Sequence[RunEvent]) -> None:
        if not events:
            return
        async with self.write() as tx:
            await tx.many(
                "INSERT INTO run_events (run_id, job_id, at, kind, name, data) VALUES (?, ?, ?, ?, ?, ?)",
                [event_to_row(ev) for ev in events],
            )
            # AUTOINCREMENT, no conflicts, and no other writer inside this transaction: the batch took the
            # ids just below the table's sequence, in order.
            last: int = (await tx.row("SELECT seq FROM sqlite_sequence WHERE name = 'run_events'") or (0,))[0]
        for offset, ev in enumerate(events):
            ev.id = last - len(events) + 1 + offset

    async def heartbeat(self, node: Node) -> int:
        labels = json.dumps(sorted(node.labels))
        await self.write_one(
            NODE_UPSERT,
            (node.node, node.host, node.pid, node.started_at, node.seen_at, node.expires_at, node.running, labels),
        )
        return node.seen_at  # one host: its own clock is the database's
