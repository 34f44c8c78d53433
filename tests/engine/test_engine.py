"""The engine on a fake clock: every policy, in milliseconds of test time."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest

from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.finishing import retry_delay_ms
from cronui.jobs import JobError
from cronui.model import EventKind, MisfirePolicy, OverlapPolicy, RunStatus, TargetKind, Trigger
from cronui.model.records import ClaimLimits, RunEnd, RunFilter, SlotWrite
from cronui.schedule import parse
from cronui.store.sqlite import SQLiteStore
from tests.helpers import FakeExecutor, make_job, ms, run_until, settle


async def all_runs(store: SQLiteStore, job_id: int | None = None) -> list:
    runs = await store.list_runs(RunFilter(job_id=job_id, limit=1_000_000))
    return sorted(runs, key=lambda r: r.id)


async def test_a_week_of_hourly_slots_fires_each_exactly_once(engine: Engine, clock: FakeClock, store: SQLiteStore):
    job = await engine.control.add_job(make_job("hourly"))
    start = clock.now_ms()
    await run_until(engine, clock, start + 7 * 86_400_000)
    runs = await all_runs(store, job.id)
    slots = [r.scheduled_for for r in runs]
    expected = parse("0 * * * *", "UTC").next_n(start, 168)
    assert slots == expected
    assert all(r.status is RunStatus.SUCCEEDED and r.trigger is Trigger.SCHEDULE for r in runs)
    # stepping again at the same instant creates nothing new
    await settle(engine)
    assert len(await all_runs(store, job.id)) == 168


async def test_next_fire_is_computed_from_the_slot_not_from_now(engine: Engine, clock: FakeClock, store: SQLiteStore):
    job = await engine.control.add_job(make_job("m", "* * * * *"))
    clock.set(ms("2026-03-02T09:00:00.250Z"))  # woke 250 ms late
    await settle(engine)
    fresh = await store.get_job(job.id)
    assert fresh.next_run_at == ms("2026-03-02T09:01:00Z")
    runs = await all_runs(store, job.id)
    assert [r.scheduled_for for r in runs] == [ms("2026-03-02T09:00:00Z")]


async def test_materializing_a_slot_twice_inserts_it_once(engine: Engine, store: SQLiteStore, clock: FakeClock):
    from cronui.model import Run

    job = await engine.control.add_job(make_job("dup"))
    slot = ms("2026-03-02T09:00:00Z")
    run = Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=slot, queued_at=slot)
    planned_from = job.next_run_at
    first = await store.materialize([SlotWrite(job.id, planned_from, [run], slot + 3_600_000)])
    # a second planner that saw the same next fire: its compare-and-set fails, it writes nothing
    again = Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=slot, queued_at=slot)
    second = await store.materialize([SlotWrite(job.id, planned_from, [again], slot + 7_200_000)])
    assert (await store.get_job(job.id)).next_run_at == slot + 3_600_000
    # one whose compare-and-set holds still cannot make the slot a second time
    catchup = Run(job_id=job.id, trigger=Trigger.CATCHUP, scheduled_for=slot, queued_at=slot)
    third = await store.materialize([SlotWrite(job.id, slot + 3_600_000, [catchup], slot + 7_200_000)])
    assert len(first) == 1 and second == [] and third == []
    assert len(await all_runs(store, job.id)) == 1


@pytest.mark.parametrize(
    ("policy", "runs_expected", "missed_expected"),
    # run_once: the on-time slot is the one run after the outage; run_all catches up at most 100
    [(MisfirePolicy.SKIP, 0, 121), (MisfirePolicy.RUN_ONCE, 0, 121), (MisfirePolicy.RUN_ALL, 100, 21)],
)
async def test_downtime_catch_up_by_misfire_policy(
    engine: Engine, clock: FakeClock, store: SQLiteStore, policy, runs_expected, missed_expected
):
    job = await engine.control.add_job(make_job("m", "* * * * *", misfire=policy, misfire_grace_s=30))
    # the scheduler was down for two hours: slots 09:00 .. 10:59 went by
    clock.set(ms("2026-03-02T11:00:30Z") + 31_000)
    await settle(engine)
    runs = await all_runs(store, job.id)
    ran = [r for r in runs if r.status is RunStatus.SUCCEEDED]
    missed = [r for r in runs if r.status is RunStatus.SKIPPED]
    # 09:00 .. 11:01 are 122 slots; the last one (11:01) is 1 s late: within grace, so it runs on time
    assert len([r for r in ran if r.trigger is Trigger.SCHEDULE]) == 1
    assert len([r for r in ran if r.trigger is Trigger.CATCHUP]) == runs_expected
    assert sum(r.missed_count for r in missed) == missed_expected
    assert all(r.reason == "missed" for r in missed)
    # every slot is accounted for: no silent hole, no slot twice
    slots = [r.scheduled_for for r in runs]
    assert len(slots) == len(set(slots)) == 122
    fresh = await store.get_job(job.id)
    assert fresh.next_run_at == ms("2026-03-02T11:02:00Z")


async def test_run_once_after_downtime_when_no_slot_is_within_grace(engine, clock, store):
    job = await engine.control.add_job(make_job("m", "0 * * * *", misfire=MisfirePolicy.RUN_ONCE))
    clock.set(ms("2026-03-02T12:30:00Z"))  # 09:00, 10:00, 11:00, 12:00 went by; grace is 5 minutes
    await settle(engine)
    runs = await all_runs(store, job.id)
    assert [(r.trigger, r.status, r.scheduled_for) for r in runs if r.status is not RunStatus.SKIPPED] == [
        (Trigger.CATCHUP, RunStatus.SUCCEEDED, ms("2026-03-02T12:00:00Z"))
    ]
    assert [r.reason for r in runs if r.status is RunStatus.SKIPPED] == ["missed"] * 3


async def test_long_outage_keeps_1000_rows_and_a_summary(engine, clock, store):
    job = await engine.control.add_job(make_job("sec", "every 1s", misfire=MisfirePolicy.SKIP, misfire_grace_s=0))
    clock.set(clock.now_ms() + 3 * 3600 * 1000)  # three hours of every-second slots
    await settle(engine)
    runs = await all_runs(store, job.id)
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    summary = [r for r in skipped if r.missed_count > 1]
    assert len(summary) == 1
    assert len(skipped) == 1001
    total = sum(r.missed_count for r in skipped) + sum(1 for r in runs if r.status is not RunStatus.SKIPPED)
    assert total == 3 * 3600
    assert "slots" in summary[0].reason


async def test_overlap_skip_records_the_skip(engine, clock, store, fake: FakeExecutor):
    job = await engine.control.add_job(make_job("slow", "* * * * *", "gate", overlap=OverlapPolicy.SKIP))
    clock.set(ms("2026-03-02T09:00:00Z"))
    await engine.step()
    await fake.started.wait()
    clock.set(ms("2026-03-02T09:01:00Z"))
    await engine.step()
    fake.gate.set()
    await settle(engine)
    runs = await all_runs(store, job.id)
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED, RunStatus.SKIPPED]
    assert runs[1].reason == f"overlap: run #{runs[0].id} still running"


async def test_overlap_queue_holds_up_to_the_limit(engine, clock, store, fake: FakeExecutor):
    job = await engine.control.add_job(
        make_job("q", "* * * * *", "gate", overlap=OverlapPolicy.QUEUE, queue_limit=2, misfire_grace_s=3600)
    )
    clock.set(ms("2026-03-02T09:00:00Z"))
    await engine.step()
    await fake.started.wait()
    for minute in (1, 2, 3):
        clock.set(ms(f"2026-03-02T09:0{minute}:00Z"))
        await engine.step()
    runs = await all_runs(store, job.id)
    assert [r.status for r in runs] == [RunStatus.RUNNING, RunStatus.PENDING, RunStatus.PENDING, RunStatus.SKIPPED]
    assert runs[3].reason == "queue full (limit 2)"
    fake.gate.set()
    await settle(engine)
    runs = await all_runs(store, job.id)
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 3 + [RunStatus.SKIPPED]
    starts = [r.started_at for r in runs[:3]]
    finishes = [r.finished_at for r in runs[:3]]
    assert starts[1] >= finishes[0] and starts[2] >= finishes[1]  # one after the other


async def test_overlap_allow_runs_concurrently(engine, clock, store, fake: FakeExecutor):
    job = await engine.control.add_job(make_job("a", "* * * * *", "gate", overlap=OverlapPolicy.ALLOW))
    clock.set(ms("2026-03-02T09:00:00Z"))
    await engine.step()
    clock.set(ms("2026-03-02T09:01:00Z"))
    await engine.step()
    assert len(engine.dispatcher.active) == 2
    fake.gate.set()
    await settle(engine)
    assert [r.status for r in await all_runs(store, job.id)] == [RunStatus.SUCCEEDED] * 2


async def test_global_cap_and_pools(engine, clock, store, settings: Settings, fake: FakeExecutor):
    settings.max_concurrent = 3
    settings.pools = {"llm": 1}
    for i in range(4):
        await engine.control.add_job(make_job(f"plain{i}", "0 9 * * *", "gate"))
    for i in range(2):
        await engine.control.add_job(make_job(f"llm{i}", "0 9 * * *", "gate", pool="llm"))
    clock.set(ms("2026-03-02T09:00:00Z"))
    await engine.step()
    assert len(engine.dispatcher.active) == 3
    pools = [a.job.pool for a in engine.dispatcher.active.values()]
    assert pools.count("llm") <= 1
    settings.max_concurrent = 10
    await engine.step()
    active = list(engine.dispatcher.active.values())
    assert len(active) == 5  # 4 plain + only one of the pool
    assert [a.job.pool for a in active].count("llm") == 1
    fake.gate.set()
    await settle(engine)
    assert all(r.status is RunStatus.SUCCEEDED for r in await all_runs(store))
    assert len(await all_runs(store)) == 6


async def test_unknown_pool_is_rejected_when_saved(engine, settings: Settings):
    settings.pools = {"llm": 1}
    with pytest.raises(JobError, match="pool: unknown pool 'gpu'"):
        await engine.control.add_job(make_job("x", pool="gpu"))


async def test_retries_back_off_exponentially_then_fail(engine, clock, store):
    job = await engine.control.add_job(make_job("flaky", "0 9 * * *", "fail", max_retries=2, retry_delay_s=10))
    clock.set(ms("2026-03-02T09:00:00Z"))
    await run_until(engine, clock, ms("2026-03-02T09:10:00Z"))
    runs = await all_runs(store, job.id)
    assert [(r.attempt, r.trigger, r.status) for r in runs] == [
        (1, Trigger.SCHEDULE, RunStatus.FAILED),
        (2, Trigger.RETRY, RunStatus.FAILED),
        (3, Trigger.RETRY, RunStatus.FAILED),
    ]
    assert runs[1].retry_of == runs[0].id and runs[2].retry_of == runs[0].id
    gap1 = runs[1].started_at - runs[0].finished_at
    gap2 = runs[2].started_at - runs[1].finished_at
    assert 5_000 <= gap1 <= 10_000  # 10 s scaled by jitter in [0.5, 1]
    assert 10_000 <= gap2 <= 20_000  # doubled
    fresh = await store.get_job(job.id)
    assert fresh.last_status is RunStatus.FAILED and fresh.consecutive_failures == 1


def test_backoff_jitter_stays_in_bounds():
    job = make_job("j", max_retries=5, retry_delay_s=4)
    rng = random.Random(1)
    for attempt in range(1, 6):
        base = 4_000 * 2 ** (attempt - 1)
        delays = {retry_delay_ms(job, attempt, rng) for _ in range(200)}
        assert min(delays) >= base // 2 and max(delays) <= base
        assert len(delays) > 50  # jittered, not constant
    assert retry_delay_ms(job, 1, rng, retry_after_s=60) == 60_000


async def test_permanent_failure_is_not_retried(engine, clock, store):
    job = await engine.control.add_job(make_job("auth", "0 9 * * *", "perm", max_retries=3))
    clock.set(ms("2026-03-02T09:00:00Z"))
    await run_until(engine, clock, ms("2026-03-02T10:00:00Z") - 1)
    runs = await all_runs(store, job.id)
    assert [(r.attempt, r.status) for r in runs] == [(1, RunStatus.FAILED)]
    assert runs[0].error == "401 unauthorized"


async def test_a_crashing_executor_fails_that_run_only(engine, clock, store):
    bad = await engine.control.add_job(make_job("bad", "* * * * *", "crash"))
    good = await engine.control.add_job(make_job("good", "* * * * *", "ok"))
    await run_until(engine, clock, ms("2026-03-02T09:02:00Z"))
    bad_runs = await all_runs(store, bad.id)
    good_runs = await all_runs(store, good.id)
    assert [r.status for r in bad_runs] == [RunStatus.FAILED] * 3
    assert bad_runs[0].error == "RuntimeError: executor bug"
    assert [r.status for r in good_runs] == [RunStatus.SUCCEEDED] * 3


async def test_chains_run_on_success_and_on_failure(engine, clock, store):
    await engine.control.add_job(make_job("notify-ok", "@yearly"))
    await engine.control.add_job(make_job("notify-fail", "@yearly"))
    ok = await engine.control.add_job(make_job("ok", "0 9 * * *", "ok", on_success=["notify-ok"]))
    bad = await engine.control.add_job(
        make_job("bad", "0 9 * * *", "fail", on_failure=["notify-fail"], on_success=["notify-ok"])
    )
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    runs = await all_runs(store)
    chained = [r for r in runs if r.trigger is Trigger.CHAIN]
    by_parent = {r.triggered_by: r.job_name for r in chained}
    ok_run = next(r for r in runs if r.job_id == ok.id)
    bad_run = next(r for r in runs if r.job_id == bad.id)
    assert by_parent == {ok_run.id: "notify-ok", bad_run.id: "notify-fail"}
    assert all(r.status is RunStatus.SUCCEEDED for r in chained)


async def test_chain_cycles_and_missing_targets_are_rejected(engine):
    await engine.control.add_job(make_job("a", "@daily"))
    with pytest.raises(JobError, match="on-success: no job named 'ghost'"):
        await engine.control.add_job(make_job("b", "@daily", on_success=["ghost"]))
    await engine.control.add_job(make_job("b", "@daily", on_success=["a"]))
    a = await engine.control.job("a")
    a.on_failure = ["b"]
    with pytest.raises(JobError, match=r"cycle \(a -> b -> a\)"):
        await engine.control.update_job(a)
    with pytest.raises(JobError, match="chained from b"):
        await engine.control.remove_job("a")


async def test_auto_disable_after_consecutive_failures(engine, clock, store, settings: Settings):
    settings.auto_disable_after = 3
    job = await engine.control.add_job(make_job("broken", "* * * * *", "fail"))
    sub = engine.bus.subscribe()
    await run_until(engine, clock, ms("2026-03-02T09:10:00Z"))
    runs = await all_runs(store, job.id)
    assert [r.status for r in runs] == [RunStatus.FAILED] * 3
    fresh = await store.get_job(job.id)
    assert not fresh.enabled
    assert fresh.auto_disabled == "3 consecutive failures (last: exited with code 1)"
    kinds = []
    while not sub.queue.empty():
        kinds.append(sub.queue.get_nowait().kind)
    assert EventKind.JOB_AUTO_DISABLED in kinds
    # enabling it again clears the reason and the count
    again = await engine.control.set_enabled("broken", True)
    assert again.enabled and again.auto_disabled is None and again.consecutive_failures == 0


async def test_interrupted_and_skipped_do_not_count_towards_auto_disable(engine, clock, store, settings):
    settings.auto_disable_after = 2
    job = await engine.control.add_job(make_job("j", "* * * * *", "fail"))
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    await engine.control.pause()
    clock.set(ms("2026-03-02T09:05:00Z"))
    await settle(engine)
    fresh = await store.get_job(job.id)
    assert fresh.enabled and fresh.consecutive_failures == 1


async def test_pause_records_due_slots_as_skipped_and_holds_manual_runs(engine, clock, store):
    job = await engine.control.add_job(make_job("p", "* * * * *"))
    await engine.control.pause()
    manual = await engine.control.trigger("p")
    await run_until(engine, clock, ms("2026-03-02T09:02:00Z"))
    runs = await all_runs(store, job.id)
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    assert [r.reason for r in skipped] == ["paused"] * 3
    assert (await store.get_run(manual.id)).status is RunStatus.PENDING
    await engine.control.resume()
    await settle(engine)
    assert (await store.get_run(manual.id)).status is RunStatus.SUCCEEDED


async def test_cancel_a_running_and_a_pending_run(engine, clock, store, fake: FakeExecutor):
    await engine.control.add_job(make_job("c", "@yearly", "gate"))
    run = await engine.control.trigger("c")
    await engine.step()
    await fake.started.wait()
    pending = await engine.control.trigger("c")  # overlap skip would skip it at dispatch; cancel first
    cancelled_pending = await engine.control.cancel(pending.id)
    assert cancelled_pending.status is RunStatus.CANCELLED
    await engine.control.cancel(run.id)
    await settle(engine)
    final = await store.get_run(run.id)
    assert final.status is RunStatus.CANCELLED
    assert final.reason == "cancelled by request"


async def test_orphaned_runs_become_interrupted_and_are_retried(store, settings, clock, fake):
    job_engine = Engine(store, settings, clock, executors={TargetKind.SHELL: fake})
    await job_engine.open()
    await job_engine.try_acquire()
    job = await job_engine.control.add_job(make_job("o", "@yearly", "ok", max_retries=1, retry_delay_s=0))
    run = await job_engine.control.trigger("o")
    assert (await store.claim("deadhost:1:x", clock.now_ms(), 30_000, ClaimLimits(1, only_roots=[run.id]))).started
    await store.release_lease(job_engine.node)
    job_engine.holding = False
    await job_engine.try_acquire()  # a new holder looks for what the old one left running
    # another host's run: its own scheduler may still be stopping it until the run's lease runs out
    assert (await store.get_run(run.id)).status is RunStatus.RUNNING
    clock.advance(31)
    assert await job_engine.renew()
    runs = await all_runs(store, job.id)
    assert runs[0].status is RunStatus.INTERRUPTED
    assert "deadhost:1:x" in runs[0].reason
    assert runs[1].trigger is Trigger.RETRY and runs[1].status is RunStatus.PENDING
    await settle(job_engine)
    assert (await store.get_run(runs[1].id)).status is RunStatus.SUCCEEDED
    await job_engine.close()


@contextlib.asynccontextmanager
async def two_engines(
    store: SQLiteStore, settings: Settings, clock: FakeClock, fake: FakeExecutor
) -> AsyncIterator[tuple[Engine, Engine]]:
    """Two engines on one database file, each with its own connection: two processes, in effect."""
    other_store = SQLiteStore(settings.db)
    await other_store.open()
    a = Engine(store, settings, clock, executors={TargetKind.SHELL: fake})
    b = Engine(other_store, settings, clock, executors={TargetKind.SHELL: fake})
    await a.open()
    await b.open()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
        await other_store.close()


async def test_one_lease_holder_per_store(store, settings, clock, fake):
    async with two_engines(store, settings, clock, fake) as (a, b):
        assert await a.try_acquire()
        assert not await b.try_acquire()
        assert b.holder is not None and b.holder.holder == a.node
        clock.advance(settings.lease.ttl + 1)  # a stopped renewing
        assert await b.try_acquire()
        assert not await a.renew()
        assert not a.holding


async def test_a_dead_holder_on_this_host_is_replaced_at_once(store, settings, clock):
    from cronui.model import Lease

    dead = Lease("ghost", __import__("socket").gethostname(), 2**22 + 12345, "tcp://127.0.0.1:9", 0, 10**15)
    await store.acquire_lease(dead, clock.now_ms(), lambda lease: True)
    eng = Engine(store, settings, clock)
    await eng.open()
    try:
        assert await eng.try_acquire()
    finally:
        await eng.close()


async def test_disabled_job_does_not_fire_and_enabling_does_not_replay(engine, clock, store):
    job = await engine.control.add_job(make_job("d", "* * * * *"))
    await engine.control.set_enabled("d", False)
    await run_until(engine, clock, ms("2026-03-02T09:30:00Z"))
    assert await all_runs(store, job.id) == []
    enabled = await engine.control.set_enabled("d", True)
    assert enabled.next_run_at == ms("2026-03-02T09:31:00Z")


async def test_removed_job_frees_its_name_and_keeps_history(engine, clock, store):
    job = await engine.control.add_job(make_job("r", "* * * * *"))
    await run_until(engine, clock, ms("2026-03-02T09:00:00Z"))
    await engine.control.remove_job("r")
    again = await engine.control.add_job(make_job("r", "@daily"))
    assert again.id != job.id
    assert len(await all_runs(store, job.id)) == 1


async def test_dst_fall_back_fixed_time_job_runs_once(engine, clock, store):
    job = await engine.control.add_job(make_job("nightly", "30 2 * * *", timezone="Europe/Berlin"))
    clock.set(ms("2026-10-23T00:00:00Z"))
    await engine.control.update_job(await store.get_job(job.id))  # next fire from the new "now"
    await run_until(engine, clock, ms("2026-10-28T00:00:00Z"))
    runs = [r for r in await all_runs(store, job.id) if r.status is RunStatus.SUCCEEDED]
    assert [r.scheduled_for for r in runs] == [
        ms("2026-10-23T00:30:00Z"),
        ms("2026-10-24T00:30:00Z"),
        ms("2026-10-25T00:30:00Z"),  # 02:30 CEST, first pass only
        ms("2026-10-26T01:30:00Z"),
        ms("2026-10-27T01:30:00Z"),
    ]


async def test_output_events_are_throttled_and_milestones_kept(engine, clock, store):
    job = await engine.control.add_job(make_job("out", "@yearly", "print:hello"))
    sub = engine.bus.subscribe()
    await engine.control.trigger("out")
    await settle(engine)
    run = (await all_runs(store, job.id))[0]
    assert run.output == "hello"
    assert [m.name for m in run.milestones] == ["fake-started"]
    events = []
    while not sub.queue.empty():
        events.append(sub.queue.get_nowait())
    kinds = [e.kind for e in events if e.run_id == run.id]
    assert kinds == [EventKind.QUEUED, EventKind.STARTED, EventKind.MILESTONE, EventKind.OUTPUT, EventKind.FINISHED]
    await engine.bus.flush()
    stored = await store.run_events(run.id)
    assert [e.kind for e in stored] == kinds
    assert [e.id for e in stored] == sorted(e.id for e in stored)


async def test_idle_engine_sleeps_until_the_next_slot(engine, clock):
    await engine.control.add_job(make_job("daily", "0 9 * * *"))
    wake = await settle(engine)
    assert wake == ms("2026-03-02T09:00:00Z")
    clock.set(wake)
    wake = await settle(engine)
    assert wake == ms("2026-03-03T09:00:00Z")


async def test_a_poke_wakes_the_loop_at_once(store, settings, clock, fake):
    from cronui.engine.control import poke

    eng = Engine(store, settings, clock, executors={TargetKind.SHELL: fake})
    await eng.open()
    stop = asyncio.Event()
    loop_task = asyncio.create_task(eng.run(stop))
    try:
        while not eng.holding:
            await asyncio.sleep(0.01)
        await eng.control.add_job(make_job("now", "@yearly"))
        await eng.step()
        run = await store.insert_run(
            __import__("cronui.model", fromlist=["Run"]).Run(
                job_id=(await store.get_job_by_name("now")).id,
                trigger=Trigger.MANUAL,
                scheduled_for=clock.now_ms(),
                queued_at=clock.now_ms(),
            )
        )
        assert await poke(eng.address)
        for _ in range(200):
            if (await store.get_run(run.id)).status is RunStatus.SUCCEEDED:
                break
            await asyncio.sleep(0.01)
        assert (await store.get_run(run.id)).status is RunStatus.SUCCEEDED
    finally:
        stop.set()
        await loop_task
        await eng.close()


async def test_the_scheduler_applies_retention_itself(store, settings, clock, fake):
    settings.retention.days = 1
    eng = Engine(store, settings, clock, executors={TargetKind.SHELL: fake})
    await eng.open()
    job = await eng.control.add_job(make_job("old", "@yearly"))
    from cronui.model import Run

    day = 86_400_000
    for age in (5, 3, 0):
        run = await store.insert_run(
            Run(
                job_id=job.id,
                trigger=Trigger.MANUAL,
                scheduled_for=clock.now_ms() - age * day,
                queued_at=clock.now_ms() - age * day,
            )
        )
        run.status = RunStatus.SUCCEEDED
        await store.finish_runs([RunEnd(run)])
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    for _ in range(200):
        if len(await all_runs(store, job.id)) == 1:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    await eng.close()
    assert [r.queued_at for r in await all_runs(store, job.id)] == [clock.now_ms()]


async def test_apply_saves_many_jobs_in_one_go_or_none(engine, store):
    await engine.control.add_job(make_job("keep", "@daily"))
    gone = await engine.control.add_job(make_job("gone", "@daily"))
    keep = await engine.control.job("keep")
    keep.schedule = "@hourly"
    new = [make_job(f"new{i}", "@daily", on_success=["keep"]) for i in range(3)]
    await engine.control.apply(new, [keep], [gone])
    names = [j.name for j in await store.list_jobs()]
    assert names == ["keep", "new0", "new1", "new2"]
    assert (await engine.control.job("keep")).schedule == "@hourly"
    # one bad job: nothing is written, and the message names the job and the field
    bad = [make_job("fine", "@daily"), make_job("broken", "0 61 * * *")]
    with pytest.raises(JobError, match="job 'broken': schedule: hour field: 61 is out of range 0-23"):
        await engine.control.apply(bad, [], [])
    looped = await engine.control.job("keep")
    looped.on_failure = ["new0"]
    with pytest.raises(JobError, match="cycle"):
        await engine.control.apply([], [looped], [])
    assert [j.name for j in await store.list_jobs()] == names


async def test_a_write_from_an_attached_engine_wakes_the_holder(store, settings, clock, fake):
    async with two_engines(store, settings, clock, fake) as (holder, attached):
        assert await holder.try_acquire()
        assert not await attached.try_acquire()
        await attached.control.add_job(make_job("poked", "@yearly"))
        holder._wake.clear()
        await attached.control.trigger("poked")
        for _ in range(200):  # the poke travels over the holder's loopback socket
            if holder._wake.is_set():
                break
            await asyncio.sleep(0.01)
        assert holder._wake.is_set()
        assert not attached._wake.is_set()


async def test_a_deep_queue_starves_no_other_job(engine, clock, store, settings: Settings, fake: FakeExecutor):
    """300 every-second jobs share a pool of one (their runs pile up behind it): an ordinary every-second
    job keeps firing each second, and a run-now of an unrelated job starts in the next pass."""
    settings.pools = {"p": 1}
    for i in range(300):
        await engine.control.add_job(
            make_job(f"pooled{i:03d}", "every 1s", "gate", pool="p", overlap=OverlapPolicy.QUEUE)
        )
    ticker = await engine.control.add_job(make_job("ticker", "every 1s", "ok"))
    await engine.control.add_job(make_job("other", "@yearly", "ok"))
    start = clock.now_ms()
    for second in range(1, 6):
        clock.set(start + second * 1000)
        await engine.step()
        await asyncio.sleep(0.01)  # let the ticker's run finish
    assert [a.job.pool for a in engine.dispatcher.active.values()] == ["p"]
    ticks = [r for r in await all_runs(store, ticker.id) if r.status is RunStatus.SUCCEEDED]
    assert len(ticks) == 5
    run = await engine.control.trigger("other")
    await engine.step()
    await asyncio.sleep(0.01)
    assert run.id in fake.calls


async def test_one_job_with_a_bad_value_never_stops_the_others(engine, clock, store, fake: FakeExecutor):
    """A job stored with a duration that overflows (written behind the validators' back) is set aside with a
    log line; every other job keeps firing, and a manual run still starts."""
    bad = await engine.control.add_job(make_job("bad", "* * * * *", "ok"))
    good = await engine.control.add_job(make_job("good", "* * * * *", "ok"))
    async with store.transaction() as db:
        await db.execute("UPDATE jobs SET misfire_grace_s = 1e306 WHERE id = ?", (bad.id,))
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    assert [r.status for r in await all_runs(store, good.id)] == [RunStatus.SUCCEEDED]
    assert (await store.get_job(bad.id)).next_run_at is None
    manual = await engine.control.trigger("bad")
    await settle(engine)
    assert (await store.get_run(manual.id)).status is RunStatus.SUCCEEDED


async def test_a_tui_on_a_cluster_views_unless_told_to_execute(store, settings, clock, fake):
    """In cluster mode a TUI's client does not run the engine (no jobs run on a laptop by accident)."""
    from cronui.ui.client import EngineClient

    eng = Engine(store, settings, clock, executors={TargetKind.SHELL: fake})
    store.multi_node = True  # as PostgresStore says
    try:
        viewer, executor = EngineClient(store, eng), EngineClient(store, eng, execute=True)
        assert not viewer.execute and executor.execute
        stop = asyncio.Event()
        stop.set()
        await viewer.run_engine(stop)
        assert not eng.holding and eng.wakeups == 0  # the loop never ran
    finally:
        store.multi_node = False
    assert EngineClient(store, eng).execute  # one SQLite file: the TUI schedules when nothing else does


async def test_a_run_taken_over_while_this_scheduler_was_away_is_stopped_at_its_next_renewal(
    engine, clock, store, fake: FakeExecutor
):
    """Frozen or cut off past the lease, a scheduler comes back to find its run recorded by another one:
    it stops the run at once rather than let it overlap the retry that may be running elsewhere."""
    await engine.control.add_job(make_job("long", "@yearly", "gate"))
    run = await engine.control.trigger("long")
    await engine.step()
    await fake.started.wait()
    async with store.transaction() as db:  # what the other scheduler's recovery wrote
        await db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run.id,))
    assert await engine.renew()
    await engine.dispatcher.wait_idle()
    assert engine.dispatcher.active == {}
    assert (await store.get_run(run.id)).status is RunStatus.INTERRUPTED  # the recovery stands (fenced)


