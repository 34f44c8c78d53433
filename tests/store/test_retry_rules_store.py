"""A job's retry rules are stored and read back on every backend; unset stays unset."""

from __future__ import annotations

from cronui.store.base import Store
from tests.store.test_store import new_job


async def test_retry_rules_round_trip_and_unset_stays_unset(backend: Store):
    job = await new_job(backend, "rules", retry_on_exit=[75, 111])
    again = await backend.get_job_by_name("rules")
    assert (again.retry_on_exit, again.no_retry_on_exit, again.retry_on_status) == ([75, 111], None, None)
    again.retry_on_exit, again.no_retry_on_exit = None, [2]
    await backend.update_job(again)
    stored = await backend.get_job(job.id)
    assert (stored.retry_on_exit, stored.no_retry_on_exit) == (None, [2])
