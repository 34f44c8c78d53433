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

from cronui.model import (
    REASON_OVERLAP,
    REASON_QUEUE_FULL,
    Job,
    Lease,
    Milestone,
    MisfirePolicy,
    Run,
    RunEvent,
    RunStatus,
    Trigger,
)
from cronui.model.records import (
    ApprovalDecision,
    CapReached,
    Claim,
    ClaimLimits,
    DueJob,
    JobHead,
    Node,
    PruneResult,
    Recorded,
    RunCap,
    RunEnd,
    SlotWrite,
    day_start,
)
from cronui.store import pruning
from cronui.store.approvals import (
    APPROVAL_DECIDE,
    APPROVAL_POLICY_SELECT,
    APPROVALS_WAITING,
    UNNOTICED,
    approval_candidates,
    approval_policy_from_row,
    ask_approvals,
    decided_values,
)
from cronui.store.base import DuplicateJobName, StoreError
from cronui.store.claims import CAPPED_RUNS, budget_refusals
from cronui.store.history import SQLiteHistory
from cronui.store.rows import (
    JOB_HEAD_SELECT,
    RUN_CODECS,
    RUN_COLUMNS,
    event_to_row,
    job_from_row,
    job_head_from_row,
    job_to_row,
    jobs_from_rows,
    lease_from_row,
    milestones_to_json,
    run_from_row,
    run_to_row,
    to_row,
)
from cronui.store.schema import RUN_SELECT
from cronui.store.wakeup import SQLiteWakeups

# The shared conversation (`session:NAME`) a job talks in, else NULL (a column written with the job).
SESSION_OF = "j.session"

# The pending runs due now, each with what the claim needs to know of its job: how many of the job's runs
# are running (anywhere), whether it is catching up, and its place in the job's line (retries have a
# line of their own: they never wait behind new slots).
CLAIM_DUE = (
    """
WITH pend AS MATERIALIZED (
    SELECT id, job_id, trigger, not_before FROM runs WHERE status = 'pending' AND not_before <= ?{only}
), busy AS MATERIALIZED (
    SELECT job_id, COUNT(*) AS n, MIN(id) AS first_id, MAX(trigger = 'catchup') AS catching_up
    FROM runs WHERE status = 'running' GROUP BY job_id
), due AS (
    SELECT r.id, r.job_id, r.trigger, r.not_before, j.overlap, j.queue_limit, j.pool, {SESSION_OF} AS sess,
           j.deleted_at IS NOT NULL AS removed, COALESCE(b.n, 0) AS busy, b.first_id AS busy_id,
           MAX(COALESCE(b.catching_up, 0), MAX(r.trigger = 'catchup') OVER per_job) AS catching_up,
           ROW_NUMBER() OVER (lane ORDER BY r.not_before, r.id) AS k,
           FIRST_VALUE(r.id) OVER (lane ORDER BY r.not_before, r.id) AS head_id
    FROM pend r JOIN jobs j ON j.id = r.job_id LEFT JOIN busy b ON b.job_id = r.job_id
    WINDOW per_job AS (PARTITION BY r.job_id), lane AS (PARTITION BY r.job_id, r.trigger = 'retry')
)"""
).replace("{SESSION_OF}", SESSION_OF)

# What the job's overlap policy turns away: with `skip`, every new run while one runs or waits ahead of
# it; with `queue`, the runs beyond `queue_limit` waiting. Catch-up runs go one after another and new
# slots wait behind them; retries are never turned away. Runs of a removed job are cancelled.
CLAIM_SKIPS = """
SELECT id, overlap, queue_limit, busy, busy_id, head_id, removed FROM due
WHERE removed OR (trigger NOT IN ('retry', 'catchup') AND overlap != 'allow' AND NOT catching_up AND (
    (overlap = 'skip' AND (busy > 0 OR k > 1)) OR (overlap = 'queue' AND k > queue_limit + (busy = 0))))"""

