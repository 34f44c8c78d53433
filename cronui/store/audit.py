"""The audit log as both SQL backends keep it: rows written inside the transaction of the change they describe
(`insert_audit`, called by `save_jobs` and `remove_job` in `sql_writes.py`), read newest first and bounded
(`list_audit`), and pruned by age with the rest of the retention pass (`pruning.py`).

`changes` is JSON text ({key: [old, new]}, masked by the use case that wrote it); `job_name` is kept as it
was at the change, so a removed or renamed job's history still reads by the name it had."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cronui.model import Job
from cronui.model.audit import AuditEntry
from cronui.store.dialect import Tx
from cronui.store.sql_reads import SqlReads

AUDIT_COLUMNS = "id at who job_name job_id action changes".split()
AUDIT_INSERT = "INSERT INTO audit (at, who, job_name, job_id, action, changes) VALUES (?, ?, ?, ?, ?, ?)"
MAX_AUDIT_ROWS = 1000  # the most one read returns, whatever a caller asks


def audit_from_row(row: Any) -> AuditEntry:
    id_, at, who, job_name, job_id, action, changes = (row[c] for c in AUDIT_COLUMNS)
    return AuditEntry(at, who, action, job_name, job_id, json.loads(changes or "{}"), id_)


async def insert_audit(tx: Tx, entries: Sequence[AuditEntry], jobs: Sequence[Job] = ()) -> None:
    """Write `entries` in the open transaction; an entry without a job id takes the id of the job in `jobs`
    of its name (a job created in the same transaction)."""
    if not entries:
        return
    ids = {j.name: j.id for j in jobs if j.id is not None}
    rows = []
    for e in entries:
        if e.job_id is None:
            e.job_id = ids.get(e.job_name)
        rows.append((e.at, e.who, e.job_name, e.job_id, e.action, json.dumps(e.changes, separators=(",", ":"))))
    await tx.many(AUDIT_INSERT, rows)


class SqlAudit(SqlReads):
    """Reading and appending the audit log, the same SQL on each engine."""

    async def list_audit(
        self, job_name: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[AuditEntry]:
        """The latest rows, newest first (of one job name, when given), at most `limit` (capped at
        MAX_AUDIT_ROWS); `before_id` pages back."""
        where: list[str] = []
        params: list[Any] = []
        if job_name is not None:
            where.append("job_name = ?")
            params.append(job_name)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        limit = max(1, min(limit, MAX_AUDIT_ROWS))
        sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit{clause} ORDER BY id DESC LIMIT ?"
        return [audit_from_row(r) for r in await self.select_rows(sql, [*params, limit])]

    async def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append rows about something other than a job's own row (a job's hook token made anew)."""
        async with self.write() as tx:
            await insert_audit(tx, entries)
