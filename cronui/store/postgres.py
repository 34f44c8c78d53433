"""The PostgreSQL store (asyncpg): the Store contract for several nodes sharing one database.

`postgresql://user@host:5432/db` (or `postgres://`) selects it; `?schema=NAME` keeps cronui's tables in
that schema (created when missing), else they go where the server's search_path says (usually `public`).
Every write that must be atomic is one transaction on a pooled connection, at READ COMMITTED (each
statement sees what was committed when it began). The SQL both backends share (`sql_reads.py`,
`sql_writes.py`, `sql_runs.py`) runs here with this engine's dialect; what SQLite decides under its
single-writer lock is decided here by statements that are safe under concurrency:

- **claim**: the same rules as SQLite's (`claims.py`). The decision — which runs may start given what is
  running anywhere, the pools, the overlap and queue limits — is serialized by a transaction-level
  advisory lock (`pg_advisory_xact_lock`, one key per schema): a claimer reads the running runs only after
  the previous claimer committed, so two nodes never both fill the last place of a pool or both start a
  job's one allowed run — nor two runs of jobs sharing a conversation (`session:NAME`), which take turns.
  The rows themselves change only through `UPDATE ... WHERE id IN (SELECT ... AND status = 'pending' FOR
  UPDATE SKIP LOCKED)`: a run some other writer holds (a cancel, a removal) is left for the next claim,
  and a run is never started twice. Claims are short, so one lock for the whole cluster costs little; the
  lock is per schema so separate cronui databases in one server never wait for each other.
- **finish_runs**: the fence locks the runs (`FOR UPDATE`, in id order) and writes only those still
  pending or running, held by the node and fence token the end carries; the job's counters are changed
  by `UPDATE ... RETURNING` with the arithmetic in SQL (never read, then written back): concurrent ends
  of one job queue on its row and each sees the count its own end made. Job rows are locked in id order
  first, so two batches never deadlock.
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
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from cronui.model import Job, Run, RunEvent, RunStatus
from cronui.model.records import Node, SlotWrite
from cronui.redaction import redacted as redacted  # the API and older callers import it from here
from cronui.store.alerts import SqlAlerts
from cronui.store.audit import SqlAudit
from cronui.store.base import DuplicateJobName, StoreError
from cronui.store.ddl import migration_for
from cronui.store.dialect import Dialect, Tx
from cronui.store.health import SqlHealth
from cronui.store.metrics import SqlMetrics
from cronui.store.owners import SqlOwners
from cronui.store.pg_connection import MIGRATION_TIMEOUT_S, PgConnection, ident
from cronui.store.pg_connection import fault_kind as fault_kind  # its home was here: callers import it from here
from cronui.store.pg_connection import split_url as split_url
from cronui.store.pg_schema import EVENT_SEQUENCE, MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE, expected_objects
from cronui.store.rows import NODE_COLUMNS, event_to_row
from cronui.store.sql_pings import SqlPings
from cronui.store.tokens import SqlTokens

# advisory lock classes (the second key is the schema's hash)
LOCK_MIGRATE = 0x63726F01
LOCKS = {
    "claim": 0x63726F02,
    "lease": 0x63726F03,
    "approvals": 0x63726F04,  # counting a job's runs waiting for approval, then inserting more
}

# the database's clock, epoch ms: every lease (a node's heartbeat, a run's) is counted on it, never a node's
DB_NOW = "(extract(epoch from clock_timestamp()) * 1000)::bigint"


class PgDialect(Dialect):
    """PostgreSQL's spelling of what the shared SQL needs: arrays for lists, row locks, the server's clock."""

    same = "IS NOT DISTINCT FROM"
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    db_now = DB_NOW
    any_catchup = "bool_or(trigger IN ('catchup', 'backfill'))"
    catching_up = "COALESCE(b.catching_up, false) OR bool_or(r.trigger IN ('catchup', 'backfill')) OVER per_job"
    not_labelled = "node_label <> ALL(?::text[])"
    pool_sizes = "SELECT * FROM unnest(?::text[], ?::bigint[]) AS s(pool, size)"

    def in_list(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return "= ANY(?)", [list(values)]

    def labels_params(self, labels: Sequence[str]) -> list[Any]:
        return [sorted(labels)]

    def sizes_params(self, pools: Mapping[str, int]) -> list[Any]:
        return [list(pools), list(pools.values())]


class PostgresStore(PgConnection, SqlAlerts, SqlHealth, SqlPings, SqlMetrics, SqlTokens, SqlAudit, SqlOwners):
    """The store on a PostgreSQL server, for one node or many."""

    multi_node = True  # every node schedules: claims and slots are decided in the database
    dialect = PgDialect()

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
            plan = migration_for(version, redacted(self.url), MIGRATIONS)
            if plan is None:
                return  # another opener migrated it while we waited for the lock
            for statement in plan.statements:
                await con.execute(statement, timeout=MIGRATION_TIMEOUT_S)
            await con.execute(
                "INSERT INTO cronui_schema (id, version) VALUES (1, $1) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                SCHEMA_VERSION,
            )

    # ------------------------------------------------------------ what this engine does its own way

    async def _serialize(self, tx: Tx, kind: str) -> None:
        await tx.run("SELECT pg_advisory_xact_lock(?, ?)", (LOCKS[kind], self._ns))

    async def _lock_job(self, tx: Tx, job_id: int) -> None:
        # the job's row lock makes capped inserts of one job take turns across nodes; NO KEY leaves other
        # runs' inserts (their foreign key's share lock) unblocked
        await tx.run("SELECT 1 FROM jobs WHERE id = ? FOR NO KEY UPDATE", (job_id,))

    def _refused(self, job: Job, error: Exception) -> StoreError | None:
        if isinstance(error, asyncpg.UniqueViolationError):
            return DuplicateJobName(f"a job named {job.name!r} already exists")
        return None

    async def recent_statuses(self, job_ids: Sequence[int], per_job: int) -> dict[int, list[RunStatus]]:
        out: dict[int, list[RunStatus]] = {job_id: [] for job_id in job_ids}
        if not job_ids:
            return out
        rows = await self.select_rows(
            "SELECT j.id, r.status FROM unnest(?::bigint[]) AS j(id) CROSS JOIN LATERAL ("
            " SELECT id, status FROM runs WHERE job_id = j.id"
            " AND status NOT IN ('pending', 'running', 'awaiting_approval')"
            " ORDER BY id DESC LIMIT ?) AS r ORDER BY j.id, r.id",
            (list(job_ids), per_job),
        )
        for row in rows:
            out[row[0]].append(RunStatus(row[1]))
        return out

    async def materialize(self, writes: Sequence[SlotWrite]) -> list[Run]:
        """For each job: advance its next fire from `expected` (compare-and-set) and insert its slots'
        runs — all jobs in one transaction. A job whose next fire moved meanwhile is left as it is."""
        if not writes:
            return []
        async with self.write() as tx:
            job_ids = sorted({w.job_id for w in writes})
            await tx.rows("SELECT 1 FROM jobs WHERE id = ANY(?::bigint[]) ORDER BY id FOR UPDATE", (job_ids,))
            held = await tx.rows(
                "UPDATE jobs SET next_run_at = w.next FROM unnest(?::bigint[], ?::bigint[], ?::bigint[]) "
                "AS w(id, expected, next) WHERE jobs.id = w.id AND jobs.next_run_at IS NOT DISTINCT FROM w.expected "
                "RETURNING jobs.id",
                ([w.job_id for w in writes], [w.expected for w in writes], [w.next_run_at for w in writes]),
            )
            won = {row[0] for row in held}
            # A plan with runs always moves the next fire; had another planner written the same plan,
            # the slots' unique index keeps its runs from being inserted twice.
            runs = [run for w in writes if w.runs and w.expected != w.next_run_at and w.job_id in won for run in w.runs]
            return await self._insert_runs(tx, runs)

    async def _skip_runs(self, tx: Tx, skips: Sequence[tuple[int, str, str]], now: int) -> list[int]:
        """Turned away in one statement; a run another writer holds is passed over (SKIP LOCKED)."""
        ids = [run_id for run_id, _, _ in skips]
        rows = await tx.rows(
            "UPDATE runs SET status = u.status, reason = u.reason, finished_at = ? "
            "FROM unnest(?::bigint[], ?::text[], ?::text[]) AS u(id, status, reason) WHERE runs.id = u.id "
            "AND runs.id IN (SELECT id FROM runs WHERE id = ANY(?::bigint[]) AND status = 'pending' "
            "FOR UPDATE SKIP LOCKED) RETURNING runs.id",
            (now, ids, [s for _, s, _ in skips], [r for _, _, r in skips], ids),
        )
        return sorted(row[0] for row in rows)

    async def renew_run_leases(self, node: str, fences: Mapping[int, int], now: int, lease_ms: int) -> list[int]:
        """Extend the leases of `node`'s runs (run id -> the fence token it holds) to `lease_ms` from now on
        the database's clock; returns those still held (the rest were taken over)."""
        if not fences:
            return []
        rows = await self.select_rows(
            f"UPDATE runs SET lease_expires_at = {DB_NOW} + ? FROM unnest(?::bigint[], ?::bigint[]) AS f(id, fence) "
            "WHERE runs.id = f.id AND runs.fence = f.fence AND runs.node = ? AND runs.status = 'running' "
            "RETURNING runs.id",
            (lease_ms, list(fences), list(fences.values()), node),
        )
        return sorted(r[0] for r in rows)

    async def append_events(self, events: Sequence[RunEvent]) -> None:
        """Insert events; each gets its id (ascending in the order given) from the table's sequence."""
        if not events:
            return
        async with self.write() as tx:
            drawn = await tx.rows(
                "SELECT nextval(?::regclass) FROM generate_series(1, ?)", (EVENT_SEQUENCE, len(events))
            )
            ids = sorted(row[0] for row in drawn)
            rows = [event_to_row(ev) for ev in events]
            await tx.run(
                "INSERT INTO run_events (id, run_id, job_id, at, kind, name, data) SELECT * FROM "
                "unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[])",
                (ids, *[list(column) for column in zip(*rows, strict=True)]),
            )
        for ev, event_id in zip(events, ids, strict=True):
            ev.id = event_id

    async def heartbeat(self, node: Node) -> int:
        """Upsert this node's row; its expiry is counted on the database's clock. Returns that clock."""
        row = await self.select_one(
            f"INSERT INTO nodes ({NODE_COLUMNS}) VALUES (?, ?, ?, ?, {DB_NOW}, {DB_NOW} + ?, ?, ?) "
            "ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at, "
            "running = excluded.running, labels = excluded.labels RETURNING seen_at",
            (
                node.node,
                node.host,
                node.pid,
                node.started_at,
                node.expires_at - node.seen_at,
                node.running,
                json.dumps(sorted(node.labels)),
            ),
        )
        return int(row[0])

    def write_lock_holder(self) -> int | None:
        return None  # row locks of a stopped node's open transaction are ended by the server (IDLE_IN_TRANSACTION_S)

    def between_writes(self) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    async def notify(self) -> bool:
        """Send a wake-up to every listener; whether a scheduler is there to hear it — a lease holder or a
        node with a live heartbeat (a NOTIFY cannot tell whether anyone did: it is a hint)."""
        row = await self.select_one(
            "SELECT pg_notify(?, ''), EXISTS (SELECT 1 FROM scheduler_lease WHERE id = 1) OR EXISTS (SELECT 1 "
            f"FROM nodes WHERE expires_at > {DB_NOW})",
            (self.channel,),
        )
        return bool(row[1])

    # ------------------------------------------------------------ maintenance

    async def check(self) -> list[str]:
        """What is wrong with the schema: its version, a missing table or index (the server looks after
        the data's integrity itself; foreign keys are enforced as rows are written)."""
        problems: list[str] = []
        version = await self.select_one("SELECT version FROM cronui_schema WHERE id = 1")
        if version is None or version[0] != SCHEMA_VERSION:
            problems.append(f"schema version {None if version is None else version[0]}, expected {SCHEMA_VERSION}")
        tables, indexes = expected_objects()
        where = "WHERE schemaname = current_schema()"
        have_tables = {r[0] for r in await self.select_rows(f"SELECT tablename FROM pg_tables {where}")}
        have_indexes = {r[0] for r in await self.select_rows(f"SELECT indexname FROM pg_indexes {where}")}
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