async def test_an_end_written_after_a_takeover_is_refused_and_neither_recorded_nor_delivered(
    engine, clock, store, fake: FakeExecutor, monkeypatch
):
    """A scheduler paused past its run's lease finishes the run after another one took it over, before that
    one recorded it interrupted: its stale end is refused by the fence token, so it publishes no end and
    delivers nothing; the recovery's end is then recorded."""
    from cronui.engine import finishing
    from cronui.targets import Delivery

    posted: list[str] = []

    async def post(client, url, body, env, **kw):  # any delivery attempt is a second outcome
        posted.append(url)
        raise AssertionError("a fenced-off end must not be delivered")

    monkeypatch.setattr(finishing.delivery, "post", post)
    job = make_job("paused", "@yearly", "gate")
    job.delivery = Delivery(mode="always", to="http://127.0.0.1:9/hook")
    await engine.control.add_job(job)
    run = await engine.control.trigger("paused")
    await engine.step()
    await fake.started.wait()
    events = engine.bus.subscribe()
    held = await store.get_run(run.id)
    taken = await store.take_over(held, clock.now_ms(), expired_only=False)  # another scheduler's recovery
    assert taken is not None
    fake.gate.set()  # the paused scheduler's run ends now
    await engine.dispatcher.wait_idle()
    await engine.dispatcher.wait_deliveries()
    assert (await store.get_run(run.id)).status is RunStatus.RUNNING  # its end was refused
    taken.status, taken.finished_at, taken.reason = RunStatus.INTERRUPTED, clock.now_ms(), "its scheduler stopped"
    assert (await store.finish_runs([RunEnd(taken)]))[0] is not None
    final = await store.get_run(run.id)
    assert (final.status, final.reason, final.delivery_status) == (RunStatus.INTERRUPTED, "its scheduler stopped", None)
    ends = []
    while not events.queue.empty():
        ev = events.queue.get_nowait()
        if ev.kind is EventKind.FINISHED and ev.run_id == run.id:
            ends.append(ev)
    assert ends == [] and posted == []