# What may start: any run of an `allow` job; for any other job, one run and only while none of its runs is
# running — its oldest retry first (an attempt of an older slot), else its first waiting run. Fair: each
# job's first eligible run comes before any job's second. A pool admits as many as it has free. A job
# pinned to a node label starts only on a node carrying it (the labels: a JSON list); the overlap and
# queue limits above still apply to it on every node, so its line stays short while no such node lives.
# Jobs sharing a conversation (`session:NAME`) take turns: none of them starts while a run of one of
# them runs, and one claim starts at most one of them (the oldest); the others stay pending, in line.
CLAIM_START = (
    """
, busy_sessions AS MATERIALIZED (
    SELECT DISTINCT {SESSION_OF} AS sess FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.status = 'running'
), eligible AS (
    SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.job_id ORDER BY d.trigger = 'retry' DESC, d.not_before, d.id)
           AS fair
    FROM due d
    WHERE NOT d.removed AND (d.overlap = 'allow' OR (d.busy = 0 AND (d.trigger = 'retry' OR d.k = 1)))
      AND d.job_id NOT IN (
          SELECT id FROM jobs WHERE node_label IS NOT NULL AND node_label NOT IN (SELECT value FROM json_each(?)))
      AND (d.sess IS NULL OR d.sess NOT IN (SELECT sess FROM busy_sessions WHERE sess IS NOT NULL))
), pool_use AS (
    SELECT j.pool, SUM(b.n) AS n FROM busy b JOIN jobs j ON j.id = b.job_id
    WHERE j.pool IS NOT NULL GROUP BY j.pool
), pooled AS (
    SELECT e.*, ROW_NUMBER() OVER (PARTITION BY e.pool ORDER BY e.fair, e.not_before, e.id) AS in_pool
    FROM eligible e WHERE e.overlap = 'allow' OR e.fair = 1
), sizes AS MATERIALIZED (
    SELECT key AS pool, value AS size FROM json_each(?)
), placed AS (
    SELECT p.id, p.sess, p.fair, p.not_before,
           ROW_NUMBER() OVER (PARTITION BY p.sess ORDER BY p.fair, p.not_before, p.id) AS in_session
    FROM pooled p LEFT JOIN pool_use u ON u.pool = p.pool LEFT JOIN sizes s ON s.pool = p.pool
    WHERE p.pool IS NULL OR p.in_pool <= COALESCE(s.size, 1) - COALESCE(u.n, 0)
)
SELECT id FROM placed WHERE sess IS NULL OR in_session = 1
ORDER BY fair, not_before, id LIMIT ?"""
).replace("{SESSION_OF}", SESSION_OF)

