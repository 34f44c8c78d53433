"""The Store contract for what the store decides: claims (fairness, caps, pools, overlap and queue limits,
not hiding what can start), run ends (counters under concurrent writers, auto-disable once), and slots
(compare-and-set). Every backend must pass it (parametrized by backend)."""

from __future__ import annotations

import asyncio
from collections import Counter

from cronui.model import OverlapPolicy, Run, RunStatus, Trigger
from cronui.model.records import ClaimLimits, RunEnd, RunFilter, SlotWrite
from cronui.store.base import Store
from cronui.store.postgres import PostgresStore
from tests.helpers import make_job
from tests.store.backends import same_database, store_clock

T0 = 1_780_000_000_000
LEASE = 30_000


async def add_job(store: Store, name: str, **kw):
    job = make_job(name, **kw)
    job.created_at = job.updated_at = T0
    job.next_run_at = T0 + 3_600_000
    return await store.create_job(job)


async def queue(store: Store, job_id: int, n: int = 1, trigger: Trigger = Trigger.SCHEDULE, at: int = T0) -> list[Run]:
    """n pending runs of a job, one slot a second from `at`."""
    runs = []
    for i in range(n):
        slot = at + i * 1000
        run = await store.insert_run(
            Run(job_id=job_id, trigger=trigger, scheduled_for=slot, queued_at=slot, not_before=slot)
        )
        assert run is not None
        runs.append(run)
    return runs


async def claim(store: Store, capacity: int = 100, now: int = T0 + 60_000, node: str = "n1", **kw):
    return await store.claim(node, now, LEASE, ClaimLimits(capacity, **kw))


async def claims_at_once(store: Store, rounds: int, capacity: int, **kw):
    """`rounds` claims from each of two processes on one database at the same moment, every claimer ready
    first (a server store opens its pool's connections as they are needed)."""
    other = same_database(store)
    await other.open()
    try:
        await asyncio.gather(*[s.list_jobs() for _ in range(rounds) for s in (store, other)])
        return await asyncio.gather(
            *[claim(s, capacity=capacity, node=f"node{i}", **kw) for i in range(rounds) for s in (store, other)]
        )
    finally:
        await other.close()


def names(claimed) -> list[str]:
    return [job.name for _, job in claimed.started]


async def statuses(store: Store, job_id: int) -> list[RunStatus]:
    return [r.status for r in reversed(await store.list_runs(RunFilter(job_id=job_id, limit=10_000)))]


# ------------------------------------------------------------------ claims


async def test_claims_are_fair_across_jobs(backend: Store):
    """A job with a deep backlog gets one run per round like every other job, not the whole capacity."""
    busy = await add_job(backend, "busy", overlap=OverlapPolicy.ALLOW)
    await queue(backend, busy.id, 50)
    for name in ("b", "c"):
        await queue(backend, (await add_job(backend, name, overlap=OverlapPolicy.ALLOW)).id, 1, at=T0 + 40_000)
    got = await claim(backend, capacity=3)
    assert sorted(names(got)) == ["b", "busy", "c"]
    got = await claim(backend, capacity=3)
    assert names(got) == ["busy"] * 3
    # oldest first within a job
    slots = [run.scheduled_for for run, _ in got.started]
    assert slots == sorted(slots) and slots[0] == T0 + 1000


async def test_runs_that_cannot_start_never_hide_runs_that_can(backend: Store):
    """600 jobs in a pool of one with thousands of runs waiting: an unrelated run still starts at once."""
    for i in range(600):
        job = await add_job(backend, f"pooled{i:03d}", pool="p", overlap=OverlapPolicy.QUEUE, queue_limit=5)
        await queue(backend, job.id, 5)
    first = await claim(backend, capacity=16, pools={"p": 1})
    assert len(first.started) == 1 and first.skipped == []  # the pool admits one; the rest wait, none lost
    other = await add_job(backend, "unrelated")
    [manual] = await queue(backend, other.id, 1, Trigger.MANUAL, at=T0 + 59_000)  # the newest run of all
    second = await claim(backend, capacity=16, pools={"p": 1})
    assert names(second) == ["unrelated"]
    assert second.started[0][0].id == manual.id


