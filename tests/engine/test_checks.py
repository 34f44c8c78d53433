"""Check jobs on the fake clock: cronui watches them and never runs them. Pings answer their slots; a slot no
ping answers within its grace is recorded missed; a start with no end becomes interrupted past the timeout."""

from __future__ import annotations

import pytest

from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.pings import Ping, PingKind, ping_from_exit
from cronui.engine.recovery import recover_orphans
from cronui.jobs import JobError
from cronui.model import REASON_MISSED, RunStatus, Trigger
from cronui.model.records import RunFilter
from cronui.store.sqlite import SQLiteStore
from tests.helpers import FakeExecutor, make_job, ms, run_until, settle

HOUR = 3_600_000


async def runs_of(store: SQLiteStore, job_id: int | None) -> list:
    return sorted(await store.list_runs(RunFilter(job_id=job_id, limit=10_000)), key=lambda r: r.id)


async def add_check(engine: Engine, name: str = "backup", schedule: str = "0 * * * *", **kw: object):
    return await engine.control.add_job(make_job(name, schedule, command="", is_check=True, **kw))


async def test_a_check_is_never_run_and_each_unpinged_slot_is_missed_after_its_grace(
    engine: Engine, clock: FakeClock, store: SQLiteStore, fake: FakeExecutor
):
    job = await add_check(engine, grace_s=600)
    await run_until(engine, clock, ms("2026-03-02T09:09:59Z"))
    assert await runs_of(store, job.id) == [], "within its grace the slot waits for a ping"
    await run_until(engine, clock, ms("2026-03-02T12:30:00Z"))
    runs = await runs_of(store, job.id)
    assert [(r.scheduled_for, r.status, r.reason) for r in runs] == [
        (ms(f"2026-03-02T{h:02}:00:00Z"), RunStatus.SKIPPED, REASON_MISSED) for h in (9, 10, 11, 12)
    ]
    assert fake.calls == [], "nothing is executed for a check"
    assert (await store.get_job(job.id)).next_run_at == ms("2026-03-02T13:00:00Z")


async def test_the_scheduler_wakes_at_the_end_of_a_checks_grace_not_at_its_slot(engine: Engine, clock: FakeClock):
    await add_check(engine, grace_s=120)
    assert await settle(engine) == ms("2026-03-02T09:02:00Z")


async def test_a_ping_within_the_grace_answers_the_slot(engine: Engine, clock: FakeClock, store: SQLiteStore):
    job = await add_check(engine)
    clock.set(ms("2026-03-02T09:00:03Z"))
    run = await engine.control.ping("backup", Ping(PingKind.SUCCESS, message="all good"))
    assert (run.trigger, run.status, run.scheduled_for, run.output) == (
        Trigger.PING,
        RunStatus.SUCCEEDED,
        ms("2026-03-02T09:00:00Z"),
        "all good",
    )
    await run_until(engine, clock, ms("2026-03-02T09:30:00Z"))
    assert [r.id for r in await runs_of(store, job.id)] == [run.id], "no missed row for an answered slot"
    fresh = await store.get_job(job.id)
    assert fresh.next_run_at == ms("2026-03-02T10:00:00Z") and fresh.last_status is RunStatus.SUCCEEDED


async def test_a_ping_a_little_early_answers_the_coming_slot(engine: Engine, clock: FakeClock):
    await add_check(engine)
    clock.set(ms("2026-03-02T08:59:40Z"))  # a reporting clock 20 s fast
    run = await engine.control.ping("backup", Ping(PingKind.START))
    assert run.scheduled_for == ms("2026-03-02T09:00:00Z") and run.status is RunStatus.RUNNING


async def test_start_and_end_pings_are_one_run_with_its_duration(engine: Engine, clock: FakeClock, store: SQLiteStore):
    job = await add_check(engine)
    clock.set(ms("2026-03-02T09:00:01Z"))
    started = await engine.control.ping("backup", Ping(PingKind.START))
    clock.set(ms("2026-03-02T09:03:01Z"))
    ended = await engine.control.ping("backup", ping_from_exit(2))
    assert ended.id == started.id
    assert (ended.status, ended.exit_code, ended.duration_ms) == (RunStatus.FAILED, 2, 180_000)
    assert ended.error == "exit code 2"
    assert ended.scheduled_for == ms("2026-03-02T09:00:00Z")
    assert len(await runs_of(store, job.id)) == 1
    assert (await store.get_job(job.id)).consecutive_failures == 1


