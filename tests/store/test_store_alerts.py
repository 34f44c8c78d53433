"""Alerts in the store, on both backends: one evaluation query finds what began and what cleared,
episodes are recorded once (unique on subject, kind, episode), notices are routed once, and each send is
claimed by one node and recorded with its outcome."""

from __future__ import annotations

from cronui.model import Run, Trigger
from cronui.model.alerts import FAILED, PENDING, SENT, AlertDefaults, AlertEpisode, AlertKind
from cronui.store.base import Store
from tests.helpers import make_job

T0 = 1_700_000_000_000
MIN = 60_000


async def _job(store: Store, **kw: object) -> int:
    job = await store.create_job(make_job("nightly", created_at=T0, updated_at=T0, **kw))
    assert job.id is not None
    return job.id


async def _slot(store: Store, job_id: int, slot: int) -> int:
    run = await store.insert_run(Run(job_id=job_id, trigger=Trigger.SCHEDULE, scheduled_for=slot, queued_at=slot))
    assert run is not None and run.id is not None
    return run.id


async def _open(store: Store, now: int, defaults: AlertDefaults | None = None) -> list[tuple[str, str, str]]:
    found = await store.alert_candidates(now, defaults or AlertDefaults())
    opens = [
        AlertEpisode(f"job:{c.job_id}", c.kind, c.episode, "t", now, c.job_id, run_id=c.run_id, since=c.since)
        for c in found
        if c.action == "open"
    ]
    await store.open_alerts(opens)
    gone = [c.episode_id for c in found if c.action == "close" and c.episode_id is not None]
    if gone:
        await store.close_alerts("", "", now, ids=gone)
    return [(c.action, str(c.kind), c.episode) for c in found]


async def test_a_late_slot_is_found_once_and_clears_when_it_starts(backend: Store) -> None:
    job_id = await _job(backend, alert_late_s=300.0)
    run_id = await _slot(backend, job_id, T0)
    assert await _open(backend, T0 + 4 * MIN) == []  # not late yet
    assert await _open(backend, T0 + 5 * MIN) == [("open", "late", str(T0))]
    assert await _open(backend, T0 + 6 * MIN) == []  # recorded: not found again
    await backend.write_one("UPDATE runs SET status = 'running', started_at = ? WHERE id = ?", (T0 + 7 * MIN, run_id))
    assert await _open(backend, T0 + 8 * MIN) == [("close", "late", str(T0))]
    assert await _open(backend, T0 + 9 * MIN) == []


async def test_the_config_default_applies_to_jobs_without_their_own(backend: Store) -> None:
    job_id = await _job(backend)
    await _slot(backend, job_id, T0)
    assert await _open(backend, T0 + 60 * MIN) == []  # no expectation at all: nothing is late
    assert await _open(backend, T0 + 60 * MIN, AlertDefaults(late_s=60.0)) == [("open", "late", str(T0))]


async def test_overrun_and_no_success(backend: Store) -> None:
    job_id = await _job(backend, alert_overrun_s=600.0, alert_no_success_s=3600.0)
    run_id = await _slot(backend, job_id, T0)
    await backend.write_one("UPDATE runs SET status = 'running', started_at = ? WHERE id = ?", (T0, run_id))
    found = await _open(backend, T0 + 61 * MIN)
    assert sorted(found) == [("open", "no_success", str(T0)), ("open", "overrun", str(run_id))]
    await backend.write_one(
        "UPDATE runs SET status = 'succeeded', finished_at = ? WHERE id = ?", (T0 + 62 * MIN, run_id)
    )
    assert sorted(await _open(backend, T0 + 63 * MIN)) == [
        ("close", "no_success", str(T0)),
        ("close", "overrun", str(run_id)),
    ]


async def test_an_episode_is_recorded_once_and_routed_once(backend: Store) -> None:
    e = AlertEpisode("endpoint:https://gw", AlertKind.INFRA, "1", "gw down", T0)
    assert len(await backend.open_alerts([e])) == 1
    again = AlertEpisode("endpoint:https://gw", AlertKind.INFRA, "1", "gw down", T0 + 1)
    assert await backend.open_alerts([again]) == []
    [u] = await backend.unrouted_alerts()
    assert u.notice == "infra"
    assert u.episode.id is not None
    assert await backend.route_alert(u.episode.id, u.notice, [("json://localhost/x", None)], T0) == 1
    assert await backend.route_alert(u.episode.id, u.notice, [("json://localhost/x", None)], T0) == 0
    assert await backend.unrouted_alerts() == []
    assert await backend.close_alerts("endpoint:https://gw", "infra", T0 + MIN) == [u.episode.id]
    [r] = await backend.unrouted_alerts()
    assert r.notice == "recovered"


async def test_a_send_is_claimed_by_one_node_and_retried_until_it_fails_for_good(backend: Store) -> None:
    [e] = await backend.open_alerts([AlertEpisode("job:1", AlertKind.LATE, "5", "late", T0)])
    assert e.id is not None
    await backend.route_alert(e.id, "late", [("json://localhost/x", None)], T0)
    [s] = await backend.take_alert_sends("a", T0, 60_000)
    assert await backend.take_alert_sends("b", T0, 60_000) == []  # held by a
    assert await backend.record_alert_send(s.id, "a", FAILED, "refused", T0, T0 + 30_000)
    assert await backend.take_alert_sends("b", T0 + 1, 60_000) == []  # not due before its backoff
    [again] = await backend.take_alert_sends("b", T0 + 30_000, 60_000)
    assert again.attempts == 1 and again.outcome == PENDING
    assert not await backend.record_alert_send(s.id, "a", SENT, "ok", T0, None)  # a no longer holds it
    assert await backend.record_alert_send(s.id, "b", SENT, "ok", T0 + 30_001, None)
    [listed] = await backend.list_alert_sends()
    assert (listed.outcome, listed.attempts, listed.kind, listed.text) == (SENT, 2, "late", "late")
