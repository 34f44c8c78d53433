"""The PostgreSQL store (asyncpg): the Store contract for several nodes sharing one database.

`postgresql://user@host:5432/db` (or `postgres://`) selects it; `?schema=NAME` keeps cronui's tables in
that schema (created when missing), else they go where the server's search_path says (usually `public`).
Every write that must be atomic is one transaction on a pooled connection, at READ COMMITTED (each
statement sees what was committed when it began). What the SQLite store decides under its single-writer
lock is decided here by statements that are safe under concurrency:

- **claim**: the same rules as SQLite's (CLAIM_DUE, CLAIM_SKIPS, CLAIM_START below mirror `sqlite.py`
  line for line). The decision — which runs may start given what is running anywhere, the pools, the
  overlap and queue limits — is serialized by a transaction-level advisory lock (`pg_advisory_xact_lock`,
  one key per schema): a claimer reads the running runs only after the previous claimer committed, so
  two nodes never both fill the last place of a pool or both start a job's one allowed run — nor two
  runs of jobs sharing a conversation (`session:NAME`), which take turns. The rows
  themselves change only through `UPDATE ... WHERE id IN (SELECT ... AND status = 'pending' FOR UPDATE
  SKIP LOCKED)`: a run some other writer holds (a cancel, a removal) is left for the next claim, and a
  run is never started twice. Claims are short (two statements), so one lock for the whole cluster
  costs little; the lock is per schema so separate cronui databases in one server never wait for each
  other.
- **finish_runs**: the fence locks the runs (`FOR UPDATE`, in id order) and writes only those still
  pending or running, held by the node and fence token the end carries; the job's counters are changed by `UPDATE ...
  RETURNING` with the arithmetic in SQL (never read, then written back): concurrent ends of one job
  queue on its row and each sees the count its own end made. Job rows are locked in id order first, so
  two batches never deadlock.
- **materialize**: the compare-and-set on `next_run_at` and `INSERT ... ON CONFLICT DO NOTHING` on the
  slot's unique index, one transaction; RETURNING says which compare-and-sets held and which runs are new.
- **events**: ids from the table's sequence, drawn first and assigned in order, so a batch's ids ascend in
  the order given; a later-drawn id may commit first, which `events.py`'s cursor is built for.
- **wake-ups**: `notify` sends a NOTIFY every listener of this schema receives; `listen` (pg_connection.py)
  returns '' (no address to advertise). A hint only: readers still poll.
- **connections and faults** (pg_connection.py): the server unreachable or restarting, or this process's
  connection ended, is a `StoreFault` (kind `connection`); the caller retries on a fresh connection.
- **leases and fencing**: run leases are counted on the server's clock (`clock_timestamp()`), never a
  node's; each claim and takeover bumps the run's fence token (see `base.py`).
- **the scheduler lease and state**: the same semantics as SQLite's, on the caller's clock (the lease
  row is taken under an advisory lock so two acquirers never both win an empty row).
- **check/backup**: `check` verifies the schema version, tables and indexes; `backup` is `pg_dump`'s job.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg

from cronui.model import (
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
    FleetBucket,
    JobHead,
    JobStats,
    Node,
    PruneResult,
    Recorded,
    RunCap,
    RunEnd,
    RunFilter,
    SlotWrite,
    day_start,
)
from cronui.redaction import redacted as redacted  # the API and older callers import it from here
from cronui.store import aggregates, pruning
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
from cronui.store.base import DuplicateJobName, SchemaTooNew, StoreError
from cronui.store.claims import CAPPED_RUNS, budget_refusals
from cronui.store.pg_connection import MIGRATION_TIMEOUT_S, PgConnection, ident, qmarks
from cronui.store.pg_connection import fault_kind as fault_kind  # its home was here: callers import it from here
from cronui.store.pg_connection import split_url as split_url
from cronui.store.pg_schema import (
    EVENT_SEQUENCE,
    MIGRATIONS,
    RUN_SELECT,
    SCHEMA_VERSION,
    VERSION_TABLE,
    expected_objects,
)
from cronui.store.rows import (
    EVENT_COLUMNS,
    JOB_HEAD_SELECT,
    RUN_CODECS,
    RUN_COLUMNS,
    event_from_row,
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
from cronui.store.sqlite import (
    END_COLUMNS,
    FOLLOW_COLUMNS,
    NEW_RUN_COLUMNS,
    _failure_effect,
    _host_pattern,
    _turned_away,
    fenced_live,
    node_from_row,
)

# advisory lock classes (the second key is the schema's hash)
LOCK_MIGRATE = 0x63726F01
LOCK_CLAIM = 0x63726F02
LOCK_LEASE = 0x63726F03
LOCK_APPROVALS = 0x63726F04  # counting a job's runs waiting for approval, then inserting more

# asyncpg's limit on one statement's parameters
MAX_PARAMS = 32_767

# as sqlite.py's: the shared conversation a job talks in, else NULL (a column written with the job)
SESSION_OF = "j.session"

CLAIM_DUE = (
    """
WITH pend AS MATERIALIZED (
    SELECT id, job_id, trigger, not_before FROM runs WHERE status = 'pending' AND not_before <= $1{only}
), busy AS MATERIALIZED (
    SELECT job_id, COUNT(*) AS n, MIN(id) AS first_id, bool_or(trigger = 'catchup') AS catching_up
    FROM runs WHERE status = 'running' GROUP BY job_id
), due AS (
    SELECT r.id, r.job_id, r.trigger, r.not_before, j.overlap, j.queue_limit, j.pool, {SESSION_OF} AS sess,
           j.deleted_at IS NOT NULL AS removed, COALESCE(b.n, 0) AS busy, b.first_id AS busy_id,
           COALESCE(b.catching_up, false) OR bool_or(r.trigger = 'catchup') OVER per_job AS catching_up,
           ROW_NUMBER() OVER (lane ORDER BY r.not_before, r.id) AS k,
           FIRST_VALUE(r.id) OVER (lane ORDER BY r.not_before, r.id) AS head_id
    FROM pend r JOIN jobs j ON j.id = r.job_id LEFT JOIN busy b ON b.job_id = r.job_id
    WINDOW per_job AS (PARTITION BY r.job_id), lane AS (PARTITION BY r.job_id, r.trigger = 'retry')
)"""
).replace("{SESSION_OF}", SESSION_OF)

CLAIM_SKIPS = """
SELECT id, overlap, queue_limit, busy, busy_id, head_id, removed FROM due
WHERE removed OR (trigger NOT IN ('retry', 'catchup') AND overlap != 'allow' AND NOT catching_up AND (
    (overlap = 'skip' AND (busy > 0 OR k > 1))
    OR (overlap = 'queue' AND k > queue_limit + CASE WHEN busy = 0 THEN 1 ELSE 0 END)))"""

CLAIM_START = (
    """
