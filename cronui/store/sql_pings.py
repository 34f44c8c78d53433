"""Pings of check jobs as both SQL backends record them: one transaction that moves the job's next fire past
the slot a ping answers (compare-and-set, as planning does), writes the slots it passed over as missed, and
records the ping as a run — a new row, or the end of the job's open start — with the job's bookkeeping and
what the end means for its `--alert-after` (a `failure` episode opened or closed, routed and sent by the
process holding the scheduler).
"""

from __future__ import annotations

from cronui.model import Run
from cronui.model.failures import failure_step
from cronui.model.records import PingWrite, RunEnd
from cronui.store.alerts import open_failure_episodes, write_failure_step
from cronui.store.dialect import Tx
from cronui.store.rows import RUN_COLUMNS, job_from_row, run_to_row
from cronui.store.sql_runs import END_COLUMNS, SqlRuns

# the job's latest start not yet ended (an end ping closes it)
OPEN_START = (
    "SELECT id, scheduled_for, queued_at, started_at FROM runs "
    "WHERE job_id = ? AND status = 'running' AND trigger = 'ping' ORDER BY id DESC LIMIT 1"
)


class SqlPings(SqlRuns):
    """Recording pings, the same way on each engine."""

    async def record_ping(self, ping: PingWrite) -> Run | None:
        """Record `ping` (see PingWrite); the run as stored, or None when the job's next fire moved since
        the caller read it (nothing was written: read the job again and plan the ping anew)."""
        run = ping.run
        d = self.dialect
        async with self.write() as tx:
            if d.for_update:  # the job's row first: its runs' inserts would take a share of it (their foreign
                # key), and two pings' bookkeeping then waited for each other's share (a deadlock)
                await tx.row(f"SELECT 1 FROM jobs WHERE id = ?{d.for_update}", (run.job_id,))
            opened = await tx.row(OPEN_START + d.for_update, (run.job_id,)) if ping.closes else None
            if ping.settles and opened is None:  # an end of an open start answers no slot: its start did
                moved = await tx.row(
                    f"UPDATE jobs SET next_run_at = ? WHERE id = ? AND next_run_at {d.same} ? RETURNING id",
                    (ping.next_run_at, run.job_id, ping.expected),
                )
                if moved is None:
                    return None
                await self._insert_runs(tx, list(ping.missed))
            if opened is not None:
                run.id, run.scheduled_for, run.queued_at, run.started_at = (
                    opened[0],
                    opened[1],
                    opened[2],
                    opened[3],
                )
                if run.started_at is not None and run.finished_at is not None:
                    run.duration_ms = max(0, run.finished_at - run.started_at)
                run.node, run.lease_expires_at = None, None
                row = run_to_row(run)
                sets = ", ".join(f"{c} = ?" for c in END_COLUMNS)
                await tx.run(f"UPDATE runs SET {sets} WHERE id = ?", [*(row[c] for c in END_COLUMNS), run.id])
            else:
                inserted = await self._insert_runs(tx, [run], RUN_COLUMNS)
                if not inserted:  # the same slot's row exists (a ping trigger has no unique key): not here
                    return None
            if run.status.is_final:
                [(failures, _)] = await self._bookkeeping(tx, [RunEnd(run)])
                ping.alerted = await self._weigh(tx, run, failures)
            assert run.id is not None
            [stored] = await self._runs_by_id(tx, [run.id])
        return stored

    async def _weigh(self, tx: Tx, run: Run, failures: int) -> int:
        """The check's `failure` episode after this end (`--alert-after`, model.failures), decided here: every
        process that reports pings writes them through this transaction, whose bookkeeping holds the job's
        row (PostgreSQL: locked until commit; SQLite: one writer), so two pings of one check on two nodes are
        weighed one after the other, the second seeing the first's count and episode; and a ping is never
        kept without its alert, nor an alert without its ping."""
        found = await tx.row("SELECT * FROM jobs WHERE id = ?", (run.job_id,))
        if found is None:
            return 0
        job = job_from_row(found)
        if not job.delivery.alert_target:
            return 0
        now = run.finished_at or run.queued_at
        step = failure_step(job, run, failures, None, await open_failure_episodes(tx, run.job_id), now)
        return 0 if step is None else await write_failure_step(tx, step, now)
