"""Run-time parameters in the store, on both backends: a job's declarations and a run's values round-trip
(types kept), a scheduled slot has none until it starts, and every attempt of a run carries its values."""

from __future__ import annotations

from cronui.model import RunStatus, Trigger
from cronui.model.params import ParamDecl
from cronui.model.records import ClaimLimits, RunEnd
from cronui.store.base import Store
from tests.store.test_store import T0, new_job, pending

DECLS = {
    "env": {"default": "staging", "choices": ["staging", "prod"]},
    "count": {"type": "int", "default": 3},
    "ratio": {"type": "float", "default": 0.5},
    "dry": {"type": "bool", "default": False},
}
VALUES = {"env": "prod", "count": 7, "ratio": 1.25, "dry": True}


async def test_declarations_and_values_round_trip_with_their_types(backend: Store):
    job = await new_job(backend, params=DECLS)
    again = await backend.get_job_by_name("j")
    assert again is not None
    assert again.params == {
        "env": ParamDecl(default="staging", choices=["staging", "prod"]),
        "count": ParamDecl(type="int", default=3),
        "ratio": ParamDecl(type="float", default=0.5),
        "dry": ParamDecl(type="bool", default=False),
    }
    assert [j.params for j in await backend.list_jobs()] == [again.params]
    asked = await backend.insert_run(pending(job.id, T0, Trigger.MANUAL, params=VALUES, not_before=T0))
    scheduled = await backend.insert_run(pending(job.id, T0 + 60_000, not_before=T0 + 60_000))
    assert (await backend.get_run(asked.id)).params == VALUES
    assert (await backend.get_run(scheduled.id)).params is None  # recorded when it starts (the defaults)


async def test_every_attempt_carries_the_values_and_an_end_records_them(backend: Store):
    job = await new_job(backend, params=DECLS)
    first = await backend.insert_run(pending(job.id, T0, not_before=T0))  # a scheduled slot: none yet
    for attempt in (1, 2):
        [(run, _)] = (await backend.claim("n", T0 + attempt, 30_000, ClaimLimits(10))).started
        if attempt == 1:
            assert run.params is None
            run.params = {"env": "staging", "count": 3, "ratio": 0.5, "dry": False}  # as the dispatcher fills in
        run.status, run.finished_at = RunStatus.FAILED, T0 + attempt
        retry = pending(job.id, T0, Trigger.RETRY, attempt=attempt + 1, retry_of=first.id, not_before=T0)
        await backend.finish_runs([RunEnd(run, retry=retry)])
    assert [r.params for r in await backend.attempts(first.id)] == [
        {"env": "staging", "count": 3, "ratio": 0.5, "dry": False}
    ] * 3
