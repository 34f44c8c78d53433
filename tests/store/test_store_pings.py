"""The store's part in checks, on every backend: a check is due for its missed slots only once its grace has
passed, and a ping is recorded in one transaction, compare-and-set on the job's next fire like planning."""

from __future__ import annotations

from cronui.model import Run, RunStatus, Trigger
from cronui.model.records import PingWrite, SlotWrite
from cronui.store.base import Store
from tests.store.test_store import T0, new_job

SLOT = T0 + 60_000


def ping_run(job_id: int, at: int, status: RunStatus, slot: int | None = None) -> Run:
    run = Run(job_id=job_id, trigger=Trigger.PING, scheduled_for=slot or at, queued_at=at, not_before=at)
    run.status, run.started_at = status, at
    if status is RunStatus.RUNNING:
        run.lease_expires_at = at + 600_000
    else:
        run.finished_at = at
    return run


async def test_a_check_is_due_once_its_grace_has_passed_and_the_wakeup_says_when(backend: Store):
    check = await new_job(backend, "check", is_check=True, grace_s=120)
    plain = await new_job(backend, "plain")
    assert [j.id for j in await backend.due_jobs(SLOT)] == [plain.id]
    assert [j.id for j in await backend.due_jobs(SLOT + 119_999)] == [plain.id]
    due = await backend.due_jobs(SLOT + 120_000)
    assert {j.id: j.check_grace_s for j in due} == {check.id: 120.0, plain.id: None}
    await backend.materialize([SlotWrite(plain.id, SLOT, [], SLOT + 3_600_000)])
    assert await backend.next_wakeup(SLOT) == SLOT + 120_000, "the check's slot plus its grace"


async def test_a_ping_answers_a_slot_and_moves_the_next_fire_compare_and_set(backend: Store):
    job = await new_job(backend, "check", is_check=True)
    missed = Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=SLOT, queued_at=SLOT + 61_000)
    missed.status, missed.reason, missed.finished_at = RunStatus.SKIPPED, "missed", SLOT + 61_000
    run = ping_run(job.id, SLOT + 61_000, RunStatus.SUCCEEDED, slot=SLOT + 60_000)
    write = PingWrite(run, closes=True, settles=True, expected=SLOT, next_run_at=SLOT + 120_000, missed=[missed])
    stored = await backend.record_ping(write)
    assert stored is not None and stored.trigger is Trigger.PING and stored.scheduled_for == SLOT + 60_000
    again = await backend.get_job(job.id)
    assert again.next_run_at == SLOT + 120_000 and again.last_status is RunStatus.SUCCEEDED

    stale = PingWrite(ping_run(job.id, SLOT + 62_000, RunStatus.SUCCEEDED), settles=True, expected=SLOT)
    assert await backend.record_ping(stale) is None, "the next fire moved: nothing written"
    assert (await backend.run_counts([RunStatus.SUCCEEDED, RunStatus.SKIPPED])) == {
        RunStatus.SUCCEEDED: 1,
        RunStatus.SKIPPED: 1,
    }


async def test_an_end_closes_the_latest_open_start_and_answers_no_slot(backend: Store):
    job = await new_job(backend, "check", is_check=True)
    start = await backend.record_ping(PingWrite(ping_run(job.id, SLOT, RunStatus.RUNNING)))
    assert start is not None and start.status is RunStatus.RUNNING and start.node is None
    end = ping_run(job.id, SLOT + 5_000, RunStatus.FAILED)
    end.exit_code, end.output = 3, "disk full"
    # it would answer a slot, were it not the end of a start (the start answered it)
    closed = await backend.record_ping(PingWrite(end, closes=True, settles=True, expected=-1, next_run_at=0))
    assert closed is not None and closed.id == start.id
    assert (closed.status, closed.exit_code, closed.output, closed.duration_ms) == (
        RunStatus.FAILED,
        3,
        "disk full",
        5000,
    )
    assert closed.started_at == SLOT and closed.lease_expires_at is None
    assert (await backend.get_job(job.id)).next_run_at == SLOT, "the next fire is left as it was"
    assert (await backend.get_job(job.id)).consecutive_failures == 1


async def test_an_open_start_is_an_orphan_once_its_lease_expires(backend: Store):
    job = await new_job(backend, "check", is_check=True)
    start = await backend.record_ping(PingWrite(ping_run(job.id, SLOT, RunStatus.RUNNING)))
    assert start is not None
    if not backend.multi_node:  # PostgreSQL counts leases on its own clock (now, not the test's)
        assert await backend.orphaned_runs(SLOT + 599_999, "n1") == []
        [orphan] = await backend.orphaned_runs(SLOT + 600_000, "n1")
        assert orphan.id == start.id
        assert await backend.take_over(orphan, SLOT + 600_000) is not None


async def test_an_open_start_takes_no_place_under_the_cap_on_runs_at_once(backend: Store):
    from cronui.model.records import ClaimLimits

    check = await new_job(backend, "check", is_check=True)
    plain = await new_job(backend, "plain")
    assert await backend.record_ping(PingWrite(ping_run(check.id, SLOT, RunStatus.RUNNING))) is not None
    await backend.insert_run(Run(job_id=plain.id, trigger=Trigger.MANUAL, scheduled_for=SLOT, queued_at=SLOT))
    claim = await backend.claim("n1", SLOT, 30_000, ClaimLimits(capacity=5, max_running=1))
    assert [run.job_id for run, _ in claim.started] == [plain.id]
