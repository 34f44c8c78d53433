"""The writes both SQL backends make alike: jobs, cancels and approvals, a run's delivery, a job's memory,
takeovers of orphaned runs, the scheduler lease, state and pruning. Each is one transaction (`write()`),
written once with '?' placeholders and the backend's `Dialect`; what an engine does differently is a
hook: `_serialize` (PostgreSQL serializes some decisions with advisory locks; SQLite's write lock already
does) and `_refused` (what a refused job row means).

The run lifecycle (slots, claims, ends) is `sql_runs.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from cronui.model import Job, Lease, Milestone, Run, RunStatus
from cronui.model.audit import AuditEntry
from cronui.model.records import ApprovalDecision, PruneResult
from cronui.store import pruning
from cronui.store.approvals import APPROVAL_DECIDE, UNNOTICED, decided_values
from cronui.store.audit import insert_audit
from cronui.store.base import StoreError
from cronui.store.dialect import Tx
from cronui.store.rows import RUN_SELECT, job_to_row, lease_from_row, milestones_to_json, run_from_row
from cronui.store.sql_reads import SqlReads

MEMORY_UPSERT = (
    "INSERT INTO job_memory (job_id, key, value, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (job_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
MEMORY_DELETE = "DELETE FROM job_memory WHERE job_id = ? AND key = ?"

SESSION_UPSERT = (
    "INSERT INTO sessions (name, history, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET history = excluded.history, updated_at = excluded.updated_at"
)

LEASE_UPSERT = (
    "INSERT INTO scheduler_lease (id, holder, host, pid, address, acquired_at, expires_at) "
    "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, "
    "host = excluded.host, pid = excluded.pid, address = excluded.address, "
    "acquired_at = excluded.acquired_at, expires_at = excluded.expires_at"
)


def host_pattern(host: str | None) -> str | None:
    """A LIKE pattern for the node names of `host` (`host:pid:tag`); None matches nothing."""
    if host is None:
        return None
    return host.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"


class SqlWrites(SqlReads):
    """What every SQL store writes, the same way on each engine."""

    # ------------------------------------------------------------ hooks

    async def _serialize(self, tx: Tx, kind: str) -> None:
        """Serialize a decision of `kind` (claim, lease, approvals) across processes, until COMMIT. SQLite:
        nothing to do, `BEGIN IMMEDIATE` has kept every other writer out since the transaction began."""

    def _refused(self, job: Job, error: Exception) -> StoreError | None:
        """What a refused job row means (a name taken, a value the column cannot hold), or None: not a
        refusal, the error stands."""
        return None

    async def write_one(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in a transaction of its own; the rows it changed."""
        async with self.write() as tx:
            return await tx.run(sql, params)

    # ------------------------------------------------------------ jobs

    async def create_job(self, job: Job, audit: Sequence[AuditEntry] = ()) -> Job:
        await self.save_jobs([job], [], [], job.created_at, audit)
        return job

    async def update_job(self, job: Job, audit: Sequence[AuditEntry] = ()) -> Job:
        await self.save_jobs([], [job], [], job.updated_at, audit)
        return job

    async def save_jobs(
        self,
        creates: Sequence[Job],
        updates: Sequence[Job],
        removes: Sequence[int],
        now: int,
        audit: Sequence[AuditEntry] = (),
    ) -> None:
        """Create, update and remove many jobs in one transaction, with the audit rows that describe the
        changes: all of them or none. A job's owner is written when it is created, never by an update."""
        async with self.write() as tx:
            for job_id in removes:
                await self._remove_job(tx, job_id, now)
            for job in updates:
                row = job_to_row(job)
                job_id = row.pop("id")
                row.pop("owner")
                row.pop("paused_until")  # a timed pause is set by pause/resume (set_job_pause), not by an edit
                sets = ", ".join(f"{c} = ?" for c in row)
                await self._job_statement(tx, job, f"UPDATE jobs SET {sets} WHERE id = ?", [*row.values(), job_id])
            for job in creates:
                row = job_to_row(job)
                row.pop("id")
                marks = ", ".join("?" for _ in row)
                sql = f"INSERT INTO jobs ({', '.join(row)}) VALUES ({marks}) RETURNING id"
                job.id = (await self._job_statement(tx, job, sql, list(row.values())))[0]
            await insert_audit(tx, audit, creates)

    async def _job_statement(self, tx: Tx, job: Job, sql: str, params: Sequence[Any]) -> Any:
        try:
            return await tx.row(sql, params)
        except Exception as e:
            refused = self._refused(job, e)
            if refused is None:
                raise
            raise refused from None

    async def set_job_pause(self, job_id: int, until: int | None) -> None:
        await self.write_one("UPDATE jobs SET paused_until = ? WHERE id = ?", (until, job_id))

    async def remove_job(self, job_id: int, now: int, audit: Sequence[AuditEntry] = ()) -> None:
        async with self.write() as tx:
            await self._remove_job(tx, job_id, now)
            await insert_audit(tx, audit)

    async def _remove_job(self, tx: Tx, job_id: int, now: int) -> None:
        """Soft delete: the row and its runs stay, the name is free again, pending runs are cancelled.
        Runs before the job, the order every writer locks them in (finish_runs: runs, then jobs)."""
        await tx.run(
            "UPDATE runs SET status = 'cancelled', reason = 'job removed', finished_at = ? "
            "WHERE job_id = ? AND status IN ('pending', 'awaiting_approval')",
            (now, job_id),
        )
        await tx.run(
            "UPDATE jobs SET deleted_at = ?, enabled = 0, next_run_at = NULL, updated_at = ? WHERE id = ?",
            (now, now, job_id),
        )

    async def set_memory(self, job_id: int, key: str, value: Any, now: int) -> None:
        if value is None:
            await self.write_one(MEMORY_DELETE, (job_id, key))
        else:
            await self.write_one(MEMORY_UPSERT, (job_id, key, json.dumps(value), now))

    # ------------------------------------------------------------ runs: leases, cancels, approvals, delivery

    async def orphaned_runs(self, now: int, live_node: str | None, host: str | None = None) -> list[Run]:
        """Runs left `running` by a holder that is gone (any node but `live_node`) whose lease has expired on
        the store's clock — and, with `host`, any of that host's (its processes can be looked for)."""
        clock, at = self.dialect.clock(now)
        rows = await self.select_rows(
            f"{RUN_SELECT} WHERE r.status = 'running' AND (r.node IS NULL OR r.node != ?) "
            f"AND (COALESCE(r.lease_expires_at, 0) <= {clock} OR r.node LIKE ? ESCAPE '\\') ORDER BY r.id",
            (live_node or "", *at, host_pattern(host)),
        )
        return [run_from_row(r) for r in rows]

    async def take_over(self, run: Run, now: int, expired_only: bool = True) -> Run | None:
        """Take a running run from the node holding it, to record its end: its fence token is bumped, so
        whatever its holder still writes about it is refused. Only while it is held with the token `run`
        carries and (with `expired_only`) its lease has expired on the store's clock; else None."""
        clock, at = self.dialect.clock(now)
        async with self.write() as tx:
            taken = await tx.row(
                "UPDATE runs SET fence = fence + 1 WHERE id = ? AND status = 'running' AND fence = ? "
                f"AND node {self.dialect.same} ? AND (? = 0 OR COALESCE(lease_expires_at, 0) <= {clock}) "
                "RETURNING id",
                (run.id, run.fence, run.node, int(expired_only), *at),
            )
            if taken is None or run.id is None:
                return None
            [now_held] = await self._runs_by_id(tx, [run.id])
        return now_held

    async def request_cancel(self, run_id: int, now: int) -> Run | None:
        async with self.write() as tx:
            await tx.run(
                "UPDATE runs SET status = 'cancelled', reason = 'cancelled before it started', finished_at = ? "
                "WHERE id = ? AND status IN ('pending', 'awaiting_approval')",
                (now, run_id),
            )
            await tx.run("UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (run_id,))
        return await self.get_run(run_id)

    async def decide_approval(self, decision: ApprovalDecision) -> Run | None:
        async with self.write() as tx:
            found = await self._runs_by_id(tx, [decision.run_id])
            if not found or found[0].status is not RunStatus.AWAITING_APPROVAL:
                return None
            # of two deciders, the second finds the run no longer waiting: 0 rows
            if await tx.run(APPROVAL_DECIDE, decided_values(found[0], decision)) != 1:
                return None
            [run] = await self._runs_by_id(tx, [decision.run_id])
        return run

    async def take_approval_notices(self, limit: int = 100) -> list[Run]:
        if await self.select_one(UNNOTICED) is None:  # every pass asks: a read, not a write, when none waits
            return []
        async with self.write() as tx:
            taken = await tx.rows(
                "UPDATE runs SET approval_notice = 'sending' WHERE id IN (SELECT id FROM runs "
                f"WHERE status = 'awaiting_approval' AND approval_notice IS NULL ORDER BY id LIMIT ?"
                f"{self.dialect.skip_locked}) RETURNING id",
                (limit,),
            )
            ids = sorted(row[0] for row in taken)
            return await self._runs_by_id(tx, ids) if ids else []

    async def note_approval_notice(self, run_id: int, note: str) -> None:
        await self.write_one("UPDATE runs SET approval_notice = ? WHERE id = ?", (note, run_id))

    async def update_delivery(
        self,
        run_id: int,
        status: str,
        reason: str | None,
        milestones: Sequence[Milestone],
        holder: tuple[str | None, int] | None = None,
    ) -> bool:
        node, fence = holder if holder is not None else (None, None)
        changed = await self.write_one(
            "UPDATE runs SET delivery_status = ?, delivery_reason = ?, milestones = ? WHERE id = ? "
            f"AND (? OR (node {self.dialect.same} ? AND fence = ?))",
            (status, reason, milestones_to_json(milestones), run_id, holder is None, node, fence),
        )
        return changed == 1

    # ------------------------------------------------------------ nodes, the scheduler lease, state

    async def forget_node(self, node: str) -> None:
        await self.write_one("DELETE FROM nodes WHERE node = ?", (node,))

    async def acquire_lease(self, me: Lease, now: int, holder_alive: Callable[[Lease], bool]) -> Lease:
        async with self.write() as tx:
            await self._serialize(tx, "lease")  # two acquirers never both win an empty row
            row = await tx.row("SELECT * FROM scheduler_lease WHERE id = 1")
            current = lease_from_row(row) if row else None
            if current is None or current.holder == me.holder or current.expires_at <= now or not holder_alive(current):
                acquired_at = current.acquired_at if current and current.holder == me.holder else now
                await tx.run(LEASE_UPSERT, (me.holder, me.host, me.pid, me.address, acquired_at, me.expires_at))
                return Lease(me.holder, me.host, me.pid, me.address, acquired_at, me.expires_at)
            return current

    async def renew_lease(self, holder: str, now: int, expires_at: int) -> bool:
        changed = await self.write_one(
            "UPDATE scheduler_lease SET expires_at = ? WHERE id = 1 AND holder = ?", (expires_at, holder)
        )
        return changed == 1

    async def release_lease(self, holder: str) -> None:
        await self.write_one("DELETE FROM scheduler_lease WHERE id = 1 AND holder = ?", (holder,))

    async def set_state(self, key: str, value: str | None) -> None:
        if value is None:
            await self.write_one("DELETE FROM state WHERE key = ?", (key,))
        else:
            await self.write_one(
                "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # ------------------------------------------------------------ maintenance

    async def prune(
        self,
        now: int,
        keep_days: float,
        runs_per_job: int,
        event_hours: float,
        budget_s: float | None = None,
        audit_days: float | None = None,
    ) -> PruneResult:
        return await pruning.prune(self, now, keep_days, runs_per_job, event_hours, budget_s, audit_days)

    async def delete_batch(self, sql: str, params: Sequence[Any]) -> int:
        return await self.write_one(sql, params)