async def test_the_cluster_wide_cap_from_the_settings_limits_runs_at_once(engine, store, settings, fake: FakeExecutor):
    """`[cluster] max_running = 2`: of five jobs due at once only two run until one of them ends, though
    the node itself could run sixteen."""
    settings.cluster.max_running = 2
    for i in range(5):
        await engine.control.add_job(make_job(f"c{i}", "@yearly", "gate"))
        await engine.control.trigger(f"c{i}")
    await engine.step()
    assert len(engine.dispatcher.active) == 2
    await engine.step()
    assert len(engine.dispatcher.active) == 2
    fake.gate.set()
    await settle(engine)
    assert [r.status for r in await all_runs(store)] == [RunStatus.SUCCEEDED] * 5


async def test_a_node_warns_once_when_its_clock_is_off_the_databases(
    store, settings, clock, fake: FakeExecutor, monkeypatch, caplog
):
    """In cluster mode each heartbeat returns the database's clock: a node 5 s ahead of it says so, once."""
    real_heartbeat = store.heartbeat

    async def heartbeat(node):
        await real_heartbeat(node)
        return node.seen_at - 5_000  # the database's clock, 5 s behind this node's

    monkeypatch.setattr(store, "heartbeat", heartbeat)
    monkeypatch.setattr(store, "multi_node", True)
    eng = Engine(store, settings, clock, executors={TargetKind.SHELL: fake})
    with caplog.at_level("WARNING", logger="cronui.engine.engine"):
        assert await eng.try_acquire()
        assert await eng.renew()
    warned = [r.getMessage() for r in caplog.records if "off the database's" in r.getMessage()]
    assert len(warned) == 1 and "+5.0 s" in warned[0]
