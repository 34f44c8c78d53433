"""One open episode at a time of a continuous kind (degraded, no_success, failure, infra) per subject, on
both backends: two nodes that both decide it at once (the check and the insert are apart) record one; once
it is closed, the next one opens. Kinds that are one episode per slot or run (late) stay open side by side."""

from __future__ import annotations

import asyncio

from cronui.engine import watching
from cronui.engine.alerts import close_alert, raise_alert
from cronui.model import Job, Run, RunStatus, Trigger
from cronui.model.alerts import AlertDefaults, AlertKind, job_subject
from cronui.store.base import Store
from tests.helpers import make_job
from tests.store.backends import same_database

T0 = 1_700_000_000_000


async def _open_kinds(store: Store, job_id: int) -> list[tuple[str, str]]:
    return sorted((str(e.kind), e.episode) for e in await store.open_alert_episodes([job_id]))


async def test_a_continuous_kind_has_one_open_episode_per_subject(backend: Store) -> None:
    subject = "job:1"
    for kind in (AlertKind.DEGRADED, AlertKind.NO_SUCCESS, AlertKind.FAILURE, AlertKind.INFRA):
        assert await raise_alert(backend, subject, kind, "10", "t", job_id=1, now=T0)
        assert not await raise_alert(backend, subject, kind, "11", "t", job_id=1, now=T0 + 1)
        assert await close_alert(backend, subject, kind, now=T0 + 2) == 1
        assert await raise_alert(backend, subject, kind, "12", "t", job_id=1, now=T0 + 3), "closed: a new one opens"
    assert await raise_alert(backend, "job:2", AlertKind.DEGRADED, "10", "t", job_id=2, now=T0), "another subject"
    assert await raise_alert(backend, subject, AlertKind.LATE, "100", "t", job_id=1, now=T0)
    assert await raise_alert(backend, subject, AlertKind.LATE, "200", "t", job_id=1, now=T0), "a slot each"


async def _finished(store: Store, job: Job, status: RunStatus, at: int) -> Run:
    assert job.id is not None
    run = Run(job_id=job.id, trigger=Trigger.MANUAL, scheduled_for=at, queued_at=at, started_at=at, finished_at=at)
    run.status, run.duration_ms = status, 1000
    stored = await store.insert_run(run)
    assert stored is not None
    return stored


async def test_two_nodes_weighing_runs_at_once_open_one_degraded_episode(backend: Store) -> None:
    job = await backend.create_job(make_job("flaky", alert_rate_pct=90.0, alert_rate_n=4))
    assert job.id is not None
    for i in range(4):
        await _finished(backend, job, RunStatus.FAILED, T0 + i)
    other = same_database(backend)
    await other.open()
    try:
        for i in range(5):  # each round two nodes end a run at the same moment and both find the rate too low
            at = T0 + 100 * (i + 1)
            a, b = (
                await _finished(backend, job, RunStatus.FAILED, at),
                await _finished(other, job, RunStatus.FAILED, at),
            )
            await asyncio.gather(
                watching.after_run(backend, job, a, AlertDefaults(), at),
                watching.after_run(other, job, b, AlertDefaults(), at),
            )
            opened = [e for e in await backend.open_alert_episodes([job.id]) if e.kind is AlertKind.DEGRADED]
            assert len(opened) == 1, f"round {i}"
            await close_alert(backend, job_subject(job.id), AlertKind.DEGRADED, now=at + 1)
    finally:
        await other.close()


async def test_an_episode_closed_quietly_sends_no_recovery_and_one_closed_says_its_own(backend: Store) -> None:
    assert await raise_alert(backend, "job:1", AlertKind.FAILURE, "10", "t", {"run_id": 10}, job_id=1, now=T0)
    [first] = await backend.open_alert_episodes([1])
    assert first.id is not None
    assert await backend.close_alert_episode(first.id, T0 + 1, quiet=True)
    assert not await backend.close_alert_episode(first.id, T0 + 2), "closed once"
    assert await raise_alert(backend, "job:1", AlertKind.FAILURE, "11", "t", job_id=1, now=T0 + 3)
    [second] = await backend.open_alert_episodes([1])
    assert second.id is not None
    assert await backend.close_alert_episode(second.id, T0 + 4, {"recovered_text": "back"})
    notices = sorted((u.episode.episode, u.notice) for u in await backend.unrouted_alerts())
    assert notices == [("10", "failure"), ("11", "failure"), ("11", "recovered")]
    await backend.route_alert(second.id, "recovered", [("json://h/x", None)], T0 + 5)
    [send] = await backend.take_alert_sends("n", T0 + 5, 60_000)
    assert send.data == {"recovered_text": "back"}
