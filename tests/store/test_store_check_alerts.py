"""A check's late slots in the store, on both backends: the evaluation pass finds a slot recorded missed
(its grace passed with no ping) late by the check's grace, or by its own --alert-late, and clears it when a
ping comes, not when the slot is recorded missed."""

from __future__ import annotations

from cronui.model import REASON_MISSED, Run, RunStatus, Trigger
from cronui.store.base import Store
from tests.helpers import make_job
from tests.store.test_store_alerts import MIN, T0, _open


async def _check(store: Store, **kw: object) -> int:
    job = make_job("backup", command="", created_at=T0, updated_at=T0, is_check=True, next_run_at=T0, **kw)
    created = await store.create_job(job)
    assert created.id is not None
    return created.id


async def _missed(store: Store, job_id: int, slot: int, at: int) -> None:
    run = Run(job_id=job_id, trigger=Trigger.SCHEDULE, scheduled_for=slot, queued_at=at, finished_at=at)
    run.status, run.reason = RunStatus.SKIPPED, REASON_MISSED
    assert await store.insert_run(run) is not None
    await store.write_one("UPDATE jobs SET next_run_at = ? WHERE id = ?", (slot + 60 * MIN, job_id))


async def _ping(store: Store, job_id: int, at: int) -> None:
    run = Run(job_id=job_id, trigger=Trigger.PING, scheduled_for=at, queued_at=at, finished_at=at)
    run.status = RunStatus.SUCCEEDED
    assert await store.insert_run(run) is not None


async def test_a_missed_slot_of_a_check_is_late_by_its_grace_and_clears_with_a_ping(backend: Store) -> None:
    job_id = await _check(backend, grace_s=600.0)
    assert await _open(backend, T0 + 9 * MIN) == []
    await _missed(backend, job_id, T0, T0 + 10 * MIN)  # the planner moved its next fire first
    assert await _open(backend, T0 + 10 * MIN) == [("open", "late", str(T0))]
    assert await _open(backend, T0 + 11 * MIN) == [], "found once, and recording it missed is no recovery"
    await _ping(backend, job_id, T0 + 20 * MIN)
    assert await _open(backend, T0 + 21 * MIN) == [("close", "late", str(T0))]
    assert await _open(backend, T0 + 22 * MIN) == []


async def test_a_checks_own_alert_late_wins_over_its_grace(backend: Store) -> None:
    job_id = await _check(backend, grace_s=300.0, alert_late_s=1800.0)
    await _missed(backend, job_id, T0, T0 + 5 * MIN)
    assert await _open(backend, T0 + 29 * MIN) == []
    assert await _open(backend, T0 + 30 * MIN) == [("open", "late", str(T0))]


async def test_a_ping_before_the_late_span_leaves_the_missed_slot_unalerted(backend: Store) -> None:
    job_id = await _check(backend, grace_s=300.0, alert_late_s=1800.0)
    await _missed(backend, job_id, T0, T0 + 5 * MIN)
    await _ping(backend, job_id, T0 + 10 * MIN)
    assert await _open(backend, T0 + 40 * MIN) == []
