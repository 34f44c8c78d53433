"""The Store contract for infrastructure failures: an infra failure leaves the job's consecutive failures and
auto-disable alone, `failure_kind` is kept on the run, and each endpoint's state changes once — down when a
run could not reach it, up when one reaches it again — however many nodes record ends at once, and across a
restart (parametrized by backend)."""

from __future__ import annotations

import asyncio

from cronui.model import FailureKind, OverlapPolicy, RunStatus
from cronui.model.records import RunEnd
from cronui.store.base import Store
from tests.store.backends import same_database
from tests.store.test_claims import T0, add_job, claimed

API = "https://api.example.com"
GATEWAY = "http://gateway.internal:8080"


def ended(run, status: RunStatus, kind: FailureKind | None, at: int, endpoints: dict, **kw) -> RunEnd:
    run.status = status
    run.finished_at = at
    run.failure_kind = kind
    run.error = None if status is RunStatus.SUCCEEDED else "could not connect: [Errno 111] Connection refused"
    return RunEnd(run, endpoints=endpoints, **kw)


async def test_infra_failures_leave_the_failure_count_and_auto_disable_alone(backend: Store):
    job = await add_job(backend, "reliant", overlap=OverlapPolicy.ALLOW)
    down = {API: "could not connect: refused"}
    infra = [ended(await claimed(backend, job.id), RunStatus.FAILED, FailureKind.INFRA, T0, down, failure_limit=2)]
    infra += [ended(await claimed(backend, job.id), RunStatus.FAILED, FailureKind.INFRA, T0, down, failure_limit=2)]
    results = await backend.finish_runs(infra)
    assert [r.consecutive_failures for r in results] == [0, 0]
    assert [r.auto_disabled for r in results] == [None, None]
    fresh = await backend.get_job(job.id)
    assert fresh.enabled and fresh.consecutive_failures == 0 and fresh.last_status is RunStatus.FAILED
    [own] = await backend.finish_runs(
        [ended(await claimed(backend, job.id), RunStatus.FAILED, FailureKind.JOB, T0 + 5, {API: None})]
    )
    assert own.consecutive_failures == 1  # the job's own failure counts
    assert [(await backend.get_run(end.run.id)).failure_kind for end in infra] == [FailureKind.INFRA] * 2


async def test_an_endpoint_goes_down_once_and_comes_back_once_per_episode(backend: Store):
    job = await add_job(backend, "caller", overlap=OverlapPolicy.ALLOW)

    async def end(at: int, endpoints: dict, status=RunStatus.FAILED, kind=FailureKind.INFRA):
        [rec] = await backend.finish_runs([ended(await claimed(backend, job.id), status, kind, at, endpoints)])
        return rec.endpoints

    [down] = await end(T0, {API: "could not connect: refused"})
    assert (down.endpoint, down.down, down.episode, down.at, down.error) == (
        API,
        True,
        1,
        T0,
        "could not connect: refused",
    )
    assert await end(T0 + 10, {API: "HTTP 503 Service Unavailable"}) == []  # still the same outage
    assert await end(T0 + 15, {GATEWAY: None}, RunStatus.SUCCEEDED, None) == []  # never down: nothing to say
    [up] = await end(T0 + 60_000, {API: None}, RunStatus.SUCCEEDED, None)
    assert (up.endpoint, up.down, up.episode, up.down_since) == (API, False, 1, T0)
    assert await end(T0 + 61_000, {API: None}, RunStatus.SUCCEEDED, None) == []
    [again] = await end(T0 + 90_000, {API: "could not connect: refused"})
    assert (again.down, again.episode) == (True, 2)
    states = {e.endpoint: e for e in await backend.endpoints()}
    assert states[API].down and states[API].episode == 2 and states[API].down_since == T0 + 90_000
    assert GATEWAY not in states  # one never found down costs no write


async def test_a_batch_says_what_its_last_end_found_of_each_endpoint(backend: Store):
    job = await add_job(backend, "batched", overlap=OverlapPolicy.ALLOW)
    runs = [await claimed(backend, job.id) for _ in range(3)]
    results = await backend.finish_runs(
        [
            ended(runs[0], RunStatus.SUCCEEDED, None, T0, {API: None}),
            ended(runs[1], RunStatus.FAILED, FailureKind.INFRA, T0 + 1, {API: "refused", GATEWAY: "refused"}),
            ended(runs[2], RunStatus.SUCCEEDED, None, T0 + 2, {GATEWAY: None}),
        ]
    )
    # API: its last word is down (the change goes to the end that said so); GATEWAY: up in the end, never down
    assert [[(c.endpoint, c.down) for c in r.endpoints] for r in results] == [[], [(API, True)], []]


async def test_many_nodes_find_one_outage_once(backend: Store):
    """Three nodes record ends that found the same endpoint down, all at once: one of them says it went
    down (episode 1); then all find it back, and one says so."""
    job = await add_job(backend, "shared", overlap=OverlapPolicy.ALLOW)
    nodes = [backend, same_database(backend), same_database(backend)]
    for other in nodes[1:]:
        await other.open()
    try:
        runs = [await claimed(backend, job.id, node="shared") for _ in range(12)]
        downs = await asyncio.gather(
            *[
                nodes[i % 3].finish_runs(
                    [ended(run, RunStatus.FAILED, FailureKind.INFRA, T0 + i, {API: "refused", GATEWAY: "refused"})]
                )
                for i, run in enumerate(runs)
            ]
        )
        runs = [await claimed(backend, job.id, node="shared") for _ in range(12)]
        ups = await asyncio.gather(
            *[
                nodes[i % 3].finish_runs(
                    [ended(run, RunStatus.SUCCEEDED, None, T0 + 100 + i, {API: None, GATEWAY: None})]
                )
                for i, run in enumerate(runs)
            ]
        )
        # a restart (a new store on the same database) neither repeats nor forgets the outage
        restarted = same_database(backend)
        await restarted.open()
        try:
            states = {e.endpoint: e for e in await restarted.endpoints()}
        finally:
            await restarted.close()
    finally:
        for other in nodes[1:]:
            await other.close()
    went = sorted((c.endpoint, c.episode) for [r] in downs for c in r.endpoints)
    back = sorted((c.endpoint, c.episode) for [r] in ups for c in r.endpoints)
    assert went == sorted([(API, 1), (GATEWAY, 1)])
    assert back == sorted([(API, 1), (GATEWAY, 1)])
    assert all(not e.down and e.episode == 1 for e in states.values())
