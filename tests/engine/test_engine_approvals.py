"""Approvals in the engine, on a fake clock: runs wait, a person's answer or the timeout's default decides
them once, the cap on waiting runs, retries that do not ask again, manual and chained runs that wait,
and the "needs approval" notice, an `approval` alert sent through the outbox to a real loopback sink."""

from __future__ import annotations

import pytest

from cronui.engine.clock import FakeClock
from cronui.engine.control import NotFound, NotWaiting
from cronui.engine.engine import Engine
from cronui.model import ChainEdge, EventKind, RunStatus, Trigger
from cronui.model.records import RunFilter
from cronui.store.sqlite import SQLiteStore
from cronui.targets import Delivery
from tests.engine.servers import Sink
from tests.helpers import FakeExecutor, make_job, ms, run_until, settle

WEEK_MS = 7 * 86_400_000


async def all_runs(store: SQLiteStore, job_id: int | None = None) -> list:
    return sorted(await store.list_runs(RunFilter(job_id=job_id, limit=100_000)), key=lambda r: r.id)


async def test_a_slot_waits_until_approved_then_runs(engine: Engine, clock: FakeClock, store, fake: FakeExecutor):
    job = await engine.control.add_job(make_job("deploy", "0 9 * * *", approval=True))
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    [run] = await all_runs(store, job.id)
    assert run.status is RunStatus.AWAITING_APPROVAL and fake.calls == []
    assert run.approval_deadline == ms("2026-03-02T10:00:00Z") and run.approval_default == "reject"
    clock.set(ms("2026-03-02T09:20:00Z"))
    await settle(engine)
    assert fake.calls == []  # still waiting: nobody claimed it
    approved = await engine.control.approve(run.id, "ana@box")
    assert approved.status is RunStatus.PENDING
    await settle(engine)
    [done] = await all_runs(store, job.id)
    assert done.status is RunStatus.SUCCEEDED and fake.calls == [run.id]
    assert done.started_at == ms("2026-03-02T09:20:00Z")
    assert [m.name for m in done.milestones][:2] == ["approval-requested", "approved"]


async def test_a_timeout_with_default_approve_runs_the_job(engine: Engine, clock: FakeClock, store, fake):
    job = await engine.control.add_job(
        make_job("nightly", "0 9 * * *", approval=True, approval_timeout_s=1800, approval_default="approve")
    )
    await run_until(engine, clock, clock.now_ms() + WEEK_MS)
    runs = await all_runs(store, job.id)
    assert len(runs) == 7 and all(r.status is RunStatus.SUCCEEDED for r in runs)
    assert fake.calls == [r.id for r in runs]
    # each started at its deadline, half an hour after its slot: once, by the timeout
    assert all(r.started_at == r.scheduled_for + 1_800_000 for r in runs)
    for r in runs:
        [approved] = [m for m in r.milestones if m.name == "approved"]
        assert approved.data == {"by": "timeout", "timed_out": True}


async def test_a_timeout_with_default_reject_runs_nothing(engine: Engine, clock: FakeClock, store, fake):
    job = await engine.control.add_job(make_job("risky", "0 9 * * *", approval=True, approval_timeout_s=600))
    await run_until(engine, clock, clock.now_ms() + WEEK_MS)
    runs = await all_runs(store, job.id)
    assert len(runs) == 7 and fake.calls == []
    assert {r.status for r in runs} == {RunStatus.SKIPPED}
    assert {r.reason for r in runs} == {"rejected: nobody approved it by its deadline (the default is reject)"}
    assert all(r.finished_at == r.scheduled_for + 600_000 for r in runs)