, busy_sessions AS MATERIALIZED (
    SELECT DISTINCT {SESSION_OF} AS sess FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.status = 'running'
), eligible AS (
    SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.job_id ORDER BY d.trigger = 'retry' DESC, d.not_before, d.id)
           AS fair
    FROM due d
    WHERE NOT d.removed AND (d.overlap = 'allow' OR (d.busy = 0 AND (d.trigger = 'retry' OR d.k = 1)))
      AND d.job_id NOT IN (SELECT id FROM jobs WHERE node_label IS NOT NULL AND node_label <> ALL(${p3}::text[]))
      AND (d.sess IS NULL OR d.sess NOT IN (SELECT sess FROM busy_sessions WHERE sess IS NOT NULL))
), pool_use AS (
    SELECT j.pool, SUM(b.n) AS n FROM busy b JOIN jobs j ON j.id = b.job_id
    WHERE j.pool IS NOT NULL GROUP BY j.pool
), pooled AS (
    SELECT e.*, ROW_NUMBER() OVER (PARTITION BY e.pool ORDER BY e.fair, e.not_before, e.id) AS in_pool
    FROM eligible e WHERE e.overlap = 'allow' OR e.fair = 1
), sizes AS (
    SELECT * FROM unnest(${p}::text[], ${p1}::bigint[]) AS s(pool, size)
), placed AS (
    SELECT p.id, p.sess, p.fair, p.not_before,
           ROW_NUMBER() OVER (PARTITION BY p.sess ORDER BY p.fair, p.not_before, p.id) AS in_session
    FROM pooled p LEFT JOIN pool_use u ON u.pool = p.pool LEFT JOIN sizes s ON s.pool = p.pool
    WHERE p.pool IS NULL OR p.in_pool <= COALESCE(s.size, 1) - COALESCE(u.n, 0)
)
SELECT id FROM placed WHERE sess IS NULL OR in_session = 1
ORDER BY fair, not_before, id LIMIT ${p2}"""
).replace("{SESSION_OF}", SESSION_OF)

SESSION_UPSERT = (
    "INSERT INTO sessions (name, history, updated_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (name) DO UPDATE SET history = excluded.history, updated_at = excluded.updated_at"
)

SKIP_RUNS = """
UPDATE runs SET status = u.status, reason = u.reason, finished_at = $4
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, status, reason)
WHERE runs.id = u.id
  AND runs.id IN (SELECT id FROM runs WHERE id = ANY($1::bigint[]) AND status = 'pending' FOR UPDATE SKIP LOCKED)
