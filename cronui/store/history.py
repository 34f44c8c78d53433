"""What viewers read from the SQLite store: runs by id and by filter (newest first, paged), a slot's
attempts, per-job recent statuses and stats, run timelines, and the live event log (read through an
`EventCursor`, `events.py`).

These queries only read; the write path (jobs, scheduling, claiming, finishing) is in `sqlite.py`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cronui.model import Run, RunEvent, RunStatus
from cronui.model.records import FleetBucket, JobStats, RunFilter
from cronui.store import aggregates
from cronui.store.connection import SQLiteConnection
from cronui.store.rows import EVENT_COLUMNS, event_from_row, run_from_row
from cronui.store.schema import RUN_SELECT


class SQLiteHistory(SQLiteConnection):
    """The read side of the SQLite store."""

    async def get_run(self, run_id: int) -> Run | None:
        row = await self.fetch_one(f"{RUN_SELECT} WHERE r.id = ?", (run_id,))
        return run_from_row(row) if row else None

    async def attempts(self, root_id: int) -> list[Run]:
        """Every attempt of one slot, first to last."""
        rows = await self.fetch_all(
            f"{RUN_SELECT} WHERE r.id = ? OR r.retry_of = ? ORDER BY r.attempt", (root_id, root_id)
        )
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
        sql = RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.id DESC LIMIT ?"
        rows = await self.fetch_all(sql, (*params, flt.limit))
        return [run_from_row(r) for r in rows]

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

    async def job_stats(self, job_id: int, since: int | None = None) -> JobStats:
        return await aggregates.job_stats(self, job_id, since)

    async def latest_durations(self, since: int | None, latest: int) -> list[int]:
        return await aggregates.latest_durations(self, since, latest)

    async def run_counts(self, statuses: Sequence[RunStatus]) -> dict[RunStatus, int]:
        return await aggregates.run_counts(self, statuses)

    async def select_rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self.fetch_all(sql, params)

    async def timeline(self, job_id: int | None, since: int, bucket_ms: int) -> list[tuple[int, RunStatus, int]]:
        """Runs per time bucket and status (bucket start, status, count), oldest first."""
        rows = await self.fetch_all(
            "SELECT (queued_at / ?) * ? AS bucket, status, COUNT(*) FROM runs "
            "WHERE queued_at >= ? AND (? IS NULL OR job_id = ?) GROUP BY bucket, status ORDER BY bucket",
            (bucket_ms, bucket_ms, since, job_id, job_id),
        )
        return [(r[0], RunStatus(r[1]), r[2]) for r in rows]

    async def fleet(self, since: int, bucket_ms: int) -> list[FleetBucket]:
        """Every job's finished runs (not skips or cancels) per time bucket since `since`, by when they
        were queued: what ran, what failed, tokens and cost."""
        rows = await self.fetch_all(
            "SELECT job_id, ((queued_at - ?) / ?) * ? + ? AS bucket, COUNT(*), SUM(status = 'succeeded'), "
            "SUM(status IN ('failed', 'timed_out')), COALESCE(SUM(total_tokens), 0), SUM(cost_usd) FROM runs "
            "WHERE queued_at >= ? AND status IN ('succeeded', 'failed', 'timed_out', 'interrupted') "
            "GROUP BY job_id, bucket ORDER BY job_id, bucket",
            (since, bucket_ms, bucket_ms, since, since),
        )
        return [FleetBucket(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

    # ------------------------------------------------------------ the live event log

    async def events_where(self, where: str, params: Sequence[Any]) -> list[RunEvent]:
        cols = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
        rows = await self.fetch_all(
            f"SELECT {cols}, j.name AS job_name FROM run_events e LEFT JOIN jobs j ON j.id = e.job_id WHERE {where}",
            params,
        )
        return [event_from_row(r) for r in rows]

    async def events_since(self, after_id: int, extra_ids: Sequence[int] = (), limit: int = 1000) -> list[RunEvent]:
        """Events with an id above `after_id` or among `extra_ids`, in id order, at most `limit`."""
        if not extra_ids:
            return await self.events_where("e.id > ? ORDER BY e.id LIMIT ?", (after_id, limit))
        # two rowid searches merged in id order (an OR of the two would scan the whole table)
        cols = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
        select = f"SELECT {cols}, j.name AS job_name FROM run_events e LEFT JOIN jobs j ON j.id = e.job_id"
        rows = await self.fetch_all(
            f"SELECT * FROM ({select} WHERE e.id IN (SELECT value FROM json_each(?)) AND e.id <= ?"
            f" UNION ALL {select} WHERE e.id > ?) ORDER BY id LIMIT ?",
            (json.dumps(sorted(set(extra_ids))), after_id, after_id, limit),
        )
        return [event_from_row(r) for r in rows]

    async def run_events(self, run_id: int, after_id: int = 0) -> list[RunEvent]:
        return await self.events_where("e.run_id = ? AND e.id > ? ORDER BY e.id", (run_id, after_id))

    async def last_event_id(self) -> int:
        row = await self.fetch_one("SELECT COALESCE(MAX(id), 0) FROM run_events")
        return int(row[0])
