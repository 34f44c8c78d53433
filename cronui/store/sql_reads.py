"""The read side both SQL backends share: jobs, runs by id and by filter (newest first, paged), a slot's
attempts, stats and timelines, the live event log (read through an `EventCursor`, `events.py`), nodes,
the scheduler lease, state, a job's memory and a shared conversation.

Written once against `Dialect` and '?' placeholders; a backend supplies `select_rows`/`select_one` (one
statement outside any transaction) and `write()` (a transaction, `sql_writes.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from cronui.model import DEFAULT_GRACE_S, Job, Lease, MisfirePolicy, Run, RunEvent, RunStatus
from cronui.model.records import DueJob, EndpointState, FleetBucket, JobHead, JobStats, Node, RunFilter
from cronui.store import aggregates
from cronui.store.dialect import Dialect, Tx
from cronui.store.endpoints import ENDPOINTS_SELECT, endpoint_from_row
from cronui.store.rows import (
    EVENT_COLUMNS,
    JOB_HEAD_SELECT,
    NODE_COLUMNS,
    RUN_SELECT,
    event_from_row,
    job_from_row,
    job_head_from_row,
    jobs_from_rows,
    lease_from_row,
    node_from_row,
    run_from_row,
)

# a check job's grace in ms, in SQL (its slot is due for recording missed once this has passed)
CHECK_GRACE_MS = f"CAST(COALESCE(grace_s, {DEFAULT_GRACE_S}) * 1000 AS BIGINT)"


def _grace(grace_s: float | None) -> float:
    return DEFAULT_GRACE_S if grace_s is None else grace_s


def _names(text: str | None) -> list[str]:
    """A stored JSON list of calendar names ([] for most jobs, without parsing it)."""
    return [] if not text or text == "[]" else json.loads(text)


# what the job's latest run with a known cost cost: a budget's estimate of its next run
LAST_COST = "SELECT cost_usd FROM runs WHERE job_id = ? AND cost_usd IS NOT NULL ORDER BY id DESC LIMIT 1"

# the events with their job's name
EVENT_SELECT = (
    f"SELECT {', '.join(f'e.{c}' for c in EVENT_COLUMNS)}, j.name AS job_name "
    "FROM run_events e LEFT JOIN jobs j ON j.id = e.job_id"
)


def spent_query(since: int, job_id: int | None) -> tuple[str, list[Any]]:
    """What runs finished since `since` cost, of one job or of all: the SQL and its parameters."""
    sql = "SELECT COALESCE(SUM(cost_usd), 0) FROM runs WHERE finished_at >= ? AND cost_usd IS NOT NULL"
    if job_id is None:
        return sql, [since]
    return f"{sql} AND job_id = ?", [since, job_id]


class SqlReads:
    """What every SQL store reads, the same way on each engine."""

    dialect: Dialect = Dialect()

    # ------------------------------------------------------------ what the backend supplies

    async def select_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    async def select_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def write(self) -> AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    # ------------------------------------------------------------ jobs

    async def get_job(self, job_id: int) -> Job | None:
        row = await self.select_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(row) if row else None

    async def get_job_by_name(self, name: str) -> Job | None:
        row = await self.select_one("SELECT * FROM jobs WHERE name = ? AND deleted_at IS NULL", (name,))
        return job_from_row(row) if row else None

    async def list_jobs(self) -> list[Job]:
        return jobs_from_rows(await self.select_rows("SELECT * FROM jobs WHERE deleted_at IS NULL ORDER BY name"))

    async def list_job_heads(self) -> list[JobHead]:
        return [job_head_from_row(r) for r in await self.select_rows(JOB_HEAD_SELECT)]

    async def chain_edges(self) -> dict[str, list[str]]:
        rows = await self.select_rows(
            "SELECT name, on_success, on_failure FROM jobs WHERE deleted_at IS NULL "
            "AND (on_success != '[]' OR on_failure != '[]')"
        )
        return {r["name"]: [*json.loads(r["on_success"]), *json.loads(r["on_failure"])] for r in rows}

    async def existing_names(self, names: Sequence[str]) -> set[str]:
        if not names:
            return set()
        among, params = self.dialect.in_list(names)
        rows = await self.select_rows(f"SELECT name FROM jobs WHERE deleted_at IS NULL AND name {among}", params)
        return {r[0] for r in rows}

    async def due_jobs(self, now: int) -> list[DueJob]:
        # a check job is due once its slot's grace has passed without a ping (a ping moves its next fire on)
        rows = await self.select_rows(
            "SELECT id, name, schedule, timezone, next_run_at, misfire, misfire_grace_s, is_check, grace_s, "
            "skip_calendar, only_calendar, paused_until, starts_at, ends_at "
            f"FROM jobs WHERE deleted_at IS NULL AND enabled = 1 AND next_run_at <= ? "
            f"AND (is_check = 0 OR next_run_at + {CHECK_GRACE_MS} <= ?) ORDER BY next_run_at",
            (now, now),
        )
        return [
            DueJob(
                *(r[0], r[1], r[2], r[3], r[4], MisfirePolicy(r[5]), r[6], _grace(r[8]) if r[7] else None),
                *(_names(r[9]), _names(r[10]), r[11], r[12], r[13]),
            )
            for r in rows
        ]

    async def next_wakeup(self, now: int) -> int | None:
        """The earliest future moment with work: a job's next slot or a retry's backoff end."""
        row = await self.select_one(
            "SELECT MIN(t) FROM ("
            " SELECT MIN(next_run_at) AS t FROM jobs WHERE deleted_at IS NULL AND enabled = 1 AND is_check = 0"
            f" UNION ALL SELECT MIN(next_run_at + {CHECK_GRACE_MS}) FROM jobs"
            " WHERE deleted_at IS NULL AND enabled = 1 AND is_check = 1"
            " UNION ALL SELECT MIN(not_before) FROM runs WHERE status = 'pending' AND not_before > ?"
            " UNION ALL SELECT MIN(approval_deadline) FROM runs WHERE status = 'awaiting_approval') AS w",
            (now,),
        )
        return None if row is None else row[0]

    # ------------------------------------------------------------ runs

    async def get_run(self, run_id: int) -> Run | None:
        row = await self.select_one(f"{RUN_SELECT} WHERE r.id = ?", (run_id,))
        return run_from_row(row) if row else None

    async def _runs_by_id(self, tx: Tx, ids: Sequence[int]) -> list[Run]:
        among, params = self.dialect.in_list(ids)
        return [run_from_row(r) for r in await tx.rows(f"{RUN_SELECT} WHERE r.id {among} ORDER BY r.id", params)]

    async def attempts(self, root_id: int) -> list[Run]:
        """Every attempt of one slot, first to last."""
        rows = await self.select_rows(
            f"{RUN_SELECT} WHERE r.id = ? OR r.retry_of = ? ORDER BY r.attempt", (root_id, root_id)
        )
        return [run_from_row(r) for r in rows]

    async def list_runs(self, flt: RunFilter) -> list[Run]:
        where: list[str] = []
        params: list[Any] = []
        if flt.job_id is not None:
            where.append("r.job_id = ?")
            params.append(flt.job_id)
        if flt.since is not None:
            where.append("r.queued_at >= ?")
            params.append(flt.since)
        if flt.before_id is not None:
            where.append("r.id < ?")
            params.append(flt.before_id)
        statuses = list(dict.fromkeys(str(s) for s in flt.statuses))
        if len(statuses) > 1 and flt.job_id is None:
            # several statuses over every job (`:failed`): the newest of each status read along its own part of
            # `runs_status_id` (status, id), stopping at the limit, then merged; one `status IN (...)` would
            # collect every run of those statuses and sort them all to keep the newest few
            branch = f"SELECT * FROM ({RUN_SELECT} WHERE {' AND '.join(['r.status = ?', *where])} "
            branch += "ORDER BY r.id DESC LIMIT ?) AS s{n}"
            sql = " UNION ALL ".join(branch.format(n=n) for n in range(len(statuses))) + " ORDER BY id DESC LIMIT ?"
            merged = [p for status in statuses for p in (status, *params, flt.limit)]
            return [run_from_row(r) for r in await self.select_rows(sql, (*merged, flt.limit))]
        if statuses:
            among, values = self.dialect.in_list(statuses)
            where.append(f"r.status {among}")
            params += values
        sql = RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.id DESC LIMIT ?"
        return [run_from_row(r) for r in await self.select_rows(sql, (*params, flt.limit))]

    async def due_approvals(self, now: int) -> list[Run]:
        rows = await self.select_rows(
            f"{RUN_SELECT} WHERE r.status = 'awaiting_approval' AND r.approval_deadline <= ? ORDER BY r.id", (now,)
        )
        return [run_from_row(r) for r in rows]

    async def cancel_requested(self, run_ids: Sequence[int]) -> list[int]:
        if not run_ids:
            return []
        among, params = self.dialect.in_list(run_ids)
        rows = await self.select_rows(
            f"SELECT id FROM runs WHERE cancel_requested = 1 AND id {among} ORDER BY id", params
        )
        return [r[0] for r in rows]

    async def job_stats(self, job_id: int, since: int | None = None) -> JobStats:
        return await aggregates.job_stats(self, job_id, since)

    async def latest_durations(self, since: int | None, latest: int) -> list[int]:
        return await aggregates.latest_durations(self, since, latest)

    async def run_counts(self, statuses: Sequence[RunStatus]) -> dict[RunStatus, int]:
        return await aggregates.run_counts(self, statuses)

    async def timeline(self, job_id: int | None, since: int, bucket_ms: int) -> list[tuple[int, RunStatus, int]]:
        """Runs per time bucket and status (bucket start, status, count), oldest first."""
        rows = await self.select_rows(
            "SELECT (queued_at / ?) * ? AS bucket, status, COUNT(*) FROM runs "
            "WHERE queued_at >= ? AND (CAST(? AS BIGINT) IS NULL OR job_id = ?) "
            "GROUP BY bucket, status ORDER BY bucket, status",
            (bucket_ms, bucket_ms, since, job_id, job_id),
        )
        return [(r[0], RunStatus(r[1]), r[2]) for r in rows]

    async def fleet(self, since: int, bucket_ms: int) -> list[FleetBucket]:
        """Every job's finished runs (not skips or cancels) per time bucket since `since`, by when they
        were queued: what ran, what failed, tokens and cost."""
        rows = await self.select_rows(
            "SELECT job_id, ((queued_at - ?) / ?) * ? + ? AS bucket, COUNT(*), "
            "COUNT(*) FILTER (WHERE status = 'succeeded'), COUNT(*) FILTER (WHERE status IN ('failed', 'timed_out')), "
            "COALESCE(SUM(total_tokens), 0), SUM(cost_usd) FROM runs "
            "WHERE queued_at >= ? AND status IN ('succeeded', 'failed', 'timed_out', 'interrupted') "
            "GROUP BY job_id, bucket ORDER BY job_id, bucket",
            (since, bucket_ms, bucket_ms, since, since),
        )
        return [FleetBucket(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6]) for r in rows]

    async def spent_since(self, since: int, job_id: int | None = None) -> float:
        row = await self.select_one(*spent_query(since, job_id))
        return float(row[0]) if row else 0.0

    async def get_memory(self, job_id: int, key: str) -> Any:
        row = await self.select_one("SELECT value FROM job_memory WHERE job_id = ? AND key = ?", (job_id, key))
        return json.loads(row[0]) if row else None

    async def get_session(self, name: str) -> list[dict[str, Any]]:
        row = await self.select_one("SELECT history FROM sessions WHERE name = ?", (name,))
        return json.loads(row[0]) if row else []

    # ------------------------------------------------------------ the live event log

    async def _events_where(self, where: str, params: Sequence[Any]) -> list[RunEvent]:
        return [event_from_row(r) for r in await self.select_rows(f"{EVENT_SELECT} WHERE {where}", params)]

    async def events_since(self, after_id: int, extra_ids: Sequence[int] = (), limit: int = 1000) -> list[RunEvent]:
        """Events with an id above `after_id` or among `extra_ids`, in id order, at most `limit`."""
        if not extra_ids:
            return await self._events_where("e.id > ? ORDER BY e.id LIMIT ?", (after_id, limit))
        # two index searches merged in id order (an OR of the two would scan the whole table)
        among, params = self.dialect.in_list(sorted(set(extra_ids)))
        rows = await self.select_rows(
            f"SELECT * FROM ({EVENT_SELECT} WHERE e.id {among} AND e.id <= ?"
            f" UNION ALL {EVENT_SELECT} WHERE e.id > ?) AS ev ORDER BY id LIMIT ?",
            (*params, after_id, after_id, limit),
        )
        return [event_from_row(r) for r in rows]

    async def run_events(self, run_id: int, after_id: int = 0) -> list[RunEvent]:
        return await self._events_where("e.run_id = ? AND e.id > ? ORDER BY e.id", (run_id, after_id))

    async def last_event_id(self) -> int:
        row = await self.select_one("SELECT COALESCE(MAX(id), 0) FROM run_events")
        return int(row[0])

    # ------------------------------------------------------------ nodes, the scheduler lease, state

    async def nodes(self) -> list[Node]:
        return [
            node_from_row(r) for r in await self.select_rows(f"SELECT {NODE_COLUMNS} FROM nodes ORDER BY host, node")
        ]

    async def endpoints(self) -> list[EndpointState]:
        """The endpoints runs have called, each up or down (store/endpoints.py)."""
        return [endpoint_from_row(r) for r in await self.select_rows(ENDPOINTS_SELECT)]

    async def get_lease(self) -> Lease | None:
        row = await self.select_one("SELECT * FROM scheduler_lease WHERE id = 1")
        return lease_from_row(row) if row else None

    async def get_state(self, key: str) -> str | None:
        row = await self.select_one("SELECT value FROM state WHERE key = ?", (key,))
        return row[0] if row else None
