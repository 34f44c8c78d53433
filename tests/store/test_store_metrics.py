"""What `GET /metrics` reads (store/metrics.py): the runs that ended per job, status, trigger and failure kind with
both histograms (a rollup kept as runs end: it counts each run once, whichever way it ended, and neither a prune
nor a restart lowers it; the migration seeds it from the runs kept), runs active per pool, alert sends, and the
jobs past `max_jobs` summed as one — on both backends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cronui.model import FailureKind, RunStatus, Trigger
from cronui.model.records import ClaimLimits, RunEnd, RunFilter
from cronui.store import pg_schema, schema
from cronui.store.base import Store
from cronui.store.metrics import DURATION_BOUNDS_S, LATENESS_BOUNDS_S, OTHER, MetricsReading, RunGroup
from cronui.store.postgres import PostgresStore
from tests.store.backends import same_database
from tests.store.test_store import T0, new_job, pending


async def insert(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """Runs as (job_id, trigger, status, late_ms or None (not started), duration_ms, tokens, cost, failure_kind),
    inserted as the store inserts a run (one ended already: a ping's, a missed slot's)."""
    for i, (job_id, trigger, status, late, duration, tokens, cost, kind) in enumerate(rows):
        slot = T0 + i * 1000
        run = pending(job_id, slot, Trigger(trigger), status=RunStatus(status), duration_ms=duration)
        run.started_at = None if late is None else slot + late
        run.total_tokens, run.cost_usd = tokens, cost
        run.failure_kind = None if kind is None else FailureKind(kind)
        assert await store.insert_run(run) is not None


def group(groups: list[RunGroup], job_id: int, status: str, trigger: str = "schedule", kind: str = "") -> RunGroup:
    (found,) = [g for g in groups if (g.job_id, g.status, g.trigger, g.failure_kind) == (job_id, status, trigger, kind)]
    return found


async def test_runs_are_summed_per_job_status_trigger_and_failure_kind(backend: Store) -> None:
    a = await new_job(backend, "a")
    b = await new_job(backend, "b", pool=None)
    await insert(
        backend,
        [
            (a.id, "schedule", "succeeded", 50, 200, 10, 0.25, None),
            (a.id, "schedule", "succeeded", 2000, 40_000, 5, None, None),
            (a.id, "schedule", "failed", -300, 700, None, None, "infra"),  # started early: lateness 0
            (a.id, "manual", "failed", 0, 4_000_000, None, None, "job"),  # past every bound: +Inf only
            (b.id, "schedule", "pending", None, None, None, None, None),  # not started: no lateness
        ],
    )
    reading = await backend.metrics_reading(1000)
    assert reading.jobs == {a.id: "a", b.id: "b"}
    ok = group(reading.runs, a.id, "succeeded")
    assert (ok.runs, ok.tokens, ok.cost_usd) == (2, 15, 0.25)
    assert (ok.duration.count, ok.duration.sum_ms, ok.lateness.count, ok.lateness.sum_ms) == (2, 40_200, 2, 2050)
    # cumulative: 200 ms is under 0.5 s and every bound above; 40 s under 60 s and above
    assert ok.duration.buckets == [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    assert ok.lateness.buckets == [1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert len(ok.duration.buckets) == len(DURATION_BOUNDS_S) and len(ok.lateness.buckets) == len(LATENESS_BOUNDS_S)
    infra = group(reading.runs, a.id, "failed", kind="infra")
    assert (infra.runs, infra.lateness.sum_ms, infra.lateness.buckets[0], infra.tokens, infra.cost_usd) == (
        1,
        0,
        1,
        0,
        None,
    )
    slow = group(reading.runs, a.id, "failed", "manual", "job")
    assert slow.duration.count == 1 and slow.duration.buckets == [0] * len(DURATION_BOUNDS_S)
    assert not [g for g in reading.runs if g.job_id == b.id]  # a run still pending has not ended
    assert sum(g.runs for g in reading.runs) == 4


async def test_jobs_past_max_jobs_and_removed_ones_are_summed_as_one(backend: Store) -> None:
    jobs = [await new_job(backend, f"j{i}") for i in range(4)]
    await insert(backend, [(j.id, "schedule", "succeeded", 0, 100, 1, None, None) for j in jobs for _ in range(2)])
    await backend.remove_job(jobs[0].id, T0)
    reading = await backend.metrics_reading(2)
    assert reading.jobs == {jobs[1].id: "j1", jobs[2].id: "j2"}  # the oldest live ones
    assert {g.job_id: g.runs for g in reading.runs} == {jobs[1].id: 2, jobs[2].id: 2, OTHER: 4}
    assert group(reading.runs, OTHER, "succeeded").tokens == 4
    none = await backend.metrics_reading(0)
    assert none.jobs == {} and [(g.job_id, g.runs) for g in none.runs] == [(OTHER, 8)]
    assert set(none.health) == {j.id for j in jobs[1:]}  # health: every live job, labelled or not


async def test_active_runs_per_pool_and_alert_sends_by_kind_and_outcome(backend: Store) -> None:
    pooled = await new_job(backend, "pooled", pool="gpu")
    free = await new_job(backend, "free")
    await insert(
        backend,
        [
            (pooled.id, "manual", "running", 0, None, None, None, None),
            (pooled.id, "manual", "pending", None, None, None, None, None),
            (pooled.id, "manual", "pending", None, None, None, None, None),
            (free.id, "manual", "awaiting_approval", None, None, None, None, None),
            (free.id, "manual", "succeeded", 0, 5, None, None, None),
        ],
    )
    async with backend.transaction() as db:
        await db.execute(
            "INSERT INTO alert_episodes (subject, kind, episode, job_id, text, opened_at) VALUES (?, ?, ?, ?, ?, ?)",
            ("job:1", "late", "1", free.id, "late", T0),
        )
        for notice, channel, outcome in (("late", "a", "sent"), ("late", "b", "failed"), ("recovered", "a", "sent")):
            await db.execute(
                "INSERT INTO alert_sends (episode_id, notice, channel, created_at, next_at, outcome) "
                "VALUES ((SELECT MAX(id) FROM alert_episodes), ?, ?, ?, ?, ?)",
                (notice, channel, T0, T0, outcome),
            )
    reading = await backend.metrics_reading(10)
    assert sorted(reading.active) == [("", "awaiting_approval", 1), ("gpu", "pending", 2), ("gpu", "running", 1)]
    assert sorted(reading.sends) == [("late", "failed", 1), ("late", "sent", 1), ("recovered", "sent", 1)]
    assert reading.health == {pooled.id: "never_ran", free.id: "late"}


def tallied(reading: MetricsReading) -> dict[tuple[int, str, str], int]:
    """Runs ended per (job, status, trigger)."""
    out: dict[tuple[int, str, str], int] = {}
    for g in reading.runs:
        key = (g.job_id, g.status, g.trigger)
        out[key] = out.get(key, 0) + g.runs
    return out


async def test_each_run_is_counted_once_as_it_ends_whichever_way_it_ends(backend: Store) -> None:
    job = await new_job(backend, "a")
    finished = await backend.insert_run(pending(job.id, T0))
    skipped = await backend.insert_run(pending(job.id, T0 + 1, Trigger.MANUAL))
    waiting = await backend.insert_run(pending(job.id, T0 + 2, Trigger.MANUAL))
    [(finished, _)] = (await backend.claim("n", T0, 30_000, ClaimLimits(10, only_roots=[finished.id]))).started
    assert tallied(await backend.metrics_reading(10)) == {}  # running and pending: not ended yet
    finished.status, finished.started_at, finished.finished_at = RunStatus.FAILED, T0 + 1500, T0 + 4500
    finished.duration_ms, finished.failure_kind = 3000, "job"
    retry = pending(job.id, T0, Trigger.RETRY, attempt=2, retry_of=finished.id, not_before=T0 + 1000)
    [recorded] = await backend.finish_runs([RunEnd(finished, retry=retry)])
    assert (await backend.request_cancel(skipped.id, T0)).status is RunStatus.CANCELLED
    # an end the fence refuses (written already) is not counted again
    assert await backend.finish_runs([RunEnd(finished)]) == [None]
    reading = await backend.metrics_reading(10)
    assert tallied(reading) == {(job.id, "failed", "schedule"): 1, (job.id, "cancelled", "manual"): 1}
    failed = group(reading.runs, job.id, "failed", kind="job")
    assert (failed.duration.count, failed.duration.sum_ms, failed.lateness.sum_ms) == (1, 3000, 1500)
    assert failed.duration.buckets[:4] == [0, 0, 0, 1]  # 3 s: over 1 s, under 5 s
    # the retry, inserted pending by that end, ends too
    [(again, _)] = (await backend.claim("n", T0 + 2000, 30_000, ClaimLimits(10, only_roots=[finished.id]))).started
    assert again.id == recorded.inserted[0].id
    again.status, again.finished_at = RunStatus.SUCCEEDED, T0 + 2500
    await backend.finish_runs([RunEnd(again)])
    assert (await backend.request_cancel(waiting.id, T0)).status is RunStatus.CANCELLED
    assert tallied(await backend.metrics_reading(10)) == {
        (job.id, "failed", "schedule"): 1,
        (job.id, "succeeded", "retry"): 1,
        (job.id, "cancelled", "manual"): 2,
    }


async def test_a_prune_and_a_restart_leave_the_counts_as_they_were(backend: Store) -> None:
    job = await new_job(backend, "a")
    day = 86_400_000
    for i in range(6):
        run = await backend.insert_run(pending(job.id, T0 + i * day))
        run.status, run.duration_ms, run.total_tokens = RunStatus.SUCCEEDED, 100, 10
        await backend.finish_runs([RunEnd(run)])
    before = await backend.metrics_reading(10)
    assert tallied(before) == {(job.id, "succeeded", "schedule"): 6}
    res = await backend.prune(T0 + 6 * day, keep_days=2, runs_per_job=2, event_hours=1)
    assert res.runs == 4 and len(await backend.list_runs(RunFilter(job_id=job.id))) == 2
    after = await backend.metrics_reading(10)
    assert after.runs == before.runs  # counters: what was pruned still ended once
    await backend.close()
    again = same_database(backend)
    await again.open()
    try:
        assert (await again.metrics_reading(10)).runs == before.runs
        run = await again.insert_run(pending(job.id, T0 + 7 * day))
        run.status, run.duration_ms, run.total_tokens = RunStatus.SUCCEEDED, 100, 10
        await again.finish_runs([RunEnd(run)])
        ok = group((await again.metrics_reading(10)).runs, job.id, "succeeded")
        assert (ok.runs, ok.tokens, ok.duration.count, ok.duration.sum_ms) == (7, 70, 7, 700)
    finally:
        await again.close()
        await backend.open()  # the fixture closes it


async def test_the_ends_of_runs_are_folded_once_by_stores_folding_at_the_same_time(backend: Store) -> None:
    job = await new_job(backend, "a")
    await insert(backend, [(job.id, "manual", "succeeded", 0, 10, 1, None, None)] * 500)
    other = same_database(backend)
    await other.open()
    try:
        folded = await asyncio.gather(*(s.fold_run_ends(batch=7) for s in (backend, other, backend, other)))
        assert sum(folded) == 500
        assert tallied(await other.metrics_reading(10)) == {(job.id, "succeeded", "manual"): 500}
    finally:
        await other.close()


def _rollup_first(monkeypatch: pytest.MonkeyPatch, postgres: bool) -> int:
    """The rollup migration's index in the backend's list; the migrations after it become no-ops."""
    import cronui.store.postgres as postgres_store

    modules = (pg_schema, postgres_store) if postgres else (schema,)
    at = next(i for i, m in enumerate(modules[0].MIGRATIONS) if "CREATE TABLE run_tallies" in m)
    for module in modules:
        migrations = list(module.MIGRATIONS)
        migrations[at + 1 :] = ["SELECT 1;"] * (len(migrations) - at - 1)
        monkeypatch.setattr(module, "MIGRATIONS", migrations)
    return at


async def test_the_migration_seeds_the_counts_from_the_runs_kept_once(
    backend: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await new_job(backend, "a")
    await insert(
        backend,
        [
            (job.id, "schedule", "succeeded", 50, 200, 10, 0.25, None),
            (job.id, "schedule", "failed", 0, 700, None, None, "infra"),
            (job.id, "schedule", "running", 0, None, None, None, None),
        ],
    )
    # the database as the version before the rollup left it: the rows of these runs, no rollup
    async with backend.transaction() as db:
        await db.execute("DROP TRIGGER runs_ended" + (" ON runs" if isinstance(backend, PostgresStore) else ""))
        for table in ("run_tallies", "run_ends"):
            await db.execute(f"DROP TABLE {table}")
        # the rollup's migration runs again; those after it are already applied (made no-ops here)
        rollup = _rollup_first(monkeypatch, isinstance(backend, PostgresStore))
        if isinstance(backend, PostgresStore):
            await db.execute("DROP FUNCTION cronui_run_ended()")
            await db.execute(f"UPDATE cronui_schema SET version = {rollup}")
        else:
            await db.execute(f"PRAGMA user_version = {rollup}")
    await backend.close()
    migrated = same_database(backend)
    await migrated.open()
    try:
        assert await migrated.check() == []
        reading = await migrated.metrics_reading(10)
        assert tallied(reading) == {(job.id, "succeeded", "schedule"): 1, (job.id, "failed", "schedule"): 1}
        ok = group(reading.runs, job.id, "succeeded")
        assert (ok.tokens, ok.cost_usd, ok.duration.sum_ms, ok.lateness.sum_ms) == (10, 0.25, 200, 50)
        assert group(reading.runs, job.id, "failed", kind="infra").duration.buckets[:3] == [0, 0, 1]
        async with migrated.transaction() as db:  # the running one ends after the migration: counted then
            await db.execute("UPDATE runs SET status = 'succeeded' WHERE status = 'running'")
        assert tallied(await migrated.metrics_reading(10))[(job.id, "succeeded", "schedule")] == 2
    finally:
        await migrated.close()
        await backend.open()