RETURNING runs.id"""

# the database's clock, epoch ms: every lease (a node's heartbeat, a run's) is counted on it, never a node's
DB_NOW = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

START_RUNS = f"""
UPDATE runs SET status = 'running', node = $2, started_at = $3, lease_expires_at = {DB_NOW} + $4, fence = fence + 1
WHERE id IN (SELECT id FROM runs WHERE id = ANY($1::bigint[]) AND status = 'pending' FOR UPDATE SKIP LOCKED)
RETURNING id"""


def _spent_query(since: int, job_id: int | None) -> tuple[Any, ...]:
    """What runs finished since `since` cost, of one job or of all: the SQL and its parameters."""
    sql = "SELECT COALESCE(SUM(cost_usd), 0) FROM runs WHERE finished_at >= $1 AND cost_usd IS NOT NULL"
    if job_id is None:
        return sql, since
    return f"{sql} AND job_id = $2", since, job_id


# what the job's latest run with a known cost cost: a budget's estimate of its next run
LAST_COST = "SELECT cost_usd FROM runs WHERE job_id = $1 AND cost_usd IS NOT NULL ORDER BY id DESC LIMIT 1"


async def _last_cost(con: asyncpg.Connection, job_id: int) -> float:
    row = await con.fetchrow(LAST_COST, job_id)
    return float(row[0]) if row else 0.0


async def _spent(con: asyncpg.Connection, since: int, job_id: int | None) -> float:
    row = await con.fetchrow(*_spent_query(since, job_id))
    return float(row[0]) if row else 0.0


MEMORY_UPSERT = (
    "INSERT INTO job_memory (job_id, key, value, updated_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (job_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)

# the columns that identify a new run (runs are unique on them; see _insert_runs)
_RUN_KEY = "id job_id trigger scheduled_for attempt retry_of triggered_by".split()


def _count(status: str) -> int:
    """The row count of a command tag ('DELETE 7' -> 7)."""
    return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0


class PostgresStore(PgConnection):
    """The store on a PostgreSQL server, for one node or many."""

    multi_node = True  # every node schedules: claims and slots are decided in the database

    async def migrate(self) -> None:
        """Bring the schema up to date, one opener at a time."""
        async with self.pool.acquire() as con, con.transaction():
            schema = await con.fetchval("SELECT current_schema()")
            if schema is None:
                raise StoreError(f"{redacted(self.url)}: no schema to create cronui's tables in (add ?schema=NAME)")
            self._ns = await con.fetchval("SELECT hashtext($1)", schema)
            self.channel = f"cronui_wake_{schema}"[:63]
            if await _current_version(con) == SCHEMA_VERSION:
                return  # nothing to write: a user without write rights can read a current schema
            await con.execute(  # another opener may be migrating a large table: wait as long as it may take
                "SELECT pg_advisory_xact_lock($1, $2)", LOCK_MIGRATE, self._ns, timeout=MIGRATION_TIMEOUT_S
            )
            await con.execute(VERSION_TABLE)
            version = await con.fetchval("SELECT version FROM cronui_schema WHERE id = 1") or 0
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{redacted(self.url)}: written by a newer cronui (schema {version}, "
                    f"this one knows {SCHEMA_VERSION})"
                )
            if version == SCHEMA_VERSION:
                return
            for script in MIGRATIONS[version:]:
                await con.execute(script, timeout=MIGRATION_TIMEOUT_S)
            await con.execute(
                "INSERT INTO cronui_schema (id, version) VALUES (1, $1) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                SCHEMA_VERSION,
            )

    # ------------------------------------------------------------ jobs

    async def create_job(self, job: Job) -> Job:
        await self.save_jobs([job], [], [], job.created_at)
        return job

    async def update_job(self, job: Job) -> Job:
        await self.save_jobs([], [job], [], job.updated_at)
        return job

    async def save_jobs(self, creates: Sequence[Job], updates: Sequence[Job], removes: Sequence[int], now: int) -> None:
        """Create, update and remove many jobs in one transaction: all of them or none."""
        async with self._tx() as con:
            for job_id in removes:
                await self._remove_job(con, job_id, now)
            for job in updates:
                row = job_to_row(job)
                job_id = row.pop("id")
                sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(row, 1))
                try:
                    await con.execute(f"UPDATE jobs SET {sets} WHERE id = ${len(row) + 1}", *row.values(), job_id)
                except asyncpg.UniqueViolationError:
                    raise DuplicateJobName(f"a job named {job.name!r} already exists") from None
            for job in creates:
                row = job_to_row(job)
                row.pop("id")
                marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
                try:
                    job.id = await con.fetchval(
                        f"INSERT INTO jobs ({', '.join(row)}) VALUES ({marks}) RETURNING id", *row.values()
                    )
                except asyncpg.UniqueViolationError:
                    raise DuplicateJobName(f"a job named {job.name!r} already exists") from None

    async def remove_job(self, job_id: int, now: int) -> None:
        async with self._tx() as con:
            await self._remove_job(con, job_id, now)

    async def _remove_job(self, con: asyncpg.Connection, job_id: int, now: int) -> None:
        """Soft delete: the row and its runs stay, the name is free again, pending runs are cancelled.
        Runs before the job, the order every writer locks them in (finish_runs: runs, then jobs)."""
        await con.execute(
            "UPDATE runs SET status = 'cancelled', reason = 'job removed', finished_at = $1 "
            "WHERE job_id = $2 AND status IN ('pending', 'awaiting_approval')",
            now,
            job_id,
        )
        await con.execute(
            "UPDATE jobs SET deleted_at = $1, enabled = 0, next_run_at = NULL, updated_at = $1 WHERE id = $2",
            now,
            job_id,
        )

    async def get_job(self, job_id: int) -> Job | None:
        row = await self.fetch_one("SELECT * FROM jobs WHERE id = $1", job_id)
        return job_from_row(row) if row else None

    async def get_job_by_name(self, name: str) -> Job | None:
        row = await self.fetch_one("SELECT * FROM jobs WHERE name = $1 AND deleted_at IS NULL", name)
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
        rows = await self.fetch_all(
            "SELECT name FROM jobs WHERE deleted_at IS NULL AND name = ANY($1::text[])", list(names)
        )
        return {r[0] for r in rows}

    # ------------------------------------------------------------ scheduling

    async def due_jobs(self, now: int) -> list[DueJob]:
        rows = await self.fetch_all(
            "SELECT id, name, schedule, timezone, next_run_at, misfire, misfire_grace_s FROM jobs "
            "WHERE deleted_at IS NULL AND enabled = 1 AND next_run_at <= $1 ORDER BY next_run_at",
            now,
        )
        return [DueJob(r[0], r[1], r[2], r[3], r[4], MisfirePolicy(r[5]), r[6]) for r in rows]

    async def next_wakeup(self, now: int) -> int | None:
        """The earliest future moment with work: a job's next slot or a retry's backoff end."""
        row = await self.fetch_one(
            "SELECT MIN(t) FROM ("
            " SELECT MIN(next_run_at) AS t FROM jobs WHERE deleted_at IS NULL AND enabled = 1"
            " UNION ALL SELECT MIN(not_before) FROM runs WHERE status = 'pending' AND not_before > $1"
            " UNION ALL SELECT MIN(approval_deadline) FROM runs WHERE status = 'awaiting_approval') AS w",
            now,
        )
        return row[0]

    async def _insert_runs(
        self, con: asyncpg.Connection, runs: Sequence[Run], columns: Sequence[str] = NEW_RUN_COLUMNS
    ) -> list[Run]:
        """Insert runs (one that exists already — the same slot, retry or chain — is left alone); returns
        those inserted, with their ids, in id order. Multi-row INSERTs; RETURNING names exactly the rows
        this statement inserted, matched back to their Runs by the keys runs are unique on."""
        if not runs:
            return []
        await self._ask_approvals(con, runs)
        cols = [c for c in columns if c != "id"]
        per_statement = max(1, MAX_PARAMS // len(cols))
        waiting: dict[tuple[Any, ...], list[Run]] = defaultdict(list)
        for run in runs:
            waiting[
                (run.job_id, str(run.trigger), run.scheduled_for, run.attempt, run.retry_of, run.triggered_by)
            ].append(run)
        inserted: list[Run] = []
        for start in range(0, len(runs), per_statement):
            chunk = runs[start : start + per_statement]
            values: list[Any] = []
            rows_sql = []
            for run in chunk:
                row = to_row(run, cols, RUN_CODECS)
                base = len(values)
                rows_sql.append("(" + ", ".join(f"${base + i}" for i in range(1, len(cols) + 1)) + ")")
                values += [row[c] for c in cols]
            returned = await con.fetch(
                f"INSERT INTO runs ({', '.join(cols)}) VALUES {', '.join(rows_sql)} "
                f"ON CONFLICT DO NOTHING RETURNING {', '.join(_RUN_KEY)}",
                *values,
            )
            for row in returned:
                same = waiting.get(tuple(row[c] for c in _RUN_KEY[1:]))
                if same:
                    run = same.pop(0)
                    run.id = row["id"]
                    inserted.append(run)
        inserted.sort(key=lambda r: r.id or 0)
        return inserted

    async def _ask_approvals(self, con: asyncpg.Connection, runs: Sequence[Run]) -> None:
        """New runs that need approval wait for it (`ask_approvals`). Counting the runs already waiting and
        inserting more is serialized by an advisory lock, taken only when some run may wait: two nodes
        never both fill a job's last place."""
        job_ids, asking = approval_candidates(runs)
        if not job_ids:
            return
        sql = APPROVAL_POLICY_SELECT.format(ids="(SELECT unnest($1::bigint[]))", asking="(SELECT unnest($2::bigint[]))")
        policies = dict(approval_policy_from_row(row) for row in await con.fetch(sql, job_ids, asking))
        if not policies:  # the common case: no job here asks for approval
            return
        await self._lock(con, LOCK_APPROVALS)
        sql = APPROVALS_WAITING.format(ids="(SELECT unnest($1::bigint[]))")
        waiting = {row[0]: row[1] for row in await con.fetch(sql, sorted(policies))}
        ask_approvals(runs, policies, waiting)

    async def materialize(self, writes: Sequence[SlotWrite]) -> list[Run]:
        """For each job: advance its next fire from `expected` (compare-and-set) and insert its slots'
        runs — all jobs in one transaction. A job whose next fire moved meanwhile is left as it is."""
        if not writes:
            return []
        async with self._tx() as con:
            job_ids = sorted({w.job_id for w in writes})
            await con.execute("SELECT 1 FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", job_ids)
            held = await con.fetch(
                "UPDATE jobs SET next_run_at = w.next FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) "
                "AS w(id, expected, next) WHERE jobs.id = w.id AND jobs.next_run_at IS NOT DISTINCT FROM w.expected "
                "RETURNING jobs.id",
                [w.job_id for w in writes],
                [w.expected for w in writes],
                [w.next_run_at for w in writes],
            )
            won = {row[0] for row in held}
            # A plan with runs always moves the next fire; had another planner written the same plan,
            # the slots' unique index keeps its runs from being inserted twice.
            runs = [run for w in writes if w.runs and w.expected != w.next_run_at and w.job_id in won for run in w.runs]
            return await self._insert_runs(con, runs)

    async def insert_run(self, run: Run, cap: RunCap | None = None) -> Run | None:
        async with self._tx() as con:
            if cap is not None:
                # the job's row lock makes capped inserts of one job take turns across nodes; NO KEY leaves
                # other runs' inserts (their foreign key's share lock) unblocked
                await con.execute("SELECT 1 FROM jobs WHERE id = $1 FOR NO KEY UPDATE", run.job_id)
                rows = await con.fetch(qmarks(CAPPED_RUNS), run.job_id, run.queued_at - cap.window_ms, cap.count)
                wait = cap.wait_ms([row[0] for row in rows], run.queued_at)
                if wait is not None:
                    raise CapReached(cap, wait)
            inserted = await self._insert_runs(con, [run], RUN_COLUMNS)
        return inserted[0] if inserted else None

    async def claim(self, node: str, now: int, lease_ms: int, limits: ClaimLimits) -> Claim:
        """Skip what an overlap or queue limit turns away, then start the oldest runs that may start,
        fair across jobs, within the node's capacity, the pools' sizes and the cap on runs at once across
        nodes — in one transaction, the decision serialized across nodes by the claim lock (see the
        module's docstring)."""
        only = ""
        params: list[Any] = [now]
        if limits.only_roots is not None:
            only = " AND COALESCE(retry_of, id) = ANY($2::bigint[])"
            params.append(list(limits.only_roots))
        due = CLAIM_DUE.format(only=only)
        claim = Claim()
        async with self._tx() as con:
            await self._lock(con, LOCK_CLAIM)
            turned_away = await con.fetch(f"{due} {CLAIM_SKIPS}", *params)
            if turned_away:
                outcomes = [_turned_away(row) for row in turned_away]
                skipped = await con.fetch(
                    SKIP_RUNS,
                    [row["id"] for row in turned_away],
                    [o[0] for o in outcomes],
                    [o[1] for o in outcomes],
                    now,
                )
                if skipped:
                    claim.skipped = await self._runs_by_id(con, [row[0] for row in skipped])
            room = limits.capacity
            if limits.max_running is not None:  # the cap across nodes: the claim lock serializes this count
                running = await con.fetchval("SELECT COUNT(*) FROM runs WHERE status = 'running'")
                room = min(room, limits.max_running - running)
            if room <= 0:
                return claim
            p = len(params) + 1
            start = CLAIM_START.replace("${p}", f"${p}").replace("${p1}", f"${p + 1}").replace("${p2}", f"${p + 2}")
            start = start.replace("${p3}", f"${p + 3}")
            pools = dict(limits.pools)
            labels = sorted(limits.labels)
            rows = await con.fetch(f"{due} {start}", *params, list(pools), list(pools.values()), room, labels)
            ids = [row[0] for row in rows]
            if not ids:
                return claim
            pairs = await con.fetch("SELECT id, job_id FROM runs WHERE id = ANY($1::bigint[])", ids)
            job_of: dict[int, int] = {row[0]: row[1] for row in pairs}
            jobs = {
                row["id"]: job_from_row(row)
                for row in await con.fetch(
                    "SELECT * FROM jobs WHERE id = ANY($1::bigint[])", sorted(set(job_of.values()))
                )
            }
            since = day_start(now)
            refused = await budget_refusals(
                [(i, jobs[job_of[i]]) for i in ids if job_of.get(i) in jobs],
                limits.daily_budget_usd,
                lambda job_id: _spent(con, since, job_id),
                lambda job_id: _last_cost(con, job_id),
            )
            if refused:  # a daily budget is spent: skipped here, under the claim lock, so every node honours it
                gone = list(refused)
                skipped = await con.fetch(
                    SKIP_RUNS, gone, [str(RunStatus.SKIPPED)] * len(gone), [refused[i] for i in gone], now
                )
                if skipped:
                    claim.skipped += await self._runs_by_id(con, [row[0] for row in skipped])
                ids = [i for i in ids if i not in refused]
                if not ids:
                    return claim
            started = {row[0] for row in await con.fetch(START_RUNS, ids, node, now, lease_ms)}
            runs = {run.id: run for run in await self._runs_by_id(con, sorted(started))}
            claim.started = [(runs[i], jobs[runs[i].job_id]) for i in ids if i in runs]
        return claim

    async def _runs_by_id(self, con: asyncpg.Connection, ids: Sequence[int]) -> list[Run]:
        rows = await con.fetch(f"{RUN_SELECT} WHERE r.id = ANY($1::bigint[]) ORDER BY r.id", list(ids))
        return [run_from_row(row) for row in rows]

    async def finish_runs(self, ends: Sequence[RunEnd]) -> list[Recorded | None]:
        """Record many run ends in one transaction (see RunEnd). An end whose run is no longer pending or
        running, held by the node and fence token it carries (another node took it over, or recorded it),
        is not written: None in its place."""
        if not ends:
            return []
        results: list[Recorded | None] = [None] * len(ends)
        async with self._tx() as con:
            # the fence: only a run still open, held by the node and token the end carries, is written;
            # the row lock keeps a takeover from changing it between this check and the write
            holders = {
                row[0]: (row[1], row[2])
                for row in await con.fetch(
                    "SELECT id, node, fence FROM runs WHERE id = ANY($1::bigint[]) "
                    "AND status IN ('pending', 'running') ORDER BY id FOR UPDATE",
                    [end.run.id for end in ends],
                )
            }
            live = fenced_live(ends, holders)
            if not live:
                return results
            rows = [run_to_row(ends[i].run) for i in live]
            cols = END_COLUMNS
            sets = ", ".join(f"{c} = ${n}" for n, c in enumerate(cols, 1))
            await con.executemany(
                f"UPDATE runs SET {sets} WHERE id = ${len(cols) + 1}",
                [[row[c] for c in cols] + [row["id"]] for row in rows],
            )
            memory = [
                (ends[i].run.job_id, key, json.dumps(value), ends[i].run.finished_at or 0)
                for i in live
                for key, value in ends[i].memory.items()
            ]
            if memory:
                upserts = [m for m in memory if m[2] != "null"]
                deletes = [m[:2] for m in memory if m[2] == "null"]
                if upserts:
                    await con.executemany(MEMORY_UPSERT, upserts)
                if deletes:
                    await con.executemany("DELETE FROM job_memory WHERE job_id = $1 AND key = $2", deletes)
            sessions = [
                (ends[i].session, json.dumps(ends[i].session_history), ends[i].run.finished_at or 0)
                for i in live
                if ends[i].session is not None
            ]
            if sessions:  # one history per session, read by the next run of any job naming it
                await con.executemany(SESSION_UPSERT, sessions)
            final = [i for i in live if ends[i].retry is None]
            counts = await self._bookkeeping(con, [ends[i] for i in final])
            for i in live:
                results[i] = Recorded()
            for i, (failures, disabled) in zip(final, counts, strict=True):
                rec = results[i]
                assert rec is not None
                rec.consecutive_failures, rec.auto_disabled = failures, disabled
            wanted = sorted({name for i in final for name in ends[i].chain_to})
            targets: dict[str, int] = {}
            if wanted:
                targets = {
                    row[0]: row[1]
                    for row in await con.fetch(
                        "SELECT name, id FROM jobs WHERE name = ANY($1::text[]) AND deleted_at IS NULL", wanted
                    )
                }
            follow: list[tuple[int, Run]] = []
            for i in live:
                end = ends[i]
                if end.retry is not None:
                    end.retry.request = end.run.request  # every attempt of a hook's run gets its payload
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
            inserted = {id(run) for run in await self._insert_runs(con, [run for _, run in follow], FOLLOW_COLUMNS)}
            for i, run in follow:
                rec = results[i]
                if rec is not None and id(run) in inserted:
                    rec.inserted.append(run)
        return results

    async def _bookkeeping(self, con: asyncpg.Connection, ends: Sequence[RunEnd]) -> list[tuple[int, str | None]]:
        """The jobs' state after their last attempts, in order: last status, then consecutive failures
        (+1, reset to 0, or left) and auto-disable. Each end is one `UPDATE ... RETURNING` doing its own
        arithmetic on the row as committed (a concurrent end of the same job waits for the row and then
        sees this one's count); the job is switched off by the end whose count reached the limit while
        it was on. Returns, per end, the job's failure count after it and the auto-disable reason."""
        if not ends:
            return []
        job_ids = sorted({end.run.job_id for end in ends})
        await con.execute("SELECT 1 FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", job_ids)
        out: list[tuple[int, str | None]] = []
        for end in ends:
            run = end.run
            effect = _failure_effect(run.status)
            row = await con.fetchrow(
                "UPDATE jobs SET last_status = $2, consecutive_failures = CASE $3::text WHEN 'reset' THEN 0 "
                "WHEN 'add' THEN consecutive_failures + 1 ELSE consecutive_failures END WHERE id = $1 "
                "RETURNING consecutive_failures",
                run.job_id,
                str(run.status),
                effect,
            )
            count = 0 if row is None else int(row[0])
            disabled = None
            if row is not None and effect == "add" and end.failure_limit and count >= end.failure_limit:
                reason = f"{count} consecutive failures (last: {run.error or run.status})"
                switched = await con.fetchval(
                    "UPDATE jobs SET enabled = 0, auto_disabled = $2, next_run_at = NULL "
                    "WHERE id = $1 AND enabled = 1 AND consecutive_failures >= $3 RETURNING id",
                    run.job_id,
                    reason,
                    end.failure_limit,
                )
                disabled = reason if switched is not None else None
            out.append((count, disabled))
        return out

    # ------------------------------------------------------------ nodes

    async def heartbeat(self, node: Node) -> int:
        """Upsert this node's row; its expiry is counted on the database's clock. Returns that clock."""
        row = await self.fetch_one(
            "INSERT INTO nodes (node, host, pid, started_at, seen_at, expires_at, running, labels) "
            f"VALUES ($1, $2, $3, $4, {DB_NOW}, {DB_NOW} + $5, $6, $7) "
            "ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at, "
            "running = excluded.running, labels = excluded.labels RETURNING seen_at",
            node.node,
            node.host,
            node.pid,
            node.started_at,
            node.expires_at - node.seen_at,
            node.running,
            json.dumps(sorted(node.labels)),
        )
        return int(row[0])

    async def nodes(self) -> list[Node]:
        rows = await self.fetch_all(
            "SELECT node, host, pid, started_at, seen_at, expires_at, running, labels FROM nodes ORDER BY host, node"
        )
        return [node_from_row(r) for r in rows]

    async def forget_node(self, node: str) -> None:
        await self._execute("DELETE FROM nodes WHERE node = $1", node)

    async def renew_run_leases(self, node: str, fences: Mapping[int, int], now: int, lease_ms: int) -> list[int]:
        """Extend the leases of `node`'s runs (run id -> the fence token it holds) to `lease_ms` from now on
        the database's clock; returns those still held (the rest were taken over)."""
        if not fences:
            return []
        rows = await self.fetch_all(
            f"UPDATE runs SET lease_expires_at = {DB_NOW} + $1 FROM unnest($2::bigint[], $3::bigint[]) AS f(id, fence) "
            "WHERE runs.id = f.id AND runs.fence = f.fence AND runs.node = $4 AND runs.status = 'running' "
            "RETURNING runs.id",
            lease_ms,
            list(fences),
            list(fences.values()),
            node,
        )
        return sorted(r[0] for r in rows)

    async def orphaned_runs(self, now: int, live_node: str | None, host: str | None = None) -> list[Run]:
        """Runs left `running` by a holder that is gone (any node but `live_node`) whose lease has expired on
        the database's clock — and, with `host`, any of that host's (its processes can be looked for)."""
        rows = await self.fetch_all(
            f"{RUN_SELECT} WHERE r.status = 'running' AND (r.node IS NULL OR r.node != $1) "
            f"AND (COALESCE(r.lease_expires_at, 0) <= {DB_NOW} OR r.node LIKE $2) ORDER BY r.id",
            live_node or "",
            _host_pattern(host),
        )
        return [run_from_row(r) for r in rows]

    async def take_over(self, run: Run, now: int, expired_only: bool = True) -> Run | None:
        """Take a running run from the node holding it, to record its end: its fence token is bumped, so
        whatever its holder still writes about it is refused. Only while it is held with the token `run`
        carries and (with `expired_only`) its lease has expired on the database's clock; else None."""
        async with self._tx() as con:
            taken = await con.fetchval(
                "UPDATE runs SET fence = fence + 1 WHERE id = $1 AND status = 'running' AND fence = $2 "
                f"AND node IS NOT DISTINCT FROM $3 AND (NOT $4 OR COALESCE(lease_expires_at, 0) <= {DB_NOW}) "
                "RETURNING id",
                run.id,
                run.fence,
                run.node,
                expired_only,
            )
            if taken is None:
                return None
            row = await con.fetchrow(f"{RUN_SELECT} WHERE r.id = $1", run.id)
        return run_from_row(row) if row else None

    async def request_cancel(self, run_id: int, now: int) -> Run | None:
        async with self._tx() as con:
            await con.execute(
                "UPDATE runs SET status = 'cancelled', reason = 'cancelled before it started', finished_at = $1 "
                "WHERE id = $2 AND status IN ('pending', 'awaiting_approval')",
                now,
                run_id,
            )
            await con.execute("UPDATE runs SET cancel_requested = 1 WHERE id = $1 AND status = 'running'", run_id)
        return await self.get_run(run_id)

    async def decide_approval(self, decision: ApprovalDecision) -> Run | None:
        async with self._tx() as con:
            row = await con.fetchrow(f"{RUN_SELECT} WHERE r.id = $1", decision.run_id)
            if row is None or row["status"] != "awaiting_approval":
                return None
            # of two deciders, the second waits on the row and then finds it no longer waiting: 0 rows
            done = await con.execute(qmarks(APPROVAL_DECIDE), *decided_values(run_from_row(row), decision))
            if _count(done) != 1:
                return None
            row = await con.fetchrow(f"{RUN_SELECT} WHERE r.id = $1", decision.run_id)
        return run_from_row(row)

    async def due_approvals(self, now: int) -> list[Run]:
        rows = await self.fetch_all(
            f"{RUN_SELECT} WHERE r.status = 'awaiting_approval' AND r.approval_deadline <= $1 ORDER BY r.id", now
        )
        return [run_from_row(r) for r in rows]

    async def take_approval_notices(self, limit: int = 100) -> list[Run]:
        if await self.fetch_one(UNNOTICED) is None:  # every pass asks: a read, not a write, when none waits
            return []
        async with self._tx() as con:
            taken = await con.fetch(
                "UPDATE runs SET approval_notice = 'sending' WHERE id IN (SELECT id FROM runs "
                "WHERE status = 'awaiting_approval' AND approval_notice IS NULL ORDER BY id LIMIT $1 "
                "FOR UPDATE SKIP LOCKED) RETURNING id",
                limit,
            )
            ids = sorted(row[0] for row in taken)
            return await self._runs_by_id(con, ids) if ids else []

    async def note_approval_notice(self, run_id: int, note: str) -> None:
        await self._execute("UPDATE runs SET approval_notice = $1 WHERE id = $2", note, run_id)

    async def cancel_requested(self, run_ids: Sequence[int]) -> list[int]:
        if not run_ids:
            return []
        rows = await self.fetch_all(
            "SELECT id FROM runs WHERE cancel_requested = 1 AND id = ANY($1::bigint[]) ORDER BY id", list(run_ids)
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
        result = await self._execute(
            "UPDATE runs SET delivery_status = $1, delivery_reason = $2, milestones = $3 WHERE id = $4 "
            "AND ($5 OR (node IS NOT DISTINCT FROM $6 AND fence = $7))",
            status,
            reason,
            milestones_to_json(milestones),
            run_id,
            holder is None,
            node,
            fence,
        )
        return _count(result) == 1

    async def spent_since(self, since: int, job_id: int | None = None) -> float:
        row = await self.fetch_one(*_spent_query(since, job_id))
        return float(row[0]) if row else 0.0

    async def get_memory(self, job_id: int, key: str) -> Any:
        row = await self.fetch_one("SELECT value FROM job_memory WHERE job_id = $1 AND key = $2", job_id, key)
        return json.loads(row[0]) if row else None

    async def get_session(self, name: str) -> list[dict[str, Any]]:
        row = await self.fetch_one("SELECT history FROM sessions WHERE name = $1", name)
        return json.loads(row[0]) if row else []

    async def set_memory(self, job_id: int, key: str, value: Any, now: int) -> None:
        if value is None:
            await self._execute("DELETE FROM job_memory WHERE job_id = $1 AND key = $2", job_id, key)
        else:
            await self._execute(MEMORY_UPSERT, job_id, key, json.dumps(value), now)

    # ------------------------------------------------------------ the read side

    async def get_run(self, run_id: int) -> Run | None:
        row = await self.fetch_one(f"{RUN_SELECT} WHERE r.id = $1", run_id)
        return run_from_row(row) if row else None

    async def attempts(self, root_id: int) -> list[Run]:
        """Every attempt of one slot, first to last."""
        rows = await self.fetch_all(f"{RUN_SELECT} WHERE r.id = $1 OR r.retry_of = $1 ORDER BY r.attempt", root_id)
        return [run_from_row(r) for r in rows]

    async def list_runs(self, flt: RunFilter) -> list[Run]:
        where: list[str] = []
        params: list[Any] = []

        def param(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if flt.job_id is not None:
            where.append(f"r.job_id = {param(flt.job_id)}")
        if flt.statuses:
            where.append(f"r.status = ANY({param([str(s) for s in flt.statuses])}::text[])")
        if flt.since is not None:
            where.append(f"r.queued_at >= {param(flt.since)}")
        if flt.before_id is not None:
            where.append(f"r.id < {param(flt.before_id)}")
        sql = RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self.fetch_all(f"{sql} ORDER BY r.id DESC LIMIT {param(flt.limit)}", *params)
        return [run_from_row(r) for r in rows]

    async def recent_statuses(self, job_ids: Sequence[int], per_job: int) -> dict[int, list[RunStatus]]:
        out: dict[int, list[RunStatus]] = {job_id: [] for job_id in job_ids}
        if not job_ids:
            return out
        rows = await self.fetch_all(
            "SELECT j.id, r.status FROM unnest($1::bigint[]) AS j(id) CROSS JOIN LATERAL ("
            " SELECT id, status FROM runs WHERE job_id = j.id"
            " AND status NOT IN ('pending', 'running', 'awaiting_approval')"
            " ORDER BY id DESC LIMIT $2) AS r ORDER BY j.id, r.id",
            list(job_ids),
            per_job,
        )
        for row in rows:
            out[row[0]].append(RunStatus(row[1]))
        return out

    async def job_stats(self, job_id: int, since: int | None = None) -> JobStats:
        return await aggregates.job_stats(self, job_id, since)

    async def latest_durations(self, since: int | None, latest: int) -> list[int]:
        return await aggregates.latest_durations(self, since, latest)

    async def run_counts(self, statuses: Sequence[RunStatus]) -> dict[RunStatus, int]:
        return await aggregates.run_counts(self, statuses)

    async def timeline(self, job_id: int | None, since: int, bucket_ms: int) -> list[tuple[int, RunStatus, int]]:
        """Runs per time bucket and status (bucket start, status, count), oldest first."""
        rows = await self.fetch_all(
            "SELECT (queued_at / $1) * $1 AS bucket, status, COUNT(*) FROM runs "
            "WHERE queued_at >= $2 AND ($3::bigint IS NULL OR job_id = $3) "
            "GROUP BY bucket, status ORDER BY bucket, status",
            bucket_ms,
            since,
            job_id,
        )
        return [(r[0], RunStatus(r[1]), r[2]) for r in rows]

    async def fleet(self, since: int, bucket_ms: int) -> list[FleetBucket]:
        """Every job's finished runs (not skips or cancels) per time bucket since `since`."""
        rows = await self.fetch_all(
            "SELECT job_id, ((queued_at - $1) / $2) * $2 + $1 AS bucket, COUNT(*), "
            "COUNT(*) FILTER (WHERE status = 'succeeded'), "
            "COUNT(*) FILTER (WHERE status IN ('failed', 'timed_out')), COALESCE(SUM(total_tokens), 0), "
            "SUM(cost_usd) FROM runs "
            "WHERE queued_at >= $1 AND status IN ('succeeded', 'failed', 'timed_out', 'interrupted') "
            "GROUP BY job_id, bucket ORDER BY job_id, bucket",
            since,
            bucket_ms,
        )
        return [FleetBucket(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6]) for r in rows]

    # ------------------------------------------------------------ events

    async def append_events(self, events: Sequence[RunEvent]) -> None:
        """Insert events; each gets its id (ascending in the order given) from the table's sequence."""
        if not events:
            return
        async with self._tx() as con:
            ids = sorted(
                row[0]
                for row in await con.fetch(
                    "SELECT nextval($1::regclass) FROM generate_series(1, $2)", EVENT_SEQUENCE, len(events)
                )
            )
            rows = [event_to_row(ev) for ev in events]
            await con.execute(
                "INSERT INTO run_events (id, run_id, job_id, at, kind, name, data) SELECT * FROM "
                "unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[])",
                ids,
                *[list(column) for column in zip(*rows, strict=True)],
            )
        for ev, event_id in zip(events, ids, strict=True):
            ev.id = event_id

    async def _events_where(self, where: str, *params: Any) -> list[RunEvent]:
        cols = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
        rows = await self.fetch_all(
            f"SELECT {cols}, j.name AS job_name FROM run_events e LEFT JOIN jobs j ON j.id = e.job_id WHERE {where}",
            *params,
        )
        return [event_from_row(r) for r in rows]

    async def events_since(self, after_id: int, extra_ids: Sequence[int] = (), limit: int = 1000) -> list[RunEvent]:
        """Events with an id above `after_id` or among `extra_ids`, in id order, at most `limit`."""
        if not extra_ids:
            return await self._events_where("e.id > $1 ORDER BY e.id LIMIT $2", after_id, limit)
        cols = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
        select = f"SELECT {cols}, j.name AS job_name FROM run_events e LEFT JOIN jobs j ON j.id = e.job_id"
        rows = await self.fetch_all(
            f"SELECT * FROM ({select} WHERE e.id = ANY($1::bigint[]) AND e.id <= $2"
            f" UNION ALL {select} WHERE e.id > $2) AS ev ORDER BY id LIMIT $3",
            sorted(set(extra_ids)),
            after_id,
            limit,
        )
        return [event_from_row(r) for r in rows]

    async def run_events(self, run_id: int, after_id: int = 0) -> list[RunEvent]:
        return await self._events_where("e.run_id = $1 AND e.id > $2 ORDER BY e.id", run_id, after_id)

    async def last_event_id(self) -> int:
        row = await self.fetch_one("SELECT COALESCE(MAX(id), 0) FROM run_events")
        return int(row[0])

    # ------------------------------------------------------------ the scheduler lease

    async def acquire_lease(self, me: Lease, now: int, holder_alive: Callable[[Lease], bool]) -> Lease:
        async with self._tx() as con:
            await self._lock(con, LOCK_LEASE)
            row = await con.fetchrow("SELECT * FROM scheduler_lease WHERE id = 1")
            current = lease_from_row(row) if row else None
            if current is None or current.holder == me.holder or current.expires_at <= now or not holder_alive(current):
                acquired_at = current.acquired_at if current and current.holder == me.holder else now
                await con.execute(
                    "INSERT INTO scheduler_lease (id, holder, host, pid, address, acquired_at, expires_at) "
                    "VALUES (1, $1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, "
                    "host = excluded.host, pid = excluded.pid, address = excluded.address, "
                    "acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
                    me.holder,
                    me.host,
                    me.pid,
                    me.address,
                    acquired_at,
                    me.expires_at,
                )
                return Lease(me.holder, me.host, me.pid, me.address, acquired_at, me.expires_at)
            return current

    async def renew_lease(self, holder: str, now: int, expires_at: int) -> bool:
        status = await self._execute(
            "UPDATE scheduler_lease SET expires_at = $1 WHERE id = 1 AND holder = $2", expires_at, holder
        )
        return _count(status) == 1

    async def release_lease(self, holder: str) -> None:
        await self._execute("DELETE FROM scheduler_lease WHERE id = 1 AND holder = $1", holder)

    async def get_lease(self) -> Lease | None:
        row = await self.fetch_one("SELECT * FROM scheduler_lease WHERE id = 1")
        return lease_from_row(row) if row else None

    def write_lock_holder(self) -> int | None:
        return None  # row locks of a stopped node's open transaction are ended by the server (IDLE_IN_TRANSACTION_S)

    def between_writes(self) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    # ------------------------------------------------------------ wake-ups: LISTEN/NOTIFY

    async def notify(self) -> bool:
        """Send a wake-up to every listener; whether a scheduler is there to hear it — a lease holder or a
        node with a live heartbeat (a NOTIFY cannot tell whether anyone did: it is a hint)."""
        row = await self.fetch_one(
            "SELECT pg_notify($1, ''), EXISTS (SELECT 1 FROM scheduler_lease WHERE id = 1) OR EXISTS (SELECT 1 "
            f"FROM nodes WHERE expires_at > {DB_NOW})",
            self.channel,
        )
        return bool(row[1])

    # ------------------------------------------------------------ state

    async def get_state(self, key: str) -> str | None:
        row = await self.fetch_one("SELECT value FROM state WHERE key = $1", key)
        return row[0] if row else None

    async def set_state(self, key: str, value: str | None) -> None:
        if value is None:
            await self._execute("DELETE FROM state WHERE key = $1", key)
        else:
            await self._execute(
                "INSERT INTO state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                key,
                value,
            )

    # ------------------------------------------------------------ maintenance

    async def prune(
        self, now: int, keep_days: float, runs_per_job: int, event_hours: float, budget_s: float | None = None
    ) -> PruneResult:
        return await pruning.prune(self, now, keep_days, runs_per_job, event_hours, budget_s)

    async def delete_batch(self, sql: str, params: Sequence[Any]) -> int:
        async with self.transaction() as con:
            return _count(await con.execute(sql, params))

    async def select_rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return list(await self.fetch_all(qmarks(sql), *params))

    async def check(self) -> list[str]:
        """What is wrong with the schema: its version, a missing table or index (the server looks after
        the data's integrity itself; foreign keys are enforced as rows are written)."""
        problems: list[str] = []
        version = await self.fetch_one("SELECT version FROM cronui_schema WHERE id = 1")
        if version is None or version[0] != SCHEMA_VERSION:
            problems.append(f"schema version {None if version is None else version[0]}, expected {SCHEMA_VERSION}")
        tables, indexes = expected_objects()
        have_tables = {
            r[0] for r in await self.fetch_all("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        }
        have_indexes = {
            r[0] for r in await self.fetch_all("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
        }
        problems += [f"missing table {t}" for t in sorted(tables - have_tables)]
        problems += [f"missing index {i}" for i in sorted(indexes - have_indexes)]
        return problems

    async def backup(self, path: str) -> None:
        dsn, schema = split_url(redacted(self.url))
        only = f" --schema={ident(schema)}" if schema else ""
        raise StoreError(
            f"a PostgreSQL database is backed up with pg_dump, not by cronui: pg_dump{only} '{dsn}' > {path}"
        )


async def _current_version(con: asyncpg.Connection) -> int | None:
    """The schema version the current schema holds, read without writing (None: no version table yet)."""
    if await con.fetchval("SELECT to_regclass('cronui_schema')") is None:
        return None
    return int(await con.fetchval("SELECT version FROM cronui_schema WHERE id = 1") or 0)
