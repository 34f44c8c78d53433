"""A run's life as both SQL backends write it: new runs (slots, hook runs under a cap, retries, chained
runs, each unique on its key), the claim that starts or turns them away, and the ends that record them
with the job's bookkeeping. Written once against `Dialect`; a backend supplies `materialize` (how it
compare-and-sets many jobs' next fires) and `_skip_runs` (how it turns many runs away in one go), and
serializes what must be with `_serialize` (see `sql_writes.py`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from cronui.model import Job, Run, RunStatus, Trigger
from cronui.model.records import CapReached, Claim, ClaimLimits, Recorded, RunCap, RunEnd, day_start
from cronui.owner_budget import held_owner, owner_budgets
from cronui.store.approvals import (
    APPROVAL_POLICY_SELECT,
    APPROVALS_WAITING,
    approval_candidates,
    approval_policy_from_row,
    ask_approvals,
)
from cronui.store.claims import (
    CAPPED_RUNS,
    CLAIM_DUE,
    CLAIM_SKIPS,
    CLAIM_START,
    OwnerBudgets,
    budget_refusals,
    failure_effect,
    fenced_live,
    turned_away,
)
from cronui.store.dialect import Tx
from cronui.store.endpoints import record_endpoints
from cronui.store.metrics import ended_rows
from cronui.store.owners import OWNER_SPENT
from cronui.store.rows import RUN_CODECS, RUN_COLUMNS, job_from_row, run_to_row, to_row
from cronui.store.sql_reads import LAST_COST, spent_query
from cronui.store.sql_writes import MEMORY_DELETE, MEMORY_UPSERT, SESSION_UPSERT, SqlWrites
from cronui.store.tallies_ddl import RUN_ENDS_INSERT
from cronui.targets import AgentTarget

# What a run that has just come to exist has (the other columns keep their defaults until it runs).
NEW_RUN_COLUMNS = (
    "job_id trigger scheduled_for attempt retry_of triggered_by status reason missed_count queued_at not_before "
    "finished_at"
).split()
NEW_RUN_COLUMNS += "milestones approval_deadline approval_default".split()  # a run that waits for approval

# What a retry or chained run is inserted with: a retry carries its first attempt's request (a hook's payload).
FOLLOW_COLUMNS = [*NEW_RUN_COLUMNS, "request", "requested_by", "params"]

# A run's columns that never change once it exists.
_FIXED_RUN_COLUMNS = frozenset(
    ("id", "job_id", "trigger", "scheduled_for", "attempt", "retry_of", "triggered_by", "queued_at", "requested_by")
)
# What recording a run's end writes: everything but those, and the fence token (the end is fenced by it).
END_COLUMNS = [c for c in RUN_COLUMNS if c not in _FIXED_RUN_COLUMNS and c != "fence"]

# the columns that identify a new run (runs are unique on them; see _insert_runs)
_RUN_KEY = "id job_id trigger scheduled_for attempt retry_of triggered_by".split()

# parameters in one statement: within both SQLite's (32,766) and asyncpg's (32,767) limits

# a job removed with its run's end (`delete_after_run`): as `remove_job` does it, once
_CANCEL_WAITING = (
    "UPDATE runs SET status = 'cancelled', reason = 'job removed', finished_at = ? "
    "WHERE job_id = ? AND status IN ('pending', 'awaiting_approval')"
)
_REMOVE_JOB = (
    "UPDATE jobs SET deleted_at = ?, enabled = 0, next_run_at = NULL, updated_at = ? "
    "WHERE id = ? AND deleted_at IS NULL RETURNING id"
)
MAX_PARAMS = 32_000

# the slots of a window that ran or wait to (a skipped slot — missed in an outage, paused, over a budget —
# may be backfilled)
_TAKEN_SLOTS = (
    "SELECT scheduled_for FROM runs WHERE job_id = ? AND scheduled_for BETWEEN ? AND ? "
    "AND trigger IN ('schedule', 'catchup', 'backfill') AND status != 'skipped'"
)


class SqlRuns(SqlWrites):
    """Inserting, claiming and finishing runs, the same way on each engine."""

    async def _skip_runs(self, tx: Tx, skips: Sequence[tuple[int, str, str]], now: int) -> list[int]:
        """Turn pending runs away (run id, status, reason), finished at `now`; the ids it did turn away (a
        run another writer holds, or no longer pending, is left for the next claim)."""
        raise NotImplementedError

    async def _lock_job(self, tx: Tx, job_id: int) -> None:
        """Make inserts capped on one job take turns (SQLite: the write lock already does)."""

    # ------------------------------------------------------------ new runs

    async def _insert_runs(self, tx: Tx, runs: Sequence[Run], columns: Sequence[str] = NEW_RUN_COLUMNS) -> list[Run]:
        """Insert runs (one that exists already — the same slot, retry or chain — is left alone); returns
        those inserted, with their ids, in id order. Multi-row INSERTs; RETURNING names exactly the rows
        a statement inserted, matched back to their Runs by the keys runs are unique on. Only `columns`
        are written (a new run's; the rest keep their defaults)."""
        if not runs:
            return []
        await self._ask_approvals(tx, runs)
        cols = [c for c in columns if c != "id"]
        per_statement = max(1, MAX_PARAMS // len(cols))
        waiting: dict[tuple[Any, ...], list[Run]] = defaultdict(list)
        for run in runs:
            key = (run.job_id, str(run.trigger), run.scheduled_for, run.attempt, run.retry_of, run.triggered_by)
            waiting[key].append(run)
        row_marks = "(" + ", ".join("?" for _ in cols) + ")"
        inserted: list[Run] = []
        for start in range(0, len(runs), per_statement):
            chunk = runs[start : start + per_statement]
            values: list[Any] = []
            for run in chunk:
                row = to_row(run, cols, RUN_CODECS)
                values += [row[c] for c in cols]
            returned = await tx.rows(
                f"INSERT INTO runs ({', '.join(cols)}) VALUES {', '.join(row_marks for _ in chunk)} "
                f"ON CONFLICT DO NOTHING RETURNING {', '.join(_RUN_KEY)}",
                values,
            )
            for row in returned:
                same = waiting.get(tuple(row[c] for c in _RUN_KEY[1:]))
                if same:
                    run = same.pop(0)
                    run.id = row["id"]
                    inserted.append(run)
        inserted.sort(key=lambda r: r.id or 0)
        await tx.many(RUN_ENDS_INSERT, ended_rows(inserted, cols))  # the metrics' rollup: runs inserted ended
        return inserted

    async def _ask_approvals(self, tx: Tx, runs: Sequence[Run]) -> None:
        """New runs that need approval wait for it (`ask_approvals`). Counting the runs already waiting and
        inserting more is serialized (`_serialize`), taken only when some run may wait: two processes never both
        fill a job's last place."""
        job_ids, asking = approval_candidates(runs)
        if not job_ids:
            return
        ids, params = self.dialect.in_list(job_ids)
        among, more = self.dialect.in_list(asking)
        sql = APPROVAL_POLICY_SELECT.format(ids=ids, asking=among)
        policies = dict(approval_policy_from_row(row) for row in await tx.rows(sql, [*params, *more]))
        if not policies:  # the common case: no job here asks for approval
            return
        await self._serialize(tx, "approvals")
        ids, params = self.dialect.in_list(sorted(policies))
        waiting = {row[0]: row[1] for row in await tx.rows(APPROVALS_WAITING.format(ids=ids), params)}
        ask_approvals(runs, policies, waiting)

    async def insert_run(self, run: Run, cap: RunCap | None = None) -> Run | None:
        async with self.write() as tx:
            if cap is not None:  # counted in the transaction that inserts: the limit holds across processes
                await self._lock_job(tx, run.job_id)
                rows = await tx.rows(CAPPED_RUNS, (run.job_id, run.queued_at - cap.window_ms, cap.count))
                wait = cap.wait_ms([row[0] for row in rows], run.queued_at)
                if wait is not None:
                    raise CapReached(cap, wait)
            inserted = await self._insert_runs(tx, [run], RUN_COLUMNS)
        return inserted[0] if inserted else None

    async def insert_backfill(self, job_id: int, runs: Sequence[Run]) -> list[Run]:
        """Insert backfill runs for past slots of one job, skipping each slot that has run or is queued
        already (a schedule, catch-up or backfill run that was not skipped) and each at or after the job's
        next fire (the scheduler's to plan). The job's row is locked first, so two backfills of one window
        take turns and the second finds the first's runs: each slot is queued once."""
        if not runs:
            return []
        async with self.write() as tx:
            await self._lock_job(tx, job_id)
            row = await tx.row("SELECT next_run_at FROM jobs WHERE id = ?", (job_id,))
            upto = row[0] if row is not None and row[0] is not None else None
            lo = min(r.scheduled_for for r in runs)
            hi = max(r.scheduled_for for r in runs)
            taken = {r[0] for r in await tx.rows(_TAKEN_SLOTS, (job_id, lo, hi))}
            fresh = [r for r in runs if r.scheduled_for not in taken and (upto is None or r.scheduled_for < upto)]
            return await self._insert_runs(tx, fresh, [*NEW_RUN_COLUMNS, "requested_by"])

    # ------------------------------------------------------------ the claim

    async def claim(self, node: str, now: int, lease_ms: int, limits: ClaimLimits) -> Claim:
        """Skip what an overlap or queue limit turns away, then start the oldest runs that may start,
        fair across jobs, within the node's capacity, the pools' sizes and the cap on runs at once across
        nodes — in one transaction, the decision serialized across processes (`_serialize`)."""
        d = self.dialect
        only = ""
        params: list[Any] = [now]
        if limits.only_roots is not None:
            among, roots = d.in_list(list(limits.only_roots))
            only = f" AND COALESCE(retry_of, id) {among}"
            params += roots
        due = CLAIM_DUE.format(only=only, any_catchup=d.any_catchup, catching_up=d.catching_up)
        start = CLAIM_START.format(not_labelled=d.not_labelled, pool_sizes=d.pool_sizes)
        claim = Claim()
        async with self.write() as tx:
            await self._serialize(tx, "claim")
            away = await tx.rows(f"{due} {CLAIM_SKIPS}", params)
            if away:
                skipped = await self._skip_runs(tx, [(row["id"], *turned_away(row)) for row in away], now)
                if skipped:
                    claim.skipped = await self._runs_by_id(tx, skipped)
            room = limits.capacity
            if limits.max_running is not None:  # the cap across nodes, counted inside the claim
                # a check's open start (a ping) runs elsewhere: it takes no place here
                running = await tx.row("SELECT COUNT(*) FROM runs WHERE status = 'running' AND trigger != 'ping'")
                room = min(room, limits.max_running - int(running[0]))
            if room <= 0:
                return claim
            placing = [*params, *d.labels_params(sorted(limits.labels)), *d.sizes_params(limits.pools), room]
            ids = [row[0] for row in await tx.rows(f"{due} {start}", placing)]
            if not ids:
                return claim
            among, values = d.in_list(ids)
            job_of: dict[int, int] = {
                row[0]: row[1] for row in await tx.rows(f"SELECT id, job_id FROM runs WHERE id {among}", values)
            }
            among, values = d.in_list(sorted(set(job_of.values())))
            jobs = {
                row["id"]: job_from_row(row) for row in await tx.rows(f"SELECT * FROM jobs WHERE id {among}", values)
            }
            since = day_start(now)
            refused = await budget_refusals(
                [(i, jobs[job_of[i]]) for i in ids if job_of.get(i) in jobs],
                limits.daily_budget_usd,
                lambda job_id: self._cost(tx, *spent_query(since, job_id)),
                lambda job_id: self._cost(tx, LAST_COST, [job_id]),
                await self._owner_budgets(tx, list(jobs.values()), limits.owner_daily_usd, since),
            )
            if refused:  # a daily budget is spent: skipped here, in the claim, so every node honours it
                gone = await self._skip_runs(tx, [(i, str(RunStatus.SKIPPED), why) for i, why in refused.items()], now)
                if gone:
                    claim.skipped += await self._runs_by_id(tx, sorted(gone))
                ids = [i for i in ids if i not in refused]
                if not ids:
                    return claim
            clock, at = d.clock(now)
            among, values = d.in_list(ids)
            started = await tx.rows(
                f"UPDATE runs SET status = 'running', node = ?, started_at = ?, lease_expires_at = {clock} + ?, "
                f"fence = fence + 1 WHERE id IN (SELECT id FROM runs WHERE id {among} AND status = 'pending'"
                f"{d.skip_locked}) RETURNING id",
                [node, now, *at, lease_ms, *values],
            )
            runs = {run.id: run for run in await self._runs_by_id(tx, sorted(row[0] for row in started))}
            claim.started = [(runs[i], jobs[runs[i].job_id]) for i in ids if i in runs]
        return claim

    async def _owner_budgets(
        self, tx: Tx, jobs: Sequence[Job], daily_usd: float | None, since: int
    ) -> OwnerBudgets | None:
        """The `[policy]` daily budgets of the owners of these agent jobs that are held to one, each token's
        own override read in this transaction; None when none is."""
        owners = [j.owner for j in jobs if isinstance(j.target, AgentTarget) and held_owner(j.owner) is not None]
        if not owners:
            return None
        among, names = self.dialect.in_list(sorted({held_owner(o) for o in owners} - {None}))
        rows = await tx.rows(f"SELECT name, policy FROM tokens WHERE name {among} AND policy IS NOT NULL", names)
        budgets = owner_budgets(owners, daily_usd, {row[0]: row[1] for row in rows})
        if not budgets:
            return None
        return OwnerBudgets(budgets, lambda owner: self._cost(tx, OWNER_SPENT, [since, owner]))

    async def _cost(self, tx: Tx, sql: str, params: Sequence[Any]) -> float:
        row = await tx.row(sql, params)
        return float(row[0]) if row and row[0] is not None else 0.0

    # ------------------------------------------------------------ run ends

    async def finish_runs(self, ends: Sequence[RunEnd]) -> list[Recorded | None]:
        """Record many run ends in one transaction (see RunEnd). An end whose run is no longer pending or
        running, held by the node and fence token it carries (another scheduler took it over, or recorded
        it), is not written: None in its place."""
        if not ends:
            return []
        results: list[Recorded | None] = [None] * len(ends)
        d = self.dialect
        async with self.write() as tx:
            # the fence: only a run still open, held by the node and token the end carries, is written;
            # the row lock keeps a takeover from changing it between this check and the write
            among, ids = d.in_list([end.run.id for end in ends])
            holders = {
                row[0]: (row[1], row[2])
                for row in await tx.rows(
                    f"SELECT id, node, fence FROM runs WHERE id {among} AND status IN ('pending', 'running') "
                    f"ORDER BY id{d.for_update}",
                    ids,
                )
            }
            live = fenced_live(ends, holders)
            if not live:
                return results
            rows = [run_to_row(ends[i].run) for i in live]
            sets = ", ".join(f"{c} = ?" for c in END_COLUMNS)
            await tx.many(
                f"UPDATE runs SET {sets} WHERE id = ?", [[row[c] for c in END_COLUMNS] + [row["id"]] for row in rows]
            )
            memory = [
                (ends[i].run.job_id, key, json.dumps(value), ends[i].run.finished_at or 0)
                for i in live
                for key, value in ends[i].memory.items()
            ]
            await tx.many(MEMORY_UPSERT, [m for m in memory if m[2] != "null"])
            await tx.many(MEMORY_DELETE, [m[:2] for m in memory if m[2] == "null"])
            # one history per session, read by the next run of any job naming it
            await tx.many(
                SESSION_UPSERT,
                [
                    (ends[i].session, json.dumps(ends[i].session_history), ends[i].run.finished_at or 0)
                    for i in live
                    if ends[i].session is not None
                ],
            )
            final = [i for i in live if ends[i].retry is None]
            removing = [i for i in final if ends[i].remove_job]
            # a job removed with its run's end: its other waiting runs first (runs before jobs, as every
            # writer locks them), the job itself after its bookkeeping
            gone = sorted({ends[i].run.job_id for i in removing})
            now = max((ends[i].run.finished_at or 0 for i in removing), default=0)
            await tx.many(_CANCEL_WAITING, [(now, job_id) for job_id in gone])
            counts = await self._bookkeeping(tx, [ends[i] for i in final])
            for i in live:
                results[i] = Recorded()
            for i, (failures, disabled) in zip(final, counts, strict=True):
                rec = results[i]
                assert rec is not None
                rec.consecutive_failures, rec.auto_disabled = failures, disabled
            removed = {row[0] for job_id in gone if (row := await tx.row(_REMOVE_JOB, (now, now, job_id))) is not None}
            for i in removing:
                rec = results[i]
                assert rec is not None
                rec.removed_job = ends[i].run.job_id in removed
            await record_endpoints(tx, self.dialect, ends, live, results)
            follow = await self._follow(tx, ends, live, results)
            inserted = {id(run) for run in await self._insert_runs(tx, [run for _, run in follow], FOLLOW_COLUMNS)}
            for i, run in follow:
                rec = results[i]
                if rec is not None and id(run) in inserted:
                    rec.inserted.append(run)
        return results

    async def _follow(
        self, tx: Tx, ends: Sequence[RunEnd], live: Sequence[int], results: list[Recorded | None]
    ) -> list[tuple[int, Run]]:
        """The runs that follow the ends written (index of the end, its retry or chained run); a chained
        name with no live job is noted in the end's Recorded."""
        wanted = sorted({name for i in live if ends[i].retry is None for name in ends[i].chain_to})
        targets: dict[str, int] = {}
        if wanted:
            among, names = self.dialect.in_list(wanted)
            rows = await tx.rows(f"SELECT name, id FROM jobs WHERE name {among} AND deleted_at IS NULL", names)
            targets = {row[0]: row[1] for row in rows}
        follow: list[tuple[int, Run]] = []
        for i in live:
            end = ends[i]
            if end.retry is not None:
                end.retry.request = end.run.request  # every attempt of a hook's run gets its payload
                end.retry.requested_by = end.run.requested_by  # and says who asked, as the first did
                end.retry.params = end.run.params  # and runs with the same params
                follow.append((i, end.retry))
                continue
            rec = results[i]
            assert rec is not None
            for name in end.chain_to:
                if name not in targets:
                    rec.missing_chains.append(name)
                    continue
                now = end.run.finished_at or 0
                chained = Run(
                    job_id=targets[name],
                    trigger=Trigger.CHAIN,
                    scheduled_for=now,
                    triggered_by=end.run.id,
                    queued_at=now,
                    needs_approval=name in end.chain_approval,
                )
                follow.append((i, chained))
        return follow

    async def _bookkeeping(self, tx: Tx, ends: Sequence[RunEnd]) -> list[tuple[int, str | None]]:
        """The jobs' state after their last attempts, in order: last status, then consecutive failures
        (+1, reset to 0, or left) and auto-disable. Each end is one `UPDATE ... RETURNING` doing its own
        arithmetic on the row as committed (a concurrent end of the same job waits for the row and then
        sees this one's count); the job is switched off by the end whose count reached the limit while
        it was on. Returns, per end, the job's failure count after it and the auto-disable reason."""
        if not ends:
            return []
        among, job_ids = self.dialect.in_list(sorted({end.run.job_id for end in ends}))
        if self.dialect.for_update:  # job rows locked in id order: two batches never deadlock
            await tx.rows(f"SELECT 1 FROM jobs WHERE id {among} ORDER BY id{self.dialect.for_update}", job_ids)
        out: list[tuple[int, str | None]] = []
        for end in ends:
            run = end.run
            effect = failure_effect(run.status, run.failure_kind)
            row = await tx.row(
                "UPDATE jobs SET last_status = ?, consecutive_failures = CASE CAST(? AS TEXT) WHEN 'reset' THEN 0 "
                "WHEN 'add' THEN consecutive_failures + 1 ELSE consecutive_failures END WHERE id = ? "
                "RETURNING consecutive_failures",
                (str(run.status), effect, run.job_id),
            )
            count = 0 if row is None else int(row[0])
            disabled = None
            if row is not None and effect == "add" and end.failure_limit and count >= end.failure_limit:
                reason = f"{count} consecutive failures (last: {run.error or run.status})"
                switched = await tx.row(
                    "UPDATE jobs SET enabled = 0, auto_disabled = ?, next_run_at = NULL "
                    "WHERE id = ? AND enabled = 1 AND consecutive_failures >= ? RETURNING id",
                    (reason, run.job_id, end.failure_limit),
                )
                disabled = reason if switched is not None else None
            out.append((count, disabled))
        return out