async def test_a_start_with_no_end_becomes_interrupted_past_the_jobs_timeout(
    engine: Engine, clock: FakeClock, store: SQLiteStore
):
    job = await add_check(engine, timeout_s=600)
    clock.set(ms("2026-03-02T09:00:01Z"))
    started = await engine.control.ping("backup", Ping(PingKind.START))
    clock.set(ms("2026-03-02T09:09:00Z"))
    await recover_orphans(engine)
    assert (await store.get_run(started.id)).status is RunStatus.RUNNING, "still within its timeout"
    clock.set(ms("2026-03-02T09:10:02Z"))
    await recover_orphans(engine)
    await settle(engine)
    run = await store.get_run(started.id)
    assert run.status is RunStatus.INTERRUPTED
    assert "no end ping within its timeout" in run.reason
    assert [r.trigger for r in await runs_of(store, job.id)] == [Trigger.PING], "no retry of a check"


async def test_a_late_ping_after_the_slot_was_missed_is_history_only(
    engine: Engine, clock: FakeClock, store: SQLiteStore
):
    job = await add_check(engine, grace_s=300)
    await run_until(engine, clock, ms("2026-03-02T09:06:00Z"))
    run = await engine.control.ping("backup", Ping(PingKind.SUCCESS))
    assert run.scheduled_for == ms("2026-03-02T09:06:00Z"), "it answers no slot"
    assert (await store.get_job(job.id)).next_run_at == ms("2026-03-02T10:00:00Z")
    statuses = [(r.status, r.trigger) for r in await runs_of(store, job.id)]
    assert statuses == [(RunStatus.SKIPPED, Trigger.SCHEDULE), (RunStatus.SUCCEEDED, Trigger.PING)]


async def test_a_ping_after_slots_nobody_recorded_answers_the_newest_and_misses_the_rest(
    engine: Engine, clock: FakeClock, store: SQLiteStore
):
    job = await add_check(engine, grace_s=7200)  # no scheduler ran in between: nothing was recorded
    clock.set(ms("2026-03-02T11:00:05Z"))
    run = await engine.control.ping("backup", Ping(PingKind.SUCCESS))
    assert run.scheduled_for == ms("2026-03-02T11:00:00Z")
    runs = await runs_of(store, job.id)
    assert [(r.scheduled_for, r.status) for r in runs if r.trigger is Trigger.SCHEDULE] == [
        (ms("2026-03-02T09:00:00Z"), RunStatus.SKIPPED),
        (ms("2026-03-02T10:00:00Z"), RunStatus.SKIPPED),
    ]
    assert (await store.get_job(job.id)).next_run_at == ms("2026-03-02T12:00:00Z")


async def test_a_check_is_not_run_now_and_a_run_chained_to_it_is_skipped(
    engine: Engine, clock: FakeClock, store: SQLiteStore, fake: FakeExecutor
):
    check = await add_check(engine)
    with pytest.raises(JobError, match="check"):
        await engine.control.trigger("backup")
    await engine.control.add_job(make_job("first", on_success=["backup"]))
    await engine.control.trigger("first")
    await settle(engine)
    await settle(engine)
    [chained] = [r for r in await runs_of(store, check.id) if r.trigger is Trigger.CHAIN]
    assert chained.status is RunStatus.SKIPPED and "never runs it" in (chained.error or "")
    assert len(fake.calls) == 1, "only the job cronui runs was executed"


async def test_a_ping_for_a_job_that_is_not_a_check_is_refused(engine: Engine):
    await engine.control.add_job(make_job("plain"))
    with pytest.raises(JobError, match="not a check"):
        await engine.control.ping("plain", Ping(PingKind.SUCCESS))
