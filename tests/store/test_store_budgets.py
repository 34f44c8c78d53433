"""The Store contract for daily budgets: what runs cost today (`spent_since`), and a claim that turns away
an agent job's runs once its own or all agent jobs' budget is spent (parametrized by backend)."""

from __future__ import annotations

from cronui.model import REASON_BUDGET, Job, OverlapPolicy, Run, RunStatus, TargetKind, Trigger
from cronui.model.records import DAY_MS, ClaimLimits, RunEnd, RunFilter, day_start
from cronui.store.base import Store
from cronui.targets import AgentTarget
from tests.store.test_claims import LEASE, T0, add_job, queue

TODAY = day_start(T0)


async def add_agent(store: Store, name: str, budget: float | None = None) -> Job:
    job = Job(
        name=name,
        schedule="0 * * * *",
        timezone="UTC",
        kind=TargetKind.AGENT,
        target=AgentTarget("http://127.0.0.1:9/v1", "m", "hi", daily_budget_usd=budget),
        overlap=OverlapPolicy.ALLOW,
        created_at=T0,
        updated_at=T0,
        next_run_at=T0 + 3_600_000,
    )
    return await store.create_job(job)


async def spend(store: Store, job_id: int, cost: float | None, at: int = T0) -> Run:
    """One run of the job that finished at `at` having cost `cost`."""
    [run] = await queue(store, job_id, 1, Trigger.MANUAL, at=at - 1000)
    got = await store.claim("n1", at - 1000, LEASE, ClaimLimits(1, only_roots=[run.id]))
    run = got.started[0][0]
    run.status, run.finished_at, run.cost_usd = RunStatus.SUCCEEDED, at, cost
    [recorded] = await store.finish_runs([RunEnd(run)])
    assert recorded is not None
    return run


async def test_spent_since_sums_what_finished_runs_cost_per_job_and_in_all(backend: Store):
    a = await add_agent(backend, "a")
    b = await add_agent(backend, "b")
    await spend(backend, a.id, 0.25, at=TODAY - 1)  # yesterday: not today's
    await spend(backend, a.id, 0.5)
    await spend(backend, a.id, None)  # cost unknown: counts as nothing known, never as an error
    await spend(backend, b.id, 0.125)
    assert await backend.spent_since(TODAY, a.id) == 0.5
    assert await backend.spent_since(TODAY, b.id) == 0.125
    assert await backend.spent_since(TODAY) == 0.625
    assert await backend.spent_since(TODAY - DAY_MS, a.id) == 0.75
    assert await backend.spent_since(TODAY + DAY_MS) == 0.0


async def test_a_job_whose_daily_budget_is_spent_gets_its_runs_skipped_until_the_next_utc_day(backend: Store):
    capped = await add_agent(backend, "capped", budget=1.0)
    free = await add_agent(backend, "free")
    await spend(backend, capped.id, 0.4)
    [first] = await queue(backend, capped.id, 1, at=T0 + 1000)
    got = await backend.claim("n1", T0 + 2000, LEASE, ClaimLimits(10))
    assert [r.id for r, _ in got.started] == [first.id]  # $0.40 spent, another $0.40 fits in $1
    ran = got.started[0][0]
    ran.status, ran.finished_at, ran.cost_usd = RunStatus.SUCCEEDED, T0 + 3000, 0.4
    assert (await backend.finish_runs([RunEnd(ran)]))[0] is not None
    # $0.80 spent: one more run like the last would pass $1, so its next runs are skipped; the other's start
    late = await queue(backend, capped.id, 2, at=T0 + 10_000)
    [other] = await queue(backend, free.id, 1, at=T0 + 10_000)
    got = await backend.claim("n1", T0 + 20_000, LEASE, ClaimLimits(10))
    assert [r.id for r, _ in got.started] == [other.id]
    assert sorted(r.id for r in got.skipped) == sorted(r.id for r in late)
    for run in got.skipped:
        assert run.status is RunStatus.SKIPPED
        assert run.reason is not None and run.reason.startswith(
            f"{REASON_BUDGET}: $0.8000 spent today (UTC), a run costs about $0.4000, the job's daily budget is $1"
        )
        assert run.started_at is None and run.finished_at == T0 + 20_000
    stored = await backend.list_runs(RunFilter(job_id=capped.id, statuses=[RunStatus.SKIPPED]))
    assert len(stored) == 2
    # a new UTC day: the budget is whole again
    tomorrow = TODAY + DAY_MS + 5000
    [next_day] = await queue(backend, capped.id, 1, at=tomorrow)
    got = await backend.claim("n1", tomorrow + 1000, LEASE, ClaimLimits(10))
    assert [r.id for r, _ in got.started] == [next_day.id] and got.skipped == []