async def test_the_node_capacity_and_pools_are_applied_by_the_store(backend: Store):
    for i in range(4):
        await queue(backend, (await add_job(backend, f"plain{i}")).id)
    for i in range(3):
        await queue(backend, (await add_job(backend, f"llm{i}", pool="llm")).id)
    got = await claim(backend, capacity=0, pools={"llm": 2})
    assert got.started == []
    got = await claim(backend, capacity=5, pools={"llm": 2})
    assert len(got.started) == 5
    got = await claim(backend, capacity=10, pools={"llm": 2})
    started = [job for _, job in got.started]
    # 7 runs in all, the pool of 2 already had its share or takes the rest of it
    assert len(started) + 5 == 6
    running = await backend.list_runs(RunFilter(statuses=[RunStatus.RUNNING]))
    pools = Counter(r.job_name.rstrip("0123456789") for r in running)
    assert pools == {"plain": 4, "llm": 2}


async def test_a_pool_counts_runs_running_on_other_nodes(backend: Store):
    a = await add_job(backend, "a", pool="gpu")
    b = await add_job(backend, "b", pool="gpu")
    await queue(backend, a.id)
    assert names(await claim(backend, node="other", pools={"gpu": 1})) == ["a"]
    await queue(backend, b.id)
    assert (await claim(backend, node="me", pools={"gpu": 1})).started == []
    assert (await claim(backend, node="me", pools={"gpu": 2})).started != []


async def test_overlap_skip_turns_away_new_runs_while_one_runs_and_a_retry_waits_its_turn(backend: Store):
    job = await add_job(backend, "skipper", overlap=OverlapPolicy.SKIP)
    await queue(backend, job.id)
    [(first, _)] = (await claim(backend, node="elsewhere")).started
    [second] = await queue(backend, job.id, at=T0 + 1000)
    retry = await backend.insert_run(
        Run(job_id=job.id, trigger=Trigger.RETRY, scheduled_for=T0 - 60_000, attempt=2, queued_at=T0, not_before=T0)
    )
    got = await claim(backend)
    assert [r.id for r in got.skipped] == [second.id]
    assert got.skipped[0].status is RunStatus.SKIPPED
    assert got.skipped[0].reason == f"overlap: run #{first.id} still running"
    assert got.started == []  # never two executions of the job at once, not even a retry
    assert (await backend.get_run(retry.id)).status is RunStatus.PENDING
    first.status, first.finished_at = RunStatus.SUCCEEDED, T0 + 2
    await backend.finish_runs([RunEnd(first)])
    assert [r.id for r, _ in (await claim(backend)).started] == [retry.id]


async def test_a_retry_goes_before_a_new_slot_of_its_job(backend: Store):
    job = await add_job(backend, "both", overlap=OverlapPolicy.SKIP)
    [slot] = await queue(backend, job.id, at=T0 + 5_000)
    retry = await backend.insert_run(
        Run(job_id=job.id, trigger=Trigger.RETRY, scheduled_for=T0, attempt=2, queued_at=T0, not_before=T0 + 10_000)
    )
    got = await claim(backend)
    assert [r.id for r, _ in got.started] == [retry.id]  # one at a time, the older slot's attempt first
    assert (await backend.get_run(slot.id)).status is RunStatus.PENDING
    got = await claim(backend)
    assert [r.id for r in got.skipped] == [slot.id] and got.started == []


async def test_overlap_skip_keeps_one_waiting_run_per_job(backend: Store):
    """A job that waits for a full pool does not pile up runs: the newer ones are skipped as overlap."""
    job = await add_job(backend, "waiter", pool="p")
    runs = await queue(backend, job.id, 3)
    blocker = await add_job(backend, "blocker", pool="p")
    await queue(backend, blocker.id, at=T0 - 10_000)
    got = await claim(backend, pools={"p": 1})
    assert names(got) == ["blocker"]
    assert [r.id for r in got.skipped] == [r.id for r in runs[1:]]
    assert {r.reason for r in got.skipped} == {f"overlap: run #{runs[0].id} still waiting to start"}
    assert await statuses(backend, job.id) == [RunStatus.PENDING, RunStatus.SKIPPED, RunStatus.SKIPPED]


async def test_overlap_queue_keeps_the_oldest_up_to_its_limit(backend: Store):
    job = await add_job(backend, "queued", overlap=OverlapPolicy.QUEUE, queue_limit=2)
    await queue(backend, job.id)
    assert names(await claim(backend)) == ["queued"]
    waiting = await queue(backend, job.id, 4, at=T0 + 1000)
    got = await claim(backend)
    assert got.started == []
    assert [r.id for r in got.skipped] == [r.id for r in waiting[2:]]
    assert {r.reason for r in got.skipped} == {"queue full (limit 2)"}
    assert await statuses(backend, job.id) == [RunStatus.RUNNING] + [RunStatus.PENDING] * 2 + [RunStatus.SKIPPED] * 2