MEMORY_UPSERT = (
    "INSERT INTO job_memory (job_id, key, value, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(job_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)

SESSION_UPSERT = (
    "INSERT INTO sessions (name, history, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT(name) DO UPDATE SET history = excluded.history, updated_at = excluded.updated_at"
)

# What a run that has just come to exist has (the other columns keep their defaults until it runs).
NEW_RUN_COLUMNS = (
    "job_id trigger scheduled_for attempt retry_of triggered_by status reason missed_count queued_at not_before "
    "finished_at"
).split()
NEW_RUN_COLUMNS += "milestones approval_deadline approval_default".split()  # a run that waits for approval

# What a retry or chained run is inserted with: a retry carries its first attempt's request (a hook's payload).
FOLLOW_COLUMNS = [*NEW_RUN_COLUMNS, "request"]

# A run's columns that never change once it exists.
_FIXED_RUN_COLUMNS = frozenset(
    ("id", "job_id", "trigger", "scheduled_for", "attempt", "retry_of", "triggered_by", "queued_at")
)
# What recording a run's end writes: everything but those, and the fence token (the end is fenced by it).
END_COLUMNS = [c for c in RUN_COLUMNS if c not in _FIXED_RUN_COLUMNS and c != "fence"]


def fenced_live(ends: Sequence[RunEnd], holders: dict[int, tuple[str | None, int]]) -> list[int]:
    """The ends that may be written: their run is still open and held by the node and fence token the end
    carries (`holders`: run id -> node, fence of the open runs)."""
    return [i for i, end in enumerate(ends) if holders.get(end.run.id or 0) == (end.run.node, end.run.fence)]


def _turned_away(row: sqlite3.Row) -> tuple[str, str]:
    """The status and reason of a run CLAIM_SKIPS picked."""
    if row["removed"]:
        return str(RunStatus.CANCELLED), "job removed"
    if row["overlap"] == "queue":
        return str(RunStatus.SKIPPED), f"{REASON_QUEUE_FULL} (limit {row['queue_limit']})"
    if row["busy"]:
        return str(RunStatus.SKIPPED), f"{REASON_OVERLAP}: run #{row['busy_id']} still running"
    return str(RunStatus.SKIPPED), f"{REASON_OVERLAP}: run #{row['head_id']} still waiting to start"


# what the job's latest run with a known cost cost: a budget's estimate of its next run
LAST_COST = "SELECT cost_usd FROM runs WHERE job_id = ? AND cost_usd IS NOT NULL ORDER BY id DESC LIMIT 1"


def _spent_query(since: int, job_id: int | None) -> tuple[str, list[Any]]:
    """What runs finished since `since` cost, of one job or of all: the SQL and its parameters."""
    sql = "SELECT COALESCE(SUM(cost_usd), 0) FROM runs WHERE finished_at >= ? AND cost_usd IS NOT NULL"
    if job_id is None:
        return sql, [since]
    return f"{sql} AND job_id = ?", [since, job_id]


def _job_refused(job: Job, error: sqlite3.IntegrityError) -> StoreError:
    """What a refused job row means: a name taken, or a value the column cannot hold (a NaN stored as NULL)."""
    if "UNIQUE" in str(error):
        return DuplicateJobName(f"a job named {job.name!r} already exists")
    return StoreError(f"job {job.name!r} cannot be stored: {error}")


def _host_pattern(host: str | None) -> str | None:
    """A LIKE pattern for the node names of `host` (`host:pid:tag`); None matches nothing."""
    if host is None:
        return None
    return host.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"


def _failure_effect(status: RunStatus) -> str:
    """What a last attempt does to the job's consecutive failures."""
    if status is RunStatus.SUCCEEDED:
        return "reset"
    return "add" if status.counts_as_failure else "keep"


NODE_COLUMNS = "node, host, pid, started_at, seen_at, expires_at, running, labels"
NODE_UPSERT = (
    f"INSERT INTO nodes ({NODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(node) DO UPDATE SET "
    "seen_at = excluded.seen_at, expires_at = excluded.expires_at, running = excluded.running, "
    "labels = excluded.labels"
)


def node_from_row(row: Sequence[Any]) -> Node:
    """A nodes row (NODE_COLUMNS, labels as a JSON list) as a Node."""
    node, host, pid, started_at, seen_at, expires_at, running, labels = row
    return Node(node, host, pid, started_at, seen_at, expires_at, running, json.loads(labels or "[]"))


class SQLiteStore(SQLiteWakeups, SQLiteHistory):
    """The default store: one local SQLite file (mode 0600)."""

    multi_node = False  # one process schedules at a time (the scheduler lease)

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
                except sqlite3.IntegrityError as e:
                    raise _job_refused(job, e) from None
            for job in creates:
                row = job_to_row(job)
                row.pop("id")
                try:
                    cur = await db.execute(
                        f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                        list(row.values()),
                    )
                except sqlite3.IntegrityError as e:
                    raise _job_refused(job, e) from None
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
            "WHERE job_id = ? AND status IN ('pending', 'awaiting_approval')",
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
        return jobs_from_rows(rows)

    async def list_job_heads(self) -> list[JobHead]:
        return [job_head_from_row(r) for r in await self.fetch_all(JOB_HEAD_SELECT)]

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

    async def due_jobs(self, now: int) -> list[DueJob]:
        rows = await self.fetch_all(
            "SELECT id, name, schedule, timezone, next_run_at, misfire, misfire_grace_s FROM jobs "
            "WHERE deleted_at IS NULL AND enabled = 1 AND next_run_at <= ? ORDER BY next_run_at",
            (now,),
        )
        return [DueJob(r[0], r[1], r[2], r[3], r[4], MisfirePolicy(r[5]), r[6]) for r in rows]

    async def next_wakeup(self, now: int) -> int | None:
        """The earliest future moment with work: a job's next slot or a retry's backoff end."""
        row = await self.fetch_one(
            "SELECT MIN(t) FROM ("
            " SELECT MIN(next_run_at) AS t FROM jobs WHERE deleted_at IS NULL AND enabled = 1"
            " UNION ALL SELECT MIN(not_before) FROM runs WHERE status = 'pending' AND not_before > ?"
            " UNION ALL SELECT MIN(approval_deadline) FROM runs WHERE status = 'awaiting_approval')",
            (now,),
        )
        return row[0]

    async def _insert_runs(
        self, db: aiosqlite.Connection, runs: Sequence[Run], columns: Sequence[str] = NEW_RUN_COLUMNS
    ) -> list[Run]:
        """Insert runs (one that exists already — the same slot, retry or chain — is left alone); returns
        those inserted, with their ids. One statement for all: inside a write transaction nobody else
        inserts, and AUTOINCREMENT ids only grow, so the new rows are exactly those above the old top id.
        Only `columns` are written (a new run's; the rest keep their defaults)."""
        if not runs:
            return []
        await self._ask_approvals(db, runs)
        cols = [c for c in columns if c != "id"]
        rows = [to_row(run, cols, RUN_CODECS) for run in runs]
        async with db.execute("SELECT COALESCE(MAX(id), 0) FROM runs") as cur:
            top: int = (await cur.fetchone() or (0,))[0]
        await db.executemany(
            f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) ON CONFLICT DO NOTHING",
            [[row[c] for c in cols] for row in rows],
        )
        async with db.execute(
            "SELECT id, job_id, trigger, scheduled_for, attempt, retry_of, triggered_by "
            "FROM runs WHERE id > ? ORDER BY id",
            (top,),
        ) as cur:
            fresh = await cur.fetchall()
        # match each new row to the Run it came from (runs are unique on these keys)
        by_key = {(r.job_id, str(r.trigger), r.scheduled_for, r.attempt, r.retry_of, r.triggered_by): r for r in runs}
        inserted: list[Run] = []
        for row in fresh:
            run = by_key.get((row[1], row[2], row[3], row[4], row[5], row[6]))
            if run is not None:
                run.id = row[0]
                inserted.append(run)
        return inserted

    async def _ask_approvals(self, db: aiosqlite.Connection, runs: Sequence[Run]) -> None:
        """New runs that need approval wait for it (`ask_approvals`); the write lock held since BEGIN
        IMMEDIATE makes the count of waiting runs the one this insert sees."""
        job_ids, asking = approval_candidates(runs)
        if not job_ids:
            return
        ids = "(SELECT value FROM json_each(?))"
        sql = APPROVAL_POLICY_SELECT.format(ids=ids, asking=ids)
        async with db.execute(sql, (json.dumps(job_ids), json.dumps(asking))) as cur:
            policies = dict(approval_policy_from_row(row) for row in await cur.fetchall())
        if not policies:  # the common case: no job here asks for approval
            return
        job_ids = sorted(policies)
        async with db.execute(APPROVALS_WAITING.format(ids=ids), (json.dumps(job_ids),)) as cur:
            waiting = {row[0]: row[1] for row in await cur.fetchall()}
        ask_approvals(runs, policies, waiting)

    async def materialize(self, writes: Sequence[SlotWrite]) -> list[Run]:
        """For each job: advance its next fire from `expected` (compare-and-set) and insert its slots'
        runs — all jobs in one transaction. A job whose next fire moved meanwhile is left as it is."""
        runs: list[Run] = []
        async with self.transaction() as db:
            await db.executemany(
                "UPDATE jobs SET next_run_at = ? WHERE id = ? AND next_run_at IS ?",
                [(w.next_run_at, w.job_id, w.expected) for w in writes],
            )
            with_runs = [w for w in writes if w.runs]
            if with_runs:
                # Which compare-and-sets held: the job's next fire is now the planned one (a plan with
                # runs always moves it). Had another planner written the same plan, the slots' unique
                # index keeps its runs from being inserted twice.
                marks = ", ".join("?" for _ in with_runs)
                async with db.execute(
                    f"SELECT id, next_run_at FROM jobs WHERE id IN ({marks})", [w.job_id for w in with_runs]
                ) as cur:
                    next_now = {row[0]: row[1] for row in await cur.fetchall()}
                runs = [
                    run
                    for w in with_runs
                    if w.expected != w.next_run_at and next_now.get(w.job_id) == w.next_run_at
                    for run in w.runs
                ]
            return await self._insert_runs(db, runs)

    async def insert_run(self, run: Run, cap: RunCap | None = None) -> Run | None:
        async with self.transaction() as db:  # a write transaction: one at a time, so the count holds
            if cap is not None:
                args = (run.job_id, run.queued_at - cap.window_ms, cap.count)
                async with db.execute(CAPPED_RUNS, args) as cur:
                    wait = cap.wait_ms([row[0] for row in await cur.fetchall()], run.queued_at)
                if wait is not None:
                    raise CapReached(cap, wait)
            inserted = await self._insert_runs(db, [run], RUN_COLUMNS)
        return inserted[0] if inserted else None

    async def claim(self, node: str, now: int, lease_ms: int, limits: ClaimLimits) -> Claim:
        """Skip what an overlap or queue limit turns away, then start the oldest runs that may start,
        fair across jobs, within the node's capacity, the pools' sizes and the cap on runs at once across
        nodes — in one transaction."""
        only = ""
        params: list[Any] = [now]
        if limits.only_roots is not None:
            roots = list(limits.only_roots)
            only = f" AND COALESCE(retry_of, id) IN ({', '.join('?' for _ in roots)})"
            params += roots
        due = CLAIM_DUE.format(only=only)
        claim = Claim()
        async with self.transaction() as db:
            async with db.execute(f"{due} {CLAIM_SKIPS}", params) as cur:
                turned_away = await cur.fetchall()
            if turned_away:
                await db.executemany(
                    "UPDATE runs SET status = ?, reason = ?, finished_at = ? WHERE id = ? AND status = 'pending'",
                    [(*_turned_away(row), now, row["id"]) for row in turned_away],
                )
                claim.skipped = await self._runs_by_id(db, [row["id"] for row in turned_away])
            room = limits.capacity
            if limits.max_running is not None:  # the cap across nodes, counted inside the claim
                async with db.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'") as cur:
                    room = min(room, limits.max_running - (await cur.fetchone() or (0,))[0])
            if room <= 0:
                return claim
            sizes = json.dumps(dict(limits.pools))
            labels = json.dumps(sorted(limits.labels))
            async with db.execute(f"{due} {CLAIM_START}", [*params, labels, sizes, room]) as cur:
                ids = [row[0] for row in await cur.fetchall()]
            if not ids:
                return claim
            marks = ", ".join("?" for _ in ids)
            async with db.execute(f"SELECT id, job_id FROM runs WHERE id IN ({marks})", ids) as cur:
                job_of: dict[int, int] = {row[0]: row[1] for row in await cur.fetchall()}
            job_ids = sorted(set(job_of.values()))
            async with db.execute(
                f"SELECT * FROM jobs WHERE id IN ({', '.join('?' for _ in job_ids)})", job_ids
            ) as cur:
                jobs = {row["id"]: job_from_row(row) for row in list[Any](await cur.fetchall())}
            since = day_start(now)
            refused = await budget_refusals(
                [(i, jobs[job_of[i]]) for i in ids if job_of.get(i) in jobs],
                limits.daily_budget_usd,
                lambda job_id: self._spent(db, since, job_id),
                lambda job_id: self._last_cost(db, job_id),
            )
            if refused:  # a daily budget is spent: skipped here, in the claim, so every node honours it
                await db.executemany(
                    "UPDATE runs SET status = 'skipped', reason = ?, finished_at = ? "
                    "WHERE id = ? AND status = 'pending'",
                    [(reason, now, i) for i, reason in refused.items()],
                )
                claim.skipped += await self._runs_by_id(db, sorted(refused))
                ids = [i for i in ids if i not in refused]
                if not ids:
                    return claim
                marks = ", ".join("?" for _ in ids)
            await db.execute(
                f"UPDATE runs SET status = 'running', node = ?, started_at = ?, lease_expires_at = ?, "
                f"fence = fence + 1 WHERE status = 'pending' AND id IN ({marks})",
                [node, now, now + lease_ms, *ids],
            )
            runs = {run.id: run for run in await self._runs_by_id(db, ids)}
            claim.started = [(runs[i], jobs[runs[i].job_id]) for i in ids if i in runs]
        return claim

    async def _runs_by_id(self, db: aiosqlite.Connection, ids: Sequence[int]) -> list[Run]:
        marks = ", ".join("?" for _ in ids)
        async with db.execute(f"{RUN_SELECT} WHERE r.id IN ({marks}) ORDER BY r.id", list(ids)) as cur:
            return [run_from_row(row) for row in list[Any](await cur.fetchall())]

    async def finish_runs(self, ends: Sequence[RunEnd]) -> list[Recorded | None]:
        """Record many run ends in one transaction (see RunEnd). An end whose run is no longer pending or
        running, held by the node and fence token it carries (another scheduler took it over, or recorded
        it), is not written: None in its place."""
        if not ends:
            return []
        results: list[Recorded | None] = [None] * len(ends)
        async with self.transaction() as db:
            # the fence: only a run still open, held by the node and token the end carries, is written
            ids = [end.run.id for end in ends]
            marks = ", ".join("?" for _ in ids)
            async with db.execute(
                f"SELECT id, node, fence FROM runs WHERE id IN ({marks}) AND status IN ('pending', 'running')", ids
            ) as cur:
                holders = {row[0]: (row[1], row[2]) for row in await cur.fetchall()}
            live = fenced_live(ends, holders)
            if not live:
                return results
            rows = [run_to_row(ends[i].run) for i in live]
            cols = END_COLUMNS
            await db.executemany(
                f"UPDATE runs SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                [[row[c] for c in cols] + [row["id"]] for row in rows],
            )
            memory = [
                (ends[i].run.job_id, key, json.dumps(value), ends[i].run.finished_at or 0)
                for i in live
                for key, value in ends[i].memory.items()
            ]
            if memory:
                await db.executemany(MEMORY_UPSERT, [m for m in memory if m[2] != "null"])
                await db.executemany(
                    "DELETE FROM job_memory WHERE job_id = ? AND key = ?", [m[:2] for m in memory if m[2] == "null"]
                )
            sessions = [
                (ends[i].session, json.dumps(ends[i].session_history), ends[i].run.finished_at or 0)
                for i in live
                if ends[i].session is not None
            ]
            if sessions:  # one history per session, read by the next run of any job naming it
                await db.executemany(SESSION_UPSERT, sessions)
            final = [i for i in live if ends[i].retry is None]
            counts = await self._bookkeeping(db, [ends[i] for i in final])
            for i in live:
                results[i] = Recorded()
            for i, (failures, disabled) in zip(final, counts, strict=True):
                rec = results[i]
                assert rec is not None
                rec.consecutive_failures, rec.auto_disabled = failures, disabled
            follow: list[tuple[int, Run]] = []
            for i in live:
                end = ends[i]
                if end.retry is not None:
                    end.retry.request = end.run.request  # every attempt of a hook's run gets its payload
                    follow.append((i, end.retry))
                    continue
                for name in end.chain_to:
                    async with db.execute("SELECT id FROM jobs WHERE name = ? AND deleted_at IS NULL", (name,)) as cur:
                        target = await cur.fetchone()
                    rec = results[i]
                    assert rec is not None
                    if target is None:
                        rec.missing_chains.append(name)
                        continue
                    now = end.run.finished_at or 0
                    follow.append(
                        (
                            i,
                            Run(
                                job_id=target[0],
                                trigger=Trigger.CHAIN,
                                scheduled_for=now,
                                triggered_by=end.run.id,
                                queued_at=now,
                                needs_approval=name in end.chain_approval,
                            ),
                        )
                    )
            inserted = {id(run) for run in await self._insert_runs(db, [run for _, run in follow], FOLLOW_COLUMNS)}
            for i, run in follow:
                rec = results[i]
                if rec is not None and id(run) in inserted:
                    rec.inserted.append(run)
        return results

    async def _bookkeeping(self, db: aiosqlite.Connection, ends: Sequence[RunEnd]) -> list[tuple[int, str | None]]:
        """The jobs' state after their last attempts, in order: last status, then consecutive failures
        (+1, reset to 0, or left) and auto-disable, with the arithmetic in SQL. Returns, per end, the
        job's failure count after it and the auto-disable reason when this end switched the job off."""
        if not ends:
            return []
        job_ids = sorted({end.run.job_id for end in ends})
        marks = ", ".join("?" for _ in job_ids)
        # Read for the report only: BEGIN IMMEDIATE keeps every other writer out until COMMIT.
        async with db.execute(
            f"SELECT id, consecutive_failures, enabled FROM jobs WHERE id IN ({marks})", job_ids
        ) as cur:
            state = {row[0]: [row[1], bool(row[2])] for row in await cur.fetchall()}
        out: list[tuple[int, str | None]] = []
        disable: list[tuple[str, int, int]] = []
        for end in ends:
            run = end.run
            count, enabled = state.get(run.job_id, [0, False])
            disabled = None
            if run.status is RunStatus.SUCCEEDED:
                count = 0
            elif run.status.counts_as_failure:
                count += 1
                if end.failure_limit and count >= end.failure_limit and enabled:
                    disabled = f"{count} consecutive failures (last: {run.error or run.status})"
                    disable.append((disabled, run.job_id, end.failure_limit))
                    enabled = False
            state[run.job_id] = [count, enabled]
            out.append((count, disabled))
        await db.executemany(
            "UPDATE jobs SET last_status = ?, consecutive_failures = CASE ? WHEN 'reset' THEN 0 "
            "WHEN 'add' THEN consecutive_failures + 1 ELSE consecutive_failures END WHERE id = ?",
            [(str(end.run.status), _failure_effect(end.run.status), end.run.job_id) for end in ends],
        )
        if disable:
            await db.executemany(
                "UPDATE jobs SET enabled = 0, auto_disabled = ?, next_run_at = NULL "
                "WHERE id = ? AND enabled = 1 AND consecutive_failures >= ?",
                disable,
            )
        return out

    async def renew_run_leases(self, node: str, fences: Mapping[int, int], now: int, lease_ms: int) -> list[int]:
        """Extend the leases of `node`'s runs (run id -> the fence token it holds) to `lease_ms` from now on
        the store's clock (one host: `now`); returns those still held (the rest were taken over)."""
        if not fences:
            return []
        async with self.transaction() as db:
            async with db.execute(
                "UPDATE runs SET lease_expires_at = ? FROM json_each(?) AS f "
                "WHERE runs.id = CAST(f.key AS INTEGER) AND runs.fence = f.value AND runs.node = ? "
                "AND runs.status = 'running' RETURNING runs.id",
                (now + lease_ms, json.dumps({str(k): v for k, v in fences.items()}), node),
            ) as cur:
                return sorted(row[0] for row in await cur.fetchall())

    async def orphaned_runs(self, now: int, live_node: str | None, host: str | None = None) -> list[Run]:
        """Runs left `running` by a holder that is gone (any node but `live_node`) whose lease has expired on
        the store's clock — and, with `host`, any of that host's (its processes can be looked for)."""
        rows = await self.fetch_all(
            f"{RUN_SELECT} WHERE r.status = 'running' AND (r.node IS NULL OR r.node != ?) "
            "AND (COALESCE(r.lease_expires_at, 0) <= ? OR r.node LIKE ? ESCAPE '\\') ORDER BY r.id",
            (live_node or "", now, _host_pattern(host)),
        )
        return [run_from_row(r) for r in rows]

    async def take_over(self, run: Run, now: int, expired_only: bool = True) -> Run | None:
        """Take a running run from the node holding it, to record its end: its fence token is bumped, so
        whatever its holder still writes about it is refused. Only while it is held with the token `run`
        carries and (with `expired_only`) its lease has expired on the store's clock; else None."""
        async with self.transaction() as db:
            cur = await db.execute(
                "UPDATE runs SET fence = fence + 1 WHERE id = ? AND status = 'running' AND fence = ? "
                "AND node IS ? AND (? = 0 OR COALESCE(lease_expires_at, 0) <= ?)",
                (run.id, run.fence, run.node, int(expired_only), now),
            )
            if cur.rowcount != 1 or run.id is None:
                return None
            [taken] = await self._runs_by_id(db, [run.id])
        return taken

    async def request_cancel(self, run_id: int, now: int) -> Run | None:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE runs SET status = 'cancelled', reason = 'cancelled before it started', finished_at = ? "
                "WHERE id = ? AND status IN ('pending', 'awaiting_approval')",
                (now, run_id),
            )
            await db.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (run_id,))
        return await self.get_run(run_id)

    async def decide_approval(self, decision: ApprovalDecision) -> Run | None:
        async with self.transaction() as db:
            found = await self._runs_by_id(db, [decision.run_id])
            if not found or found[0].status is not RunStatus.AWAITING_APPROVAL:
                return None
            cur = await db.execute(APPROVAL_DECIDE, decided_values(found[0], decision))
            if cur.rowcount != 1:
                return None
            [run] = await self._runs_by_id(db, [decision.run_id])
        return run

    async def due_approvals(self, now: int) -> list[Run]:
        rows = await self.fetch_all(
            f"{RUN_SELECT} WHERE r.status = 'awaiting_approval' AND r.approval_deadline <= ? ORDER BY r.id", (now,)
        )
        return [run_from_row(r) for r in rows]

    async def take_approval_notices(self, limit: int = 100) -> list[Run]:
        if await self.fetch_one(UNNOTICED) is None:  # every pass asks: a read, not a write lock, when none waits
            return []
        async with self.transaction() as db:
            async with db.execute(
                "UPDATE runs SET approval_notice = 'sending' WHERE id IN (SELECT id FROM runs "
                "WHERE status = 'awaiting_approval' AND approval_notice IS NULL ORDER BY id LIMIT ?) RETURNING id",
                (limit,),
            ) as cur:
                ids = sorted(row[0] for row in await cur.fetchall())
            return await self._runs_by_id(db, ids) if ids else []

    async def note_approval_notice(self, run_id: int, note: str) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE runs SET approval_notice = ? WHERE id = ?", (note, run_id))

    async def cancel_requested(self, run_ids: Sequence[int]) -> list[int]:
        if not run_ids:
            return []
        marks = ", ".join("?" for _ in run_ids)
        rows = await self.fetch_all(
            f"SELECT id FROM runs WHERE cancel_requested = 1 AND id IN ({marks})", tuple(run_ids)
        )
        return [r[0] for r in rows]

    async def update_delivery(
        self,
        run_id: int,
        status: str,
        reason: str | None,
        milestones: Sequence[Milestone],
        holder: tuple[str | None, int] | None = None,
    ) -> bool:
        node, fence = holder if holder is not None else (None, None)
        async with self.transaction() as db:
            cur = await db.execute(
                "UPDATE runs SET delivery_status = ?, delivery_reason = ?, milestones = ? WHERE id = ? "
                "AND (? OR (node IS ? AND fence = ?))",
                (status, reason, milestones_to_json(milestones), run_id, holder is None, node, fence),
            )
            return cur.rowcount == 1

    async def spent_since(self, since: int, job_id: int | None = None) -> float:
        row = await self.fetch_one(*_spent_query(since, job_id))
        return float(row[0]) if row else 0.0

    async def _last_cost(self, db: aiosqlite.Connection, job_id: int) -> float:
        async with db.execute(LAST_COST, [job_id]) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row else 0.0

    async def _spent(self, db: aiosqlite.Connection, since: int, job_id: int | None) -> float:
        async with db.execute(*_spent_query(since, job_id)) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row else 0.0

    async def get_memory(self, job_id: int, key: str) -> Any:
        row = await self.fetch_one("SELECT value FROM job_memory WHERE job_id = ? AND key = ?", (job_id, key))
        return json.loads(row[0]) if row else None

    async def get_session(self, name: str) -> list[dict[str, Any]]:
        row = await self.fetch_one("SELECT history FROM sessions WHERE name = ?", (name,))
        return json.loads(row[0]) if row else []

    async def set_memory(self, job_id: int, key: str, value: Any, now: int) -> None:
        async with self.transaction() as db:
            if value is None:
                await db.execute("DELETE FROM job_memory WHERE job_id = ? AND key = ?", (job_id, key))
            else:
                await db.execute(MEMORY_UPSERT, (job_id, key, json.dumps(value), now))

    # ------------------------------------------------------------ events

    async def append_events(self, events: Sequence[RunEvent]) -> None:
        if not events:
            return
        rows = [event_to_row(ev) for ev in events]
        async with self.transaction() as db:
            await db.executemany(
                "INSERT INTO run_events (run_id, job_id, at, kind, name, data) VALUES (?, ?, ?, ?, ?, ?)", rows
            )
            # AUTOINCREMENT, no conflicts, and no other writer inside this transaction: the batch took the
            # ids just below the table's sequence, in order.
            async with db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'run_events'") as cur:
                last: int = (await cur.fetchone() or (0,))[0]
        for offset, ev in enumerate(events):
            ev.id = last - len(events) + 1 + offset

    # ------------------------------------------------------------ nodes

    async def heartbeat(self, node: Node) -> int:
        async with self.transaction() as db:
            await db.execute(
                NODE_UPSERT,
                (
                    node.node,
                    node.host,
                    node.pid,
                    node.started_at,
                    node.seen_at,
                    node.expires_at,
                    node.running,
                    json.dumps(sorted(node.labels)),
                ),
            )
        return node.seen_at  # one host: its own clock is the database's

    async def nodes(self) -> list[Node]:
        rows = await self.fetch_all(f"SELECT {NODE_COLUMNS} FROM nodes ORDER BY host, node")
        return [node_from_row(r) for r in rows]

    async def forget_node(self, node: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM nodes WHERE node = ?", (node,))

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

    async def prune(
        self, now: int, keep_days: float, runs_per_job: int, event_hours: float, budget_s: float | None = None
    ) -> PruneResult:
        return await pruning.prune(self, now, keep_days, runs_per_job, event_hours, budget_s)

    async def delete_batch(self, sql: str, params: Sequence[Any]) -> int:
        async with self.transaction() as db:
            cur = await db.execute(sql, params)
            return cur.rowcount