async def test_the_budget_for_all_agent_jobs_counts_every_job_and_leaves_other_kinds_alone(backend: Store):
    a = await add_agent(backend, "a")
    b = await add_agent(backend, "b")
    shell = await add_job(backend, "shell", overlap=OverlapPolicy.ALLOW)
    await spend(backend, a.id, 0.3)
    await spend(backend, b.id, 0.2)
    [ra] = await queue(backend, a.id, 1, at=T0 + 1000)
    [rs] = await queue(backend, shell.id, 1, at=T0 + 1000)
    under = await backend.claim("n1", T0 + 2000, LEASE, ClaimLimits(10, daily_budget_usd=0.8))
    assert sorted(r.id for r, _ in under.started) == sorted([ra.id, rs.id])  # $0.50 + about $0.30: $0.80
    [rb] = await queue(backend, b.id, 1, at=T0 + 3000)
    [rs2] = await queue(backend, shell.id, 1, at=T0 + 3000)
    over = await backend.claim("n1", T0 + 4000, LEASE, ClaimLimits(10, daily_budget_usd=0.5))
    assert [r.id for r, _ in over.started] == [rs2.id]
    [skipped] = over.skipped
    assert skipped.id == rb.id and skipped.reason is not None
    assert skipped.reason == (
        f"{REASON_BUDGET}: $0.5000 spent today (UTC) by agent jobs, a run costs about $0.2000, "
        "[budget] daily_usd is $0.5"
    )


async def test_a_backlog_claimed_at_once_starts_only_what_the_budget_holds(backend: Store):
    """A catch-up's runs claimed together: each one started counts its estimate, so the claim stops at the
    budget instead of starting every run before any has a cost."""
    job = await add_agent(backend, "backlog", budget=0.7)
    await spend(backend, job.id, 0.2)
    await queue(backend, job.id, 5, at=T0 + 1000)
    got = await backend.claim("n1", T0 + 10_000, LEASE, ClaimLimits(10))
    assert len(got.started) == 2  # $0.20 spent + 2 x $0.20 = $0.60; a third would make $0.80
    assert len(got.skipped) == 3 and all(r.reason and r.reason.startswith("budget: ") for r in got.skipped)


async def test_a_job_without_a_known_cost_yet_is_held_only_by_what_was_spent(backend: Store):
    job = await add_agent(backend, "new", budget=0.5)
    [run] = await queue(backend, job.id, 1, at=T0 + 1000)
    got = await backend.claim("n1", T0 + 2000, LEASE, ClaimLimits(10))
    assert [r.id for r, _ in got.started] == [run.id] and got.skipped == []


async def test_what_today_cost_in_all_is_read_from_an_index_of_costed_runs(tmp_path):
    """The budget for all agent jobs is checked on every claim of an agent run: never a scan of every run."""
    from cronui.store.sql_reads import spent_query as _spent_query
    from cronui.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "plan.db")
    await store.open()
    try:
        sql, params = _spent_query(TODAY, None)
        plan = await store.fetch_all(f"EXPLAIN QUERY PLAN {sql}", params)
        assert "runs_costed" in " ".join(str(row[3]) for row in plan)
    finally:
        await store.close()
