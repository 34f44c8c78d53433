"""Budget alerts, retry notices and the alert state jobs kept in memory before episodes, on both backends, with
a fake clock and nodes that each have their own store and watcher (as processes would): a budget alert goes out
once per job and UTC day however many schedulers turn runs away, routed by `--alert-on`; a retry notice is a
`failure` notice sent once that leaves the job's failure episode alone; a job that was alerting before
episodes gets its failure episode adopted (not sent again) and its next success sends one "recovered"."""

from __future__ import annotations

import asyncio

import httpx

from cronui.engine import failure_alerts, job_notices
from cronui.engine.alerts import raise_alert
from cronui.engine.clock import FakeClock
from cronui.model import REASON_BUDGET, Delivery, Job, Run, RunStatus, Trigger
from cronui.model.alerts import SENT, AlertKind
from cronui.model.records import DAY_MS, day_start
from cronui.store.base import Store
from tests.alert_receivers import json_receiver
from tests.helpers import make_job
from tests.store.backends import same_database
from tests.store.test_store_alert_nodes import Node

T0 = 1_700_000_000_000 + 3_600_000  # 2023-11-14T23:13:20Z: the next UTC day begins within the hour


async def skipped(store: Store, job: Job, at: int) -> Run:
    """A slot a spent daily budget turned away, as the claim returns it."""
    assert job.id is not None
    run = await store.insert_run(Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=at, queued_at=at))
    assert run is not None
    run.status, run.job_name = RunStatus.SKIPPED, job.name
    run.reason = f"{REASON_BUDGET}: the job's daily budget is $0.5"
    return run


async def passes(nodes: list[Node], times: int = 2) -> None:
    for _ in range(times):
        await asyncio.gather(*(n.pass_() for n in nodes))


def texts(bodies: list[dict]) -> list[str]:
    return [b["message"] for b in bodies]


async def test_a_budget_alert_goes_out_once_a_day_with_two_schedulers_racing(backend: Store) -> None:
    clock = FakeClock(T0)
    other = same_database(backend)
    await other.open()
    with json_receiver() as receiver:
        to = f"json://127.0.0.1:{receiver.port}/alerts"
        digest = await backend.create_job(make_job("digest", created_at=T0, delivery=Delivery(alert_to=to)))
        quiet = await backend.create_job(
            make_job("quiet", created_at=T0, delivery=Delivery(alert_to=to), alert_on=["failure"])
        )
        async with httpx.AsyncClient() as client:
            nodes = [Node(s, clock, f"node-{i}", client) for i, s in enumerate([backend, other])]
            told: list[dict[int, int]] = [{}, {}]
            first = await skipped(backend, digest, T0)
            turned = [first, await skipped(backend, quiet, T0)]
            opened = await asyncio.gather(
                *(job_notices.budget_spent(s, turned, clock.now_ms(), told[i]) for i, s in enumerate([backend, other]))
            )
            assert sorted(opened) == [0, 2], "of two schedulers turning the same jobs away, one records each alert"
            await passes(nodes)
            assert texts(receiver.bodies) == [
                f"💸 digest: run #{first.id} not started, {REASON_BUDGET}: the job's daily budget is $0.5"
            ], "once, and not for a job whose --alert-on leaves budget out"

            clock.advance(20 * 60)  # later the same day: more runs turned away, by both
            later = [await skipped(backend, digest, clock.now_ms())]
            for i, s in enumerate([backend, other]):
                assert await job_notices.budget_spent(s, later, clock.now_ms(), told[i]) == 0
            assert await job_notices.budget_spent(backend, later, clock.now_ms(), {}) == 0  # a restarted node
            await passes(nodes)
            assert len(receiver.bodies) == 1

            clock.set(day_start(T0) + DAY_MS + 5_000)  # the next UTC day: one new alert
            nextday = [await skipped(backend, digest, clock.now_ms())]
            await asyncio.gather(
                *(job_notices.budget_spent(s, nextday, clock.now_ms(), told[i]) for i, s in enumerate([backend, other]))
            )
            await passes(nodes)
            assert len(receiver.bodies) == 2 and f"run #{nextday[0].id} not started" in receiver.bodies[1]["message"]
    await other.close()
    episodes = [(e, sends) for e, sends in await backend.list_alert_episodes() if e.kind is AlertKind.BUDGET]
    assert [(e.job_name, e.episode, e.closed_at) for e, _ in reversed(episodes)] == [
        ("digest", str(day_start(T0)), day_start(T0) + DAY_MS),  # it ends with its day, recovered from nothing
        ("quiet", str(day_start(T0)), day_start(T0) + DAY_MS),
        ("digest", str(day_start(T0) + DAY_MS), day_start(T0) + 2 * DAY_MS),
    ]
    assert [[(s.notice, s.outcome) for s in sends] for _, sends in reversed(episodes)] == [
        [("budget", SENT)],
        [],
        [("budget", SENT)],
    ]
    assert await backend.open_alert_episodes() == []


