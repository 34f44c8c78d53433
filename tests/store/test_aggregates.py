"""Counts and duration figures the database computes (store/aggregates.py), on both backends."""

from __future__ import annotations

from cronui.model import RunStatus
from cronui.model.records import percentile
from cronui.store.base import Store
from tests.store.test_store import T0, new_job


async def runs(store: Store, job_id: int, rows: list[tuple[str, int | None]], *, at: int = T0, **cols: object) -> None:
    """Runs of a job with these (status, duration_ms), queued one ms apart from `at`."""
    extra = "".join(f", {c}" for c in cols)
    marks = "".join(", ?" for _ in cols)
    async with store.transaction() as db:
        for i, (status, duration) in enumerate(rows):
            await db.execute(
                f"INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, duration_ms{extra})"
                f" VALUES (?, 'schedule', ?, ?, ?, ?{marks})",
                (job_id, at + i, status, at + i, duration, *cols.values()),
            )


async def test_job_stats_are_counted_and_ranked_by_the_database(backend: Store):
    job = await new_job(backend)
    durations = [(i * 37) % 101 + 1 for i in range(101)]  # 1..101, shuffled
    await runs(backend, job.id, [("succeeded", d) for d in durations[:80]], total_tokens=3, cost_usd=0.5)
    await runs(backend, job.id, [("failed", d) for d in durations[80:]] + [("timed_out", None)], at=T0 + 1000)
    await runs(backend, job.id, [("skipped", 5000), ("cancelled", 6000), ("running", None)], at=T0 + 2000)
    st = await backend.job_stats(job.id)
    assert (st.runs, st.succeeded, st.failed) == (102, 80, 22)
    assert (st.median_ms, st.p95_ms) == (percentile(sorted(durations), 0.5), percentile(sorted(durations), 0.95))
    assert (st.median_ms, st.p95_ms) == (51, 96)
    assert st.total_tokens == 240 and st.cost_usd == 40.0
    since = await backend.job_stats(job.id, since=T0 + 1000)  # the failures only
    assert (since.runs, since.succeeded, since.median_ms, since.cost_usd) == (
        22,
        0,
        percentile(sorted(durations[80:]), 0.5),
        None,
    )
    none = await backend.job_stats(job.id, since=T0 + 10_000)
    assert (none.runs, none.median_ms, none.p95_ms, none.total_tokens) == (0, None, None, 0)


async def test_latest_durations_are_a_bounded_window_of_the_newest(backend: Store):
    job = await new_job(backend)
    await runs(backend, job.id, [("succeeded", d) for d in (900, 800, 700)])
    await runs(backend, job.id, [("failed", 30), ("skipped", 1), ("succeeded", None), ("succeeded", 10)], at=T0 + 10)
    assert await backend.latest_durations(None, 3) == [10, 30]  # the newest 3 finished; one had no duration
    assert await backend.latest_durations(None, 100) == [10, 30, 700, 800, 900]
    assert await backend.latest_durations(T0 + 2, 100) == [10, 30, 700]


async def test_runs_are_counted_per_status_without_a_cap(backend: Store):
    job = await new_job(backend)
    await runs(backend, job.id, [("pending", None)] * 3 + [("running", None)] * 2 + [("succeeded", 1)])
    counts = await backend.run_counts([RunStatus.RUNNING, RunStatus.PENDING, RunStatus.AWAITING_APPROVAL])
    assert counts == {RunStatus.RUNNING: 2, RunStatus.PENDING: 3, RunStatus.AWAITING_APPROVAL: 0}
    assert await backend.run_counts([]) == {}