async def test_a_rejected_run_is_skipped_and_deciding_again_is_refused(engine: Engine, clock, store, fake):
    job = await engine.control.add_job(make_job("x", "0 9 * * *", approval=True))
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    [run] = await all_runs(store, job.id)
    rejected = await engine.control.reject(run.id, "bo@desk", "freeze week")
    assert rejected.status is RunStatus.SKIPPED and rejected.reason == "rejected by bo@desk: freeze week"
    with pytest.raises(NotWaiting, match=f"run #{run.id} is not waiting for approval \\(it is skipped\\)"):
        await engine.control.approve(run.id, "ana@box")
    with pytest.raises(NotFound, match="no run #999"):
        await engine.control.reject(999, "ana@box")
    await run_until(engine, clock, ms("2026-03-02T12:00:00Z"))
    assert fake.calls == [] and (await store.get_run(run.id)).status is RunStatus.SKIPPED


async def test_the_cap_skips_a_slot_while_enough_runs_wait(engine: Engine, clock: FakeClock, store, fake):
    job = await engine.control.add_job(make_job("often", "* * * * *", approval=True, approval_max_waiting=2))
    await run_until(engine, clock, ms("2026-03-02T09:02:00Z"))
    runs = await all_runs(store, job.id)
    assert [r.status for r in runs] == [
        RunStatus.AWAITING_APPROVAL,
        RunStatus.AWAITING_APPROVAL,
        RunStatus.SKIPPED,
    ]
    assert runs[2].reason == "approvals full: 2 runs of the job already wait for approval (approval_max_waiting 2)"
    await engine.control.approve(runs[0].id, "ana@box")
    await run_until(engine, clock, ms("2026-03-02T09:03:00Z"))
    after = await all_runs(store, job.id)
    assert after[0].status is RunStatus.SUCCEEDED and after[3].status is RunStatus.AWAITING_APPROVAL


async def test_retries_of_an_approved_run_do_not_ask_again(engine: Engine, clock: FakeClock, store, fake):
    job = await engine.control.add_job(
        make_job("flaky", "0 9 * * *", "fail", approval=True, max_retries=2, retry_delay_s=10)
    )
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    [run] = await all_runs(store, job.id)
    await engine.control.approve(run.id, "ana@box")
    await run_until(engine, clock, ms("2026-03-02T09:10:00Z"))
    runs = await all_runs(store, job.id)
    assert [(r.attempt, r.trigger, r.status) for r in runs] == [
        (1, Trigger.SCHEDULE, RunStatus.FAILED),
        (2, Trigger.RETRY, RunStatus.FAILED),
        (3, Trigger.RETRY, RunStatus.FAILED),
    ]
    assert len(fake.calls) == 3


async def test_manual_and_chained_runs_wait_too(engine: Engine, clock: FakeClock, store, fake):
    gated = await engine.control.add_job(make_job("gated", "@yearly", approval=True))
    await engine.control.add_job(make_job("first", "0 9 * * *", "ok", on_success=["gated"]))
    manual = await engine.control.trigger("gated")
    assert manual.status is RunStatus.AWAITING_APPROVAL and manual.trigger is Trigger.MANUAL
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    runs = await all_runs(store, gated.id)
    chained = [r for r in runs if r.trigger is Trigger.CHAIN]
    assert [r.status for r in chained] == [RunStatus.AWAITING_APPROVAL]
    assert len(fake.calls) == 1  # `first` ran; both runs of `gated` wait
    await engine.bus.flush()
    events = await store.events_since(0)
    queued = [e for e in events if e.kind is EventKind.QUEUED and e.run_id in {manual.id, chained[0].id}]
    assert [e.data["status"] for e in queued] == ["awaiting_approval", "awaiting_approval"]


async def test_an_edge_with_approval_makes_its_chained_run_wait_and_a_plain_edge_does_not(
    engine: Engine, clock: FakeClock, store, fake
):
    """`on_success = [{job = "deploy", approval = true}, "notify"]`: the deploy started by the chain waits
    for a person although the deploy job itself does not ask for approval; the plain edge fires as ever."""
    deploy = await engine.control.add_job(make_job("deploy", "@yearly"))
    notify = await engine.control.add_job(make_job("notify", "@yearly"))
    first = make_job("build", "0 9 * * *", "ok", on_success=["deploy", "notify"])
    first.set_edge("on_success", "deploy", ChainEdge(approval=True))
    await engine.control.add_job(first)
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    [waiting] = await all_runs(store, deploy.id)
    [ran] = await all_runs(store, notify.id)
    assert waiting.trigger is Trigger.CHAIN and waiting.status is RunStatus.AWAITING_APPROVAL
    assert ran.trigger is Trigger.CHAIN and ran.status is RunStatus.SUCCEEDED
    assert (await engine.store.get_job_by_name("build")).edge("on_success", "deploy").approval  # type: ignore[union-attr]