async def test_catch_up_runs_go_one_after_another_and_new_slots_wait_behind_them(backend: Store):
    job = await add_job(backend, "behind", overlap=OverlapPolicy.SKIP)
    catchups = await queue(backend, job.id, 3, Trigger.CATCHUP)
    [slot] = await queue(backend, job.id, at=T0 + 10_000)
    got = await claim(backend)
    assert [r.id for r, _ in got.started] == [catchups[0].id] and got.skipped == []
    got = await claim(backend)
    assert got.started == [] and got.skipped == []  # nothing is lost while it catches up
    assert await statuses(backend, job.id) == [RunStatus.RUNNING] + [RunStatus.PENDING] * 3
    assert slot.id is not None


async def test_runs_of_a_removed_job_are_cancelled_not_started(backend: Store):
    job = await add_job(backend, "gone")
    [run] = await queue(backend, job.id)
    async with backend.transaction() as db:  # removed behind the scheduler's back, runs left pending
        await db.execute("UPDATE jobs SET deleted_at = ? WHERE id = ?", (T0, job.id))
    got = await claim(backend)
    assert got.started == []
    assert [(r.id, r.status, r.reason) for r in got.skipped] == [(run.id, RunStatus.CANCELLED, "job removed")]


async def test_only_roots_limits_a_claim_to_those_runs_and_their_retries(backend: Store):
    job = await add_job(backend, "solo", overlap=OverlapPolicy.ALLOW)
    mine, theirs = await queue(backend, job.id, 2)
    got = await claim(backend, only_roots=[mine.id])
    assert [r.id for r, _ in got.started] == [mine.id]
    assert (await backend.get_run(theirs.id)).status is RunStatus.PENDING


async def test_two_nodes_claiming_at_once_never_claim_a_run_twice(backend: Store):
    job = await add_job(backend, "contended", overlap=OverlapPolicy.ALLOW)
    await queue(backend, job.id, 40)
    results = await claims_at_once(backend, 10, capacity=3)
    ids = [run.id for got in results for run, _ in got.started]
    assert len(ids) == len(set(ids)) == 40


async def test_a_cluster_wide_cap_holds_across_nodes_claiming_at_once(backend: Store):
    """With at most five runs at once across the cluster, sixteen claims from two processes at the same
    moment start five, each node within its own capacity too; a run ending makes room for one more."""
    job = await add_job(backend, "capped", overlap=OverlapPolicy.ALLOW)
    await queue(backend, job.id, 30)
    results = await claims_at_once(backend, 8, capacity=2, max_running=5)
    assert sum(len(got.started) for got in results) == 5
    assert max(len(got.started) for got in results) <= 2
    assert (await claim(backend, capacity=10, node="late", max_running=5)).started == []
    [(done, _)] = results[next(i for i, got in enumerate(results) if got.started)].started[:1]
    done.status, done.finished_at = RunStatus.SUCCEEDED, T0 + 1
    await backend.finish_runs([RunEnd(done)])
    assert len((await claim(backend, capacity=10, node="late", max_running=5)).started) == 1


async def test_nodes_claiming_at_once_never_exceed_a_pool_or_a_jobs_overlap_rule(backend: Store):
    """Sixteen claims from two processes at the same moment: the pool of two holds two running runs, the
    job that runs one at a time runs one, whoever claimed them."""
    for i in range(6):
        await queue(backend, (await add_job(backend, f"gpu{i}", pool="gpu")).id, at=T0 + i)
    solo = await add_job(backend, "solo", overlap=OverlapPolicy.QUEUE, queue_limit=10)
    await queue(backend, solo.id, 5)
    results = await claims_at_once(backend, 8, capacity=2, pools={"gpu": 2})
    assert sum(len(got.skipped) for got in results) == 0
    running = await backend.list_runs(RunFilter(statuses=[RunStatus.RUNNING]))
    assert sorted(r.job_name.rstrip("0123456789") for r in running) == ["gpu", "gpu", "solo"]


# ------------------------------------------------------------------ run ends


async def claimed(store: Store, job_id: int, node: str = "n1") -> Run:
    [run] = await queue(store, job_id, 1, Trigger.MANUAL)
    got = await store.claim(node, T0, LEASE, ClaimLimits(1, only_roots=[run.id]))
    return got.started[0][0]


def ended(run: Run, status: RunStatus, **kw) -> RunEnd:
    run.status = status
    run.finished_at = T0 + 1
    run.error = None if status is RunStatus.SUCCEEDED else "exited with code 1"
    return RunEnd(run, **kw)


