"""What `GET /metrics` reads (store/metrics.py): aggregates per job, status, trigger and failure kind with both
histograms, runs active per pool, alert sends, and the jobs past `max_jobs` summed as one — on both backends."""

from __future__ import annotations

from typing import Any

from cronui.store.base import Store
from cronui.store.metrics import DURATION_BOUNDS_S, LATENESS_BOUNDS_S, OTHER, RunGroup
from tests.store.test_store import T0, new_job

COLUMNS = "job_id, trigger, scheduled_for, status, queued_at, started_at, duration_ms, total_tokens, cost_usd"


async def insert(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """Runs as (job_id, trigger, status, late_ms or None (not started), duration_ms, tokens, cost, failure_kind)."""
    async with store.transaction() as db:
        for i, (job_id, trigger, status, late, duration, tokens, cost, kind) in enumerate(rows):
            slot = T0 + i * 1000
            started = None if late is None else slot + late
            await db.execute(
                f"INSERT INTO runs ({COLUMNS}, failure_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, trigger, slot, status, slot, started, duration, tokens, cost, kind),
            )


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
    waiting = group(reading.runs, b.id, "pending")
    assert (waiting.runs, waiting.duration.count, waiting.lateness.count) == (1, 0, 0)
    assert sum(g.runs for g in reading.runs) == 5


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