async def test_a_needs_approval_notice_is_an_approval_alert_sent_once_where_the_jobs_alerts_go(
    engine: Engine, clock: FakeClock, store, sink: Sink
):
    job = make_job("deploy", "0 9 * * *", approval=True, approval_timeout_s=1800)
    job.delivery = Delivery(mode="always", to=f"{sink.url}/ok", format="json", alert_to=f"{sink.url}/ok?alerts")
    await engine.control.add_job(job)
    await engine.control.add_job(make_job("silent", "0 9 * * *", approval=True))  # no channel: sent nowhere
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    await engine.dispatcher.wait_deliveries()
    await settle(engine)  # a second pass sends nothing again
    await engine.watcher.drain_now()
    await engine.dispatcher.wait_deliveries()
    [run] = await all_runs(store, (await store.get_job_by_name("deploy")).id)
    [req] = sink.requests  # where the job's alerts go (--alert-to), once
    assert req.path == "/ok?alerts"
    body = req.json()
    assert body["job"] == "deploy" and body["kind"] == "approval" and body["run_id"] == run.id
    assert body["needs_approval"] is True
    assert body["deadline"] == "2026-03-02T09:30:00.000Z" and body["default"] == "reject"
    assert body["approve"] == f"cronui runs approve {run.id}"
    assert body["reject"] == f"cronui runs reject {run.id} --reason TEXT"
    assert body["alert"] == body["text"]
    assert body["text"].startswith(f"✋ deploy #{run.id} needs approval: until 2026-03-02T09:30:00.000Z")
    assert (await store.get_run(run.id)).approval_notice == "recorded"
    episodes = {e.job_name: (e, sends) for e, sends in await store.list_alert_episodes()}
    notice, [send] = episodes["deploy"]
    assert (str(notice.kind), notice.episode) == ("approval", str(run.id))
    assert (send.notice, send.outcome) == ("approval", "sent")
    silent, sends = episodes["silent"]
    assert sends == [] and str(silent.kind) == "approval"


async def test_a_needs_approval_notice_follows_alert_on(engine: Engine, clock: FakeClock, store, sink: Sink):
    job = make_job("deploy", "0 9 * * *", approval=True, alert_on=["failure"])
    job.delivery = Delivery(alert_to=f"{sink.url}/ok", format="json")
    await engine.control.add_job(job)
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    await engine.watcher.drain_now()
    await engine.dispatcher.wait_deliveries()
    assert sink.requests == [], "--alert-on failure leaves approval notices out"
    [(episode, sends)] = await store.list_alert_episodes()
    assert str(episode.kind) == "approval" and sends == []


async def test_a_slack_notice_says_it_in_one_message(engine: Engine, clock: FakeClock, store, sink: Sink):
    job = make_job("ship", "0 9 * * *", approval=True, approval_default="approve")
    job.delivery = Delivery(mode="always", to=f"{sink.url}/ok", format="slack")
    await engine.control.add_job(job)
    clock.set(ms("2026-03-02T09:00:00Z"))
    await settle(engine)
    await engine.dispatcher.wait_deliveries()
    [run] = await all_runs(store)
    [req] = sink.requests
    assert req.json() == {
        "text": f"✋ ship #{run.id} needs approval: until 2026-03-02T10:00:00.000Z, then it runs\n"
        f"approve: cronui runs approve {run.id}\n"
        f"reject: cronui runs reject {run.id} --reason TEXT"
    }