async def test_a_retry_notice_is_a_failure_notice_sent_once_that_leaves_the_failure_episode_alone(
    backend: Store,
) -> None:
    clock = FakeClock(T0)
    with json_receiver() as receiver:
        to = f"json://127.0.0.1:{receiver.port}/alerts"
        job = await backend.create_job(
            make_job("nightly", created_at=T0, max_retries=3, delivery=Delivery(alert_to=to, notify_retries=True))
        )
        muted = await backend.create_job(
            make_job("muted", created_at=T0, max_retries=3, alert_on=["late"], delivery=Delivery(alert_to=to))
        )
        assert job.id is not None
        # the job's --alert-after episode is open (an earlier run failed for good)
        standing = await raise_alert(
            backend, f"job:{job.id}", AlertKind.FAILURE, "7", "🚨 nightly failed 3 times", None, job.id, now=T0
        )
        assert standing
        run = Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=T0, status=RunStatus.FAILED, error="boom")
        run.id, run.attempt = 12, 1
        assert await job_notices.retry_planned(backend, run, job, 30_000, T0)
        assert not await job_notices.retry_planned(backend, run, job, 30_000, T0), "recorded once"
        other = Run(job_id=muted.id or 0, trigger=Trigger.SCHEDULE, scheduled_for=T0, status=RunStatus.FAILED)
        other.id = 13
        assert await job_notices.retry_planned(backend, other, muted, 30_000, T0)
        async with httpx.AsyncClient() as client:
            await passes([Node(backend, clock, "node-0", client)], 1)
        said = sorted(texts(receiver.bodies))
        assert said == ["nightly #12 failed, retry 1/3 in 30.0s: boom", "🚨 nightly failed 3 times"]
    [open_] = await backend.open_alert_episodes([job.id])
    assert (open_.kind, open_.episode) == (AlertKind.FAILURE, "7"), "the failure episode stands, alone"
    notices = {e.episode: [(s.notice, s.outcome) for s in sends] for e, sends in await backend.list_alert_episodes()}
    assert notices["retry:12"] == [("failure", SENT)] and notices["retry:13"] == []
    assert (await backend.job_health())[job.id] == "failing"
    assert (await backend.job_health())[muted.id or 0] != "failing"


async def test_a_job_alerting_before_episodes_gets_its_episode_adopted_and_its_recovery_sent(backend: Store) -> None:
    clock = FakeClock(T0)
    other = same_database(backend)
    await other.open()
    with json_receiver() as receiver:
        to = f"json://127.0.0.1:{receiver.port}/alerts"
        delivery = Delivery(alert_to=to, alert_after=2, alert_cooldown_s=600)
        job = await backend.create_job(make_job("nightly", created_at=T0, delivery=delivery))
        fine = await backend.create_job(make_job("fine", created_at=T0, delivery=delivery))
        spent = await backend.create_job(make_job("spent", created_at=T0, delivery=delivery))
        gone = await backend.create_job(make_job("gone", created_at=T0, delivery=delivery))
        assert job.id and fine.id and spent.id and gone.id
        alerted_at = T0 - 60_000
        # the state the finisher kept in job memory before alerts were episodes
        await backend.set_memory(job.id, "alert", {"alerting": True, "last_alert_at": alerted_at}, T0)
        await backend.set_memory(fine.id, "alert", {"alerting": False}, T0)
        await backend.set_memory(spent.id, "budget-alert", day_start(T0), T0)
        await backend.set_memory(fine.id, "budget-alert", day_start(T0) - DAY_MS, T0)  # a day gone by
        await backend.set_memory(gone.id, "alert", {"alerting": True, "last_alert_at": alerted_at}, T0)
        await backend.remove_job(gone.id, T0)

        adopted = await asyncio.gather(*(failure_alerts.adopt_memory(s, T0) for s in (backend, other)))
        assert sum(adopted) == 2, "the failure episode and today's budget notice, recorded once"
        assert await backend.memory_alerts(["alert", "budget-alert"]) == [], "forgotten once adopted"
        assert await failure_alerts.adopt_memory(backend, T0) == 0
        [episode] = await backend.open_alert_episodes()
        assert (episode.job_id, episode.kind, episode.opened_at) == (job.id, AlertKind.FAILURE, alerted_at)
        assert (await backend.job_health())[job.id] == "failing"
        assert await job_notices.budget_spent(backend, [await skipped(backend, spent, T0)], T0, {}) == 0

        async with httpx.AsyncClient() as client:
            nodes = [Node(s, clock, f"node-{i}", client) for i, s in enumerate([backend, other])]
            await passes(nodes)
            assert receiver.bodies == [], "what was told before is not told again"

            # still within the cooldown of the alert sent before: a failure says nothing
            failed = await _final(backend, job, RunStatus.FAILED, T0)
            assert not await failure_alerts.record(backend, job, failed, 3, None, T0)
            ok = await _final(backend, job, RunStatus.SUCCEEDED, T0 + 1_000)
            assert await failure_alerts.record(backend, job, ok, 0, None, T0 + 1_000)
            await passes(nodes)
    await other.close()
    assert texts(receiver.bodies) == [f"✅ nightly recovered: run #{ok.id} succeeded"]
    assert await backend.open_alert_episodes() == []
    assert (await backend.job_health())[job.id] != "failing"


async def _final(store: Store, job: Job, status: RunStatus, at: int) -> Run:
    assert job.id is not None
    run = await store.insert_run(Run(job_id=job.id, trigger=Trigger.MANUAL, scheduled_for=at, queued_at=at))
    assert run is not None
    run.status = status
    return run
