"""Alerts follow the retention policy, on both backends: sends that ended and closed episodes older than the
retention days are pruned in the same batched pass as runs; an open episode, and one with a send still
being tried, stay; `cronui alerts` lists what is left."""

from __future__ import annotations

from cronui.model.alerts import SENT, AlertEpisode, AlertKind
from cronui.store.base import Store
from tests.helpers import make_job

T0 = 1_700_000_000_000
DAY = 86_400_000


async def _episode(store: Store, job_id: int, name: str, at: int, closed: bool, send: str | None) -> int:
    # an endpoint each: one infra episode of a subject is open at a time
    e = AlertEpisode(f"endpoint:https://{name}", AlertKind.INFRA, name, f"{name} down", at, job_id)
    [opened] = await store.open_alerts([e])
    assert opened.id is not None
    if closed:
        await store.close_alerts("", "", at + 1000, ids=[opened.id])
    if send is not None:
        await store.route_alert(opened.id, "infra", [("json://localhost/x", None)], at)
        taken = next(s for s in await store.take_alert_sends("n", at, 60_000) if s.episode_id == opened.id)
        await store.record_alert_send(taken.id, "n", send, "ok", at, None if send == SENT else at + 1000)
    return opened.id


async def test_old_alerts_that_ended_are_pruned_and_the_rest_kept(backend: Store) -> None:
    job = await backend.create_job(make_job("nightly", created_at=T0, updated_at=T0))
    assert job.id is not None
    old = T0
    gone = await _episode(backend, job.id, "old-closed-sent", old, closed=True, send=SENT)
    bare = await _episode(backend, job.id, "old-closed-unsent", old, closed=True, send=None)
    still_open = await _episode(backend, job.id, "old-open", old, closed=False, send=SENT)
    retried = await _episode(backend, job.id, "old-closed-retried", old, closed=True, send="failed")
    recent = await _episode(backend, job.id, "recent", old + 29 * DAY, closed=True, send=SENT)

    result = await backend.prune(old + 31 * DAY, 30, 100, 24)
    assert result.done and result.alerts == 4  # 2 sends that ended, then 2 closed episodes with none left
    left = {e.id: [s.outcome for s in sends] for e, sends in await backend.list_alert_episodes(100)}
    assert gone not in left and bare not in left
    assert left[still_open] == []  # its send went (it ended long ago); the open episode stays
    assert left[retried] == ["pending"] and recent in left
    assert (await backend.prune(old + 31 * DAY, 30, 100, 24)).alerts == 0