async def test_failures_are_counted_in_the_store_and_a_success_resets_them(backend: Store):
    job = await add_job(backend, "counted", overlap=OverlapPolicy.ALLOW)
    outcomes = [RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED, RunStatus.FAILED]
    ends = [ended(await claimed(backend, job.id), status) for status in outcomes]
    results = await backend.finish_runs(ends)
    assert [r.consecutive_failures for r in results] == [1, 2, 2, 3]
    fresh = await backend.get_job(job.id)
    assert fresh.consecutive_failures == 3 and fresh.last_status is RunStatus.FAILED
    [ok] = await backend.finish_runs([ended(await claimed(backend, job.id), RunStatus.SUCCEEDED)])
    assert ok.consecutive_failures == 0
    assert (await backend.get_job(job.id)).consecutive_failures == 0


async def test_counters_are_right_under_two_concurrent_writers(backend: Store):
    """Two processes record failures of one job at the same time: every failure counts, and the job is
    switched off exactly once, by the end that reached the limit."""
    job = await add_job(backend, "raced", overlap=OverlapPolicy.ALLOW)
    other = same_database(backend)
    await other.open()
    try:
        runs = [await claimed(backend, job.id, node="shared") for _ in range(30)]
        writers = [backend, other]
        results = await asyncio.gather(
            *[
                writers[i % 2].finish_runs([ended(run, RunStatus.FAILED, failure_limit=25)])
                for i, run in enumerate(runs)
            ]
        )
    finally:
        await other.close()
    fresh = await backend.get_job(job.id)
    assert fresh.consecutive_failures == 30
    assert sorted(r.consecutive_failures for [r] in results) == list(range(1, 31))
    disabled = [r.auto_disabled for [r] in results if r.auto_disabled]
    assert disabled == ["25 consecutive failures (last: exited with code 1)"]
    assert not fresh.enabled and fresh.auto_disabled == disabled[0] and fresh.next_run_at is None


async def test_a_retry_leaves_the_job_alone_and_chains_follow_the_last_attempt(backend: Store):
    job = await add_job(backend, "chained", on_failure=["cleanup", "nowhere"])
    cleanup = await add_job(backend, "cleanup")
    run = await claimed(backend, job.id)
    retry = Run(job_id=job.id, trigger=Trigger.RETRY, scheduled_for=run.scheduled_for, attempt=2, retry_of=run.id)
    [first] = await backend.finish_runs([ended(run, RunStatus.FAILED, retry=retry, chain_to=["cleanup"])])
    assert [r.trigger for r in first.inserted] == [Trigger.RETRY]
    assert (await backend.get_job(job.id)).consecutive_failures == 0
    [(second, _)] = (await backend.claim("n1", T0 + 1, LEASE, ClaimLimits(1, only_roots=[run.id]))).started
    [last] = await backend.finish_runs([ended(second, RunStatus.FAILED, chain_to=["cleanup", "nowhere"])])
    assert [(r.job_id, r.trigger, r.triggered_by) for r in last.inserted] == [(cleanup.id, Trigger.CHAIN, second.id)]
    assert last.missing_chains == ["nowhere"]
    assert (await backend.get_job(job.id)).consecutive_failures == 1


async def test_an_end_is_fenced_off_once_another_node_took_the_run_over(backend: Store):
    job = await add_job(backend, "fenced")
    run = await claimed(backend, job.id, node="old")
    async with backend.transaction() as db:  # the new holder recorded it as interrupted meanwhile
        await db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run.id,))
    other = await claimed(backend, job.id, node="old")
    results = await backend.finish_runs([ended(run, RunStatus.SUCCEEDED), ended(other, RunStatus.SUCCEEDED)])
    assert results[0] is None and results[1] is not None
    assert (await backend.get_run(run.id)).status is RunStatus.INTERRUPTED


