"""Retention pruning in batches, shared by both backends.

Pruning 40,000 finished runs in one transaction took half a minute and held SQLite's write lock (and
the engine's lease renewal) all along. Here each batch of at most `RUN_BATCH` runs (or `EVENT_BATCH`
events) is a transaction of its own, so a lease renewal, a run's end or another process's write waits
for one batch at most; and a pass may be given a time budget, after which it stops between batches and
says that work is left (`PruneResult.done` false) for the next pass to carry on.

What is pruned, as before: finished runs queued before `now - keep_days`; finished runs beyond the
latest `runs_per_job` of their job (latest by id); run events older than `now - event_hours`. And alerts
older than `keep_days`: sends that ended, then closed episodes with no send left (`cronui alerts`). And audit
rows older than `audit_days` (`[retention] audit_days`), when given.

The SQL uses '?' placeholders (PostgreSQL's connection rewrites them) and only syntax both share.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from cronui.model.records import PruneResult

RUN_BATCH = 500  # finished runs deleted per transaction (their output may be large)
EVENT_BATCH = 5_000  # run events deleted per transaction (small rows)

_FINAL = "status NOT IN ('pending', 'running', 'awaiting_approval')"
_OLD_RUNS = f"DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE {_FINAL} AND queued_at < ? LIMIT ?)"
# per job, the id of the newest finished run beyond the ones kept (one row per job that has more)
_CUTOFFS = (
    "SELECT job_id, id FROM (SELECT job_id, id, ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY id DESC) AS n"
    f" FROM runs WHERE {_FINAL}) AS ranked WHERE n = ?"
)
_EXTRA_RUNS = f"DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE job_id = ? AND id <= ? AND {_FINAL} LIMIT ?)"
_OLD_EVENTS = "DELETE FROM run_events WHERE id IN (SELECT id FROM run_events WHERE at < ? LIMIT ?)"
_OLD_AUDIT = "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? LIMIT ?)"
# alerts: sends that ended (sent, or failed for good) queued before the cutoff, then episodes closed before
# it with no send left (an open episode, or one whose send is still tried, stays)
_OLD_SENDS = (
    "DELETE FROM alert_sends WHERE id IN (SELECT id FROM alert_sends WHERE outcome <> 'pending' "
    "AND created_at < ? LIMIT ?)"
)
_OLD_EPISODES = (
    "DELETE FROM alert_episodes WHERE id IN (SELECT e.id FROM alert_episodes e WHERE e.closed_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM alert_sends s WHERE s.episode_id = e.id) LIMIT ?)"
)


class Batches(Protocol):
    """What a backend gives the pruner: one DELETE in a transaction of its own, and a read."""

    async def delete_batch(self, sql: str, params: Sequence[Any]) -> int: ...
    async def select_rows(self, sql: str, params: Sequence[Any]) -> list[Any]: ...


async def prune(
    db: Batches,
    now: int,
    keep_days: float,
    runs_per_job: int,
    event_hours: float,
    budget_s: float | None = None,
    audit_days: float | None = None,
) -> PruneResult:
    """Apply the retention policy in batches; with `budget_s`, stop between batches once that much time
    has gone and something was deleted, and report `done=False`."""
    deadline = None if budget_s is None else time.monotonic() + budget_s
    result = PruneResult(runs=0, events=0, done=False)

    def out_of_time() -> bool:  # never before something was deleted: each pass gets somewhere
        deleted = result.runs + result.events + result.alerts + result.audit
        return deadline is not None and deleted > 0 and time.monotonic() >= deadline

    async def drain(sql: str, params: Sequence[Any], batch: int) -> bool:
        """Delete batches until none is full; False when the budget ran out first."""
        while True:
            n = await db.delete_batch(sql, (*params, batch))
            if sql is _OLD_EVENTS:
                result.events += n
            elif sql is _OLD_SENDS or sql is _OLD_EPISODES:
                result.alerts += n
            elif sql is _OLD_AUDIT:
                result.audit += n
            else:
                result.runs += n
            if n < batch:
                return True
            if out_of_time():
                return False

    if not await drain(_OLD_RUNS, (now - int(keep_days * 86_400_000),), RUN_BATCH):
        return result
    for job_id, cutoff in await db.select_rows(_CUTOFFS, (runs_per_job + 1,)):
        if out_of_time() or not await drain(_EXTRA_RUNS, (job_id, cutoff), RUN_BATCH):
            return result
    for sql in (_OLD_SENDS, _OLD_EPISODES):
        if out_of_time() or not await drain(sql, (now - int(keep_days * 86_400_000),), EVENT_BATCH):
            return result
    if out_of_time() or not await drain(_OLD_EVENTS, (now - int(event_hours * 3_600_000),), EVENT_BATCH):
        return result
    if audit_days is not None:
        if out_of_time() or not await drain(_OLD_AUDIT, (now - int(audit_days * 86_400_000),), EVENT_BATCH):
            return result
    result.done = True
    return result
