"""The Store contract for approvals: which new runs wait for approval (a job's policy, a run's own
`needs_approval`, never a retry), the cap on a job's waiting runs, and deciding a waiting run exactly once
however many processes race (parametrized by backend: SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from cronui.model import Run, RunStatus, Trigger
from cronui.model.records import ApprovalDecision, ClaimLimits, RunEnd, RunFilter, SlotWrite, timeout_decision
from cronui.store.base import Store
from tests.helpers import make_job
from tests.store.backends import same_database

T0 = 1_780_000_000_000
HOUR = 3_600_000


async def add_job(store: Store, name: str, **kw):
    job = make_job(name, **kw)
    job.created_at = job.updated_at = T0
    job.next_run_at = T0 + HOUR
    return await store.create_job(job)


def new_run(job_id: int, slot: int, trigger: Trigger = Trigger.MANUAL, **kw) -> Run:
    return Run(job_id=job_id, trigger=trigger, scheduled_for=slot, queued_at=slot, not_before=slot, **kw)


async def claim(store: Store, now: int):
    return await store.claim("n1", now, 30_000, ClaimLimits(100))


async def test_a_new_run_of_a_job_with_approval_waits_with_its_deadline_and_is_never_claimed(backend: Store):
    job = await add_job(backend, "deploy", approval=True, approval_timeout_s=1800, approval_default="approve")
    plain = await add_job(backend, "plain")
    run = await backend.insert_run(new_run(job.id, T0))
    other = await backend.insert_run(new_run(plain.id, T0))
    assert run.status is RunStatus.AWAITING_APPROVAL and other.status is RunStatus.PENDING
    stored = await backend.get_run(run.id)
    assert stored.status is RunStatus.AWAITING_APPROVAL
    assert (stored.approval_deadline, stored.approval_default) == (T0 + 1_800_000, "approve")
    assert [m.name for m in stored.milestones] == ["approval-requested"]
    got = await claim(backend, T0 + 10 * HOUR)
    assert [r.id for r, _ in got.started] == [other.id]  # the waiting run is never started
    assert (await backend.get_run(run.id)).status is RunStatus.AWAITING_APPROVAL
    waiting = await backend.list_runs(RunFilter(statuses=[RunStatus.AWAITING_APPROVAL]))
    assert [r.id for r in waiting] == [run.id]


async def test_materialized_slots_wait_and_the_deadline_wakes_the_scheduler(backend: Store):
    job = await add_job(backend, "hourly", approval=True)
    slot = T0 + HOUR
    [run] = await backend.materialize(
        [SlotWrite(job.id, T0 + HOUR, [new_run(job.id, slot, Trigger.SCHEDULE)], slot + HOUR)]
    )
    assert run.status is RunStatus.AWAITING_APPROVAL
    # the job's next slot is later than the deadline of the waiting run (one hour after it was queued)
    assert await backend.next_wakeup(slot + 1) == slot + HOUR


async def test_the_cap_records_a_run_beyond_it_skipped_with_the_reason(backend: Store):
    job = await add_job(backend, "capped", approval=True, approval_max_waiting=2)
    runs = [await backend.insert_run(new_run(job.id, T0 + i)) for i in range(3)]
    assert [r.status for r in runs] == [RunStatus.AWAITING_APPROVAL, RunStatus.AWAITING_APPROVAL, RunStatus.SKIPPED]
    third = await backend.get_run(runs[2].id)
    assert third.reason == "approvals full: 2 runs of the job already wait for approval (approval_max_waiting 2)"
    assert third.finished_at == T0 + 2
    # a decision frees a place
    await backend.decide_approval(ApprovalDecision(runs[0].id, False, T0 + 5, "ops@host"))
    fourth = await backend.insert_run(new_run(job.id, T0 + 6))
    assert fourth.status is RunStatus.AWAITING_APPROVAL


async def test_the_cap_holds_when_two_processes_insert_at_once(backend: Store):
    job = await add_job(backend, "raced", approval=True, approval_max_waiting=3)
    other = same_database(backend)
    await other.open()
    try:
        made = await asyncio.gather(
            *(s.insert_run(new_run(job.id, T0 + i)) for i, s in enumerate([backend, other] * 4))
        )
    finally:
        await other.close()
    statuses = sorted(str(r.status) for r in made)
    assert statuses.count("awaiting_approval") == 3 and statuses.count("skipped") == 5


async def test_approving_makes_the_run_pending_due_now_or_at_its_slot(backend: Store):
    job = await add_job(backend, "later", approval=True)
    early = await backend.insert_run(new_run(job.id, T0))
    future = await backend.insert_run(new_run(job.id, T0 + 2 * HOUR, Trigger.SCHEDULE))
    now = T0 + HOUR
    a = await backend.decide_approval(ApprovalDecision(early.id, True, now, "ana@box"))
    b = await backend.decide_approval(ApprovalDecision(future.id, True, now, "ana@box"))
    assert (a.status, a.not_before) == (RunStatus.PENDING, now)
    assert (b.status, b.not_before) == (RunStatus.PENDING, T0 + 2 * HOUR)
    assert a.milestones[-1].name == "approved" and a.milestones[-1].data == {"by": "ana@box"}
    assert a.milestones[-1].at == now
    got = await claim(backend, now)
    assert [r.id for r, _ in got.started] == [early.id]


async def test_rejecting_records_the_run_skipped_with_who_and_why(backend: Store):
    job = await add_job(backend, "risky", approval=True)
    run = await backend.insert_run(new_run(job.id, T0))
    done = await backend.decide_approval(ApprovalDecision(run.id, False, T0 + 9, "bo@desk", "not on a Friday"))
    assert done.status is RunStatus.SKIPPED and done.finished_at == T0 + 9
    assert done.reason == "rejected by bo@desk: not on a Friday"
    assert done.milestones[-1].data == {"by": "bo@desk", "reason": "not on a Friday"}


async def test_a_run_is_decided_once_when_two_processes_race(backend: Store):
    job = await add_job(backend, "once", approval=True)
    runs = [await backend.insert_run(new_run(job.id, T0 + i)) for i in range(3)]
    other = same_database(backend)
    await other.open()
    try:
        for run in runs:
            results = await asyncio.gather(
                backend.decide_approval(ApprovalDecision(run.id, True, T0 + 10, "a@one")),
                other.decide_approval(ApprovalDecision(run.id, False, T0 + 10, "b@two")),
                other.decide_approval(ApprovalDecision(run.id, True, T0 + 10, "c@two")),
            )
            assert sum(r is not None for r in results) == 1
            final = await backend.get_run(run.id)
            assert [m.name for m in final.milestones].count("approved") + [m.name for m in final.milestones].count(
                "rejected"
            ) == 1
    finally:
        await other.close()
    # deciding again changes nothing
    before = await backend.get_run(runs[0].id)
    assert await backend.decide_approval(ApprovalDecision(runs[0].id, False, T0 + 20, "late@x")) is None
    assert await backend.get_run(runs[0].id) == before


async def test_timeouts_are_due_at_the_deadline_and_apply_the_default(backend: Store):
    yes = await add_job(backend, "yes", approval=True, approval_timeout_s=60, approval_default="approve")
    no = await add_job(backend, "no", approval=True, approval_timeout_s=60)
    r1 = await backend.insert_run(new_run(yes.id, T0))
    r2 = await backend.insert_run(new_run(no.id, T0))
    assert await backend.due_approvals(T0 + 59_999) == []
    due = await backend.due_approvals(T0 + 60_000)
    assert [r.id for r in due] == [r1.id, r2.id]
    approved = await backend.decide_approval(timeout_decision(due[0], T0 + 60_000))
    rejected = await backend.decide_approval(timeout_decision(due[1], T0 + 60_000))
    assert approved.status is RunStatus.PENDING
    assert approved.milestones[-1].data == {"by": "timeout", "timed_out": True}
    assert rejected.status is RunStatus.SKIPPED
    assert rejected.reason == "rejected: nobody approved it by its deadline (the default is reject)"
    assert await backend.due_approvals(T0 + 120_000) == []


async def test_retries_do_not_ask_again_and_chains_ask_per_job_or_per_edge(backend: Store):
    flaky = await add_job(backend, "flaky", approval=True)
    gated = await add_job(backend, "gated", approval=True)
    free = await add_job(backend, "free")
    edged = await add_job(backend, "edged")
    run = await backend.insert_run(new_run(flaky.id, T0))
    await backend.decide_approval(ApprovalDecision(run.id, True, T0, "a@b"))
    [(started, _)] = (await claim(backend, T0)).started
    started.status, started.finished_at = RunStatus.FAILED, T0 + 5
    retry = Run(
        job_id=flaky.id,
        trigger=Trigger.RETRY,
        scheduled_for=T0,
        attempt=2,
        retry_of=run.id,
        queued_at=T0 + 5,
        not_before=T0 + 10,
    )
    [rec] = await backend.finish_runs([RunEnd(started, retry=retry)])
    assert [r.status for r in rec.inserted] == [RunStatus.PENDING]  # the retry of an approved run runs
    [(again, _)] = (await claim(backend, T0 + 10)).started
    again.status, again.finished_at = RunStatus.SUCCEEDED, T0 + 20
    [rec] = await backend.finish_runs([RunEnd(again, chain_to=["gated", "free", "edged"], chain_approval=["edged"])])
    by_job = {r.job_id: r.status for r in rec.inserted}
    assert by_job == {
        gated.id: RunStatus.AWAITING_APPROVAL,  # the job asks for approval
        free.id: RunStatus.PENDING,
        edged.id: RunStatus.AWAITING_APPROVAL,  # the edge asks for it
    }


async def test_notices_are_taken_once_and_removing_the_job_cancels_its_waiting_runs(backend: Store):
    job = await add_job(backend, "noticed", approval=True)
    run = await backend.insert_run(new_run(job.id, T0))
    other = same_database(backend)
    await other.open()
    try:
        taken = await asyncio.gather(backend.take_approval_notices(), other.take_approval_notices())
    finally:
        await other.close()
    assert sorted(len(t) for t in taken) == [0, 1]
    await backend.note_approval_notice(run.id, "delivered")
    assert (await backend.get_run(run.id)).approval_notice == "delivered"
    assert await backend.take_approval_notices() == []
    await backend.remove_job(job.id, T0 + 1)
    gone = await backend.get_run(run.id)
    assert (gone.status, gone.reason) == (RunStatus.CANCELLED, "job removed")


async def test_a_waiting_run_can_be_cancelled_and_is_kept_by_pruning(backend: Store):
    job = await add_job(backend, "kept", approval=True)
    old = await backend.insert_run(new_run(job.id, T0))
    res = await backend.prune(T0 + 400 * 86_400_000, keep_days=1, runs_per_job=1, event_hours=1)
    assert res.runs == 0 and (await backend.get_run(old.id)).status is RunStatus.AWAITING_APPROVAL
    cancelled = await backend.request_cancel(old.id, T0 + 5)
    assert cancelled.status is RunStatus.CANCELLED