async def test_a_takeover_fences_off_every_write_of_the_runs_old_holder(backend: Store):
    """A node paused or cut off past its run's lease comes back: once another node took the run over (its
    fence token bumped), the old holder's end, lease renewal and delivery are refused, the recovery's end
    is recorded, and the old holder's end is still refused after it."""
    job = await add_job(backend, "paused")
    run = await claimed(backend, job.id, node="old")
    assert await backend.take_over(run, T0) is None  # its lease has not expired: nobody may take it
    taken = await backend.take_over(run, T0, expired_only=False)
    assert taken is not None and taken.fence == run.fence + 1 and taken.node == "old"  # who ran it stays
    assert await backend.take_over(run, T0, expired_only=False) is None  # a second recoverer loses
    assert await backend.renew_run_leases("old", {run.id: run.fence}, T0, LEASE) == []
    assert await backend.finish_runs([ended(run, RunStatus.SUCCEEDED)]) == [None]
    assert not await backend.update_delivery(run.id, "delivered", None, [], holder=("old", run.fence))
    taken.status, taken.finished_at, taken.reason = RunStatus.INTERRUPTED, T0 + 2, "its node stopped"
    [recovered] = await backend.finish_runs([RunEnd(taken)])
    assert recovered is not None
    assert await backend.finish_runs([ended(run, RunStatus.SUCCEEDED)]) == [None]
    row = await backend.get_run(run.id)
    assert (row.status, row.reason, row.delivery_status) == (RunStatus.INTERRUPTED, "its node stopped", None)
    assert await backend.update_delivery(run.id, "delivered", None, [], holder=("old", taken.fence))
    assert (await backend.get_job(job.id)).last_status is RunStatus.INTERRUPTED


async def test_a_renewal_keeps_only_the_runs_held_with_their_current_token(backend: Store):
    job = await add_job(backend, "renewed", overlap=OverlapPolicy.ALLOW)
    kept, lost = await claimed(backend, job.id, node="a"), await claimed(backend, job.id, node="a")
    await backend.take_over(lost, T0, expired_only=False)
    before = await store_clock(backend, T0 + 5_000)
    assert await backend.renew_run_leases("a", {kept.id: kept.fence, lost.id: lost.fence}, T0 + 5_000, LEASE) == [
        kept.id
    ]
    after = await store_clock(backend, T0 + 5_000)
    assert before + LEASE <= (await backend.get_run(kept.id)).lease_expires_at <= after + LEASE
    assert await backend.renew_run_leases("b", {kept.id: kept.fence}, T0, LEASE) == []  # not b's run


async def test_a_run_is_orphaned_once_its_lease_expires_on_the_stores_clock(backend: Store):
    """Recovery waits for a run's lease to expire on the store's clock (the database's on PostgreSQL: a
    node whose clock runs a day fast still finds nothing to recover)."""
    job = await add_job(backend, "leased", overlap=OverlapPolicy.ALLOW)
    [r1, r2] = await queue(backend, job.id, 2, Trigger.MANUAL)
    now = T0 + 60_000
    [(expired, _)] = (await backend.claim("gone", now, 0, ClaimLimits(1, only_roots=[r1.id]))).started
    [(alive, _)] = (await backend.claim("here:1:a", now, 60_000, ClaimLimits(1, only_roots=[r2.id]))).started
    node_now = (await store_clock(backend, now)) + (86_400_000 if isinstance(backend, PostgresStore) else 1)
    assert [r.id for r in await backend.orphaned_runs(node_now, "me")] == [expired.id]
    assert [r.id for r in await backend.orphaned_runs(node_now, "gone")] == []  # its own node is alive
    assert await backend.take_over(alive, node_now) is None
    assert (await backend.take_over(expired, node_now)) is not None
    # one scheduler at a time (SQLite): a run of this host is handed over at once, whatever its lease
    assert [r.id for r in await backend.orphaned_runs(node_now, "me", host="here")] == [expired.id, alive.id]


async def test_what_a_job_carries_is_written_with_its_run(backend: Store):
    job = await add_job(backend, "memo")
    run = await claimed(backend, job.id)
    await backend.finish_runs([ended(run, RunStatus.SUCCEEDED, memory={"conversation": [{"role": "user"}]})])
    assert await backend.get_memory(job.id, "conversation") == [{"role": "user"}]
    run = await claimed(backend, job.id)
    await backend.finish_runs([ended(run, RunStatus.SUCCEEDED, memory={"conversation": None})])
    assert await backend.get_memory(job.id, "conversation") is None


# ------------------------------------------------------------------ slots


async def test_a_slot_plan_is_compare_and_set_on_the_next_fire(backend: Store):
    job = await add_job(backend, "cas")
    planned_from = job.next_run_at
    slot = Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=planned_from, queued_at=T0)
    won = await backend.materialize([SlotWrite(job.id, planned_from, [slot], planned_from + 60_000)])
    late = Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=planned_from + 1, queued_at=T0)
    lost = await backend.materialize([SlotWrite(job.id, planned_from, [late], planned_from + 120_000)])
    assert [r.id for r in won] == [slot.id] and lost == []
    assert (await backend.get_job(job.id)).next_run_at == planned_from + 60_000
    assert len(await backend.list_runs(RunFilter(job_id=job.id))) == 1
