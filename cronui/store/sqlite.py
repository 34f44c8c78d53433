"""The SQLite store (aiosqlite): the write path and the scheduler's queries.

One process at a time schedules (the scheduler lease); any number read and write jobs. Each write that
must be atomic is one `BEGIN IMMEDIATE` transaction, so two processes never interleave inside it.
The file itself (opening, migrations, the lock) is `connection.py`; the read side is `history.py`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiosqlite

from cronui.model import Job, Lease, Milestone, Run, RunEvent, RunStatus
from cronui.store.base import (
    DuplicateJobName,
    PruneResult,
    event_to_row,
    job_from_row,
    job_to_row,
    lease_from_row,
    milestones_to_json,
    run_from_row,
    run_to_row,
)
from cronui.store.history import SQLiteHistory
from cronui.store.schema import RUN_SELECT
from cronui.store.wakeup import SQLiteWakeups


class SQLiteStore(SQLiteWakeups, SQLiteHistory):
    """The default store: one local SQLite file (mode 0600)."""

    # ------------------------------------------------------------ jobs

    async def create_job(self, job: Job) -> Job:
        await self.save_jobs([job], [], [], job.created_at)
        return job

    async def update_job(self, job: Job) -> Job:
        await self.save_jobs([], [job], [], job.updated_at)
        return job

    async def save_jobs(self, creates: Sequence[Job], updates: Sequence[Job], removes: Sequence[int], now: int) -> None:
        """Create, update and remove many jobs in one transaction: all of them or none."""
        async with self.transaction() as db:
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
        async with self.transaction() as db:
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
        row = await self.fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(row) if row else None

    async def get_job_by_name(self, name: str) -> Job | None:
        row = await self.fetch_one("SELECT * FROM jobs WHERE name = ? AND deleted_at IS NULL", (name,))
        return job_from_row(row) if row else None

    async def list_jobs(self) -> list[Job]:
        rows = await self.fetch_all("SELECT * FROM jobs WHERE deleted_at IS NULL ORDER BY name")
        return [job_from_row(r) for r in rows]

    async def chain_edges(self) -> dict[str, list[str]]:
        rows = await self.fetch_all(
            "SELECT name, on_success, on_failure FROM jobs WHERE deleted_at IS NULL "
            "AND (on_success != '[]' OR on_failure != '[]')"
        )
        return {r["name"]: [*json.loads(r["on_success"]), *json.loads(r["on_failure"])] for r in rows}

    async def existing_names(self, names: Sequence[str]) -> set[str]:
        if not names:
            return set()
        marks = ", ".join("?" for _ in names)
        rows = await self.fetch_all(
            f"SELECT name FROM jobs WHERE deleted_at IS NULL AND name IN ({marks})", tuple(names)
        )
        return {r[0] for r in rows}

    # ------------------------------------------------------------ scheduling

    async def due_jobs(self, now: int) -> list[Job]:
        rows = await self.fetch_all(
            "SELECT * FROM jobs WHERE deleted_at IS NULL AND enabled = 1 AND next_run_at <= ? ORDER BY next_run_at",
            (now,),
        )
        return [job_from_row(r) for r in rows]

    async def next_wakeup(self, now: int) -> int | None:
        """The earliest future moment with work: a job's next slot or a retry's backoff end."""
        row = await self.fetch_one(
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
        async with self.transaction() as db:
            for job_id, runs, next_run_at in plans:
                for run in runs:
                    if await self._insert_run(db, run) is not None:
                        inserted.append(run)
                await db.execute("UPDATE jobs SET next_run_at = ? WHERE id = ?", (next_run_at, job_id))
        return inserted

    async def insert_run(self, run: Run) -> Run | None:
        async with self.transaction() as db:
            return await self._insert_run(db, run)

    async def pending_runs(self, now: int, limit: int = 500) -> list[Run]:
        rows = await self.fetch_all(
            f"{RUN_SELECT} WHERE r.status = 'pending' AND r.not_before <= ? ORDER BY r.not_before, r.id LIMIT ?",
            (now, limit),
        )
        return [run_from_row(r) for r in rows]

    async def claim_runs(self, run_ids: Sequence[int], node: str, now: int, lease_ms: int) -> list[Run]:
        """Mark pending runs as running on `node`; returns those this call claimed (others lost a race)."""
        claimed: list[int] = []
        async with self.transaction() as db:
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
        rows = await self.fetch_all(f"{RUN_SELECT} WHERE r.id IN ({marks}) ORDER BY r.id", tuple(claimed))
        return [run_from_row(r) for r in rows]

    async def skip_pending(self, run_id: int, status: RunStatus, reason: str, now: int) -> bool:
        async with self.transaction() as db:
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
        async with self.transaction() as db:
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
        async with self.transaction() as db:
            await db.execute(
                f"UPDATE runs SET lease_expires_at = ? WHERE node = ? AND status = 'running' AND id IN ({marks})",
                (expires_at, node, *run_ids),
            )

    async def orphaned_runs(self, now: int, live_node: str | None) -> list[Run]:
        """Runs left `running` by a holder that is gone (any node but `live_node`)."""
        rows = await self.fetch_all(
            f"{RUN_SELECT} WHERE r.status = 'running' AND (r.node IS NULL OR r.node != ?)",
            (live_node or "",),
        )
        return [run_from_row(r) for r in rows]

    async def request_cancel(self, run_id: int, now: int) -> Run | None:
        async with self.transaction() as db:
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
        rows = await self.fetch_all(
            f"SELECT id FROM runs WHERE cancel_requested = 1 AND id IN ({marks})", tuple(run_ids)
        )
        return [r[0] for r in rows]

    async def update_delivery(
        self, run_id: int, status: str, reason: str | None, milestones: Sequence[Milestone]
    ) -> None:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE runs SET delivery_status = ?, delivery_reason = ?, milestones = ? WHERE id = ?",
                (
                    status,
                    reason,
                    milestones_to_json(milestones),
                    run_id,
                ),
            )

    async def get_memory(self, job_id: int, key: str) -> Any:
        row = await self.fetch_one("SELECT value FROM job_memory WHERE job_id = ? AND key = ?", (job_id, key))
        return json.loads(row[0]) if row else None

    async def set_memory(self, job_id: int, key: str, value: Any, now: int) -> None:
        async with self.transaction() as db:
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
        async with self.transaction() as db:
            for ev in events:
                cur = await db.execute(
                    "INSERT INTO run_events (run_id, job_id, at, kind, name, data) VALUES (?, ?, ?, ?, ?, ?)",
                    event_to_row(ev),
                )
                ev.id = cur.lastrowid

    # ------------------------------------------------------------ the scheduler lease

    async def acquire_lease(self, me: Lease, now: int, holder_alive: Callable[[Lease], bool]) -> Lease:
        async with self.transaction() as db:
            async with db.execute("SELECT * FROM scheduler_lease WHERE id = 1") as cur:
                row = await cur.fetchone()
            current = lease_from_row(row) if row else None
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
        async with self.transaction() as db:
            cur = await db.execute(
                "UPDATE scheduler_lease SET expires_at = ? WHERE id = 1 AND holder = ?", (expires_at, holder)
            )
            return cur.rowcount == 1

    async def release_lease(self, holder: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM scheduler_lease WHERE id = 1 AND holder = ?", (holder,))

    async def get_lease(self) -> Lease | None:
        row = await self.fetch_one("SELECT * FROM scheduler_lease WHERE id = 1")
        return lease_from_row(row) if row else None

    # ------------------------------------------------------------ state

    async def get_state(self, key: str) -> str | None:
        row = await self.fetch_one("SELECT value FROM state WHERE key = ?", (key,))
        return row[0] if row else None

    async def set_state(self, key: str, value: str | None) -> None:
        async with self.transaction() as db:
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
        async with self.transaction() as db:
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
