"""Shared conversations in the store: jobs naming one session (`session:NAME`) take turns — the claim
never starts two of their runs at once, on one node or many — and the session's history, written with a
run's end, is one per name. Every backend (parametrized by backend)."""

from __future__ import annotations

from cronui.model import ChainEdge, Job, OverlapPolicy, RunStatus, TargetKind
from cronui.model.records import RunEnd
from cronui.store.base import Store
from cronui.store.copy import copy_database
from tests.store.backends import fresh_store
from tests.store.test_claims import T0, add_job, claim, claims_at_once, names, queue


async def add_agent(store: Store, name: str, conversation: str, **kw: object) -> Job:
    job = Job(
        name=name,
        schedule="0 * * * *",
        timezone="UTC",
        kind=TargetKind.AGENT,
        target={"base_url": "http://127.0.0.1:9/v1", "model": "m", "message": "hi", "conversation": conversation},
        **kw,  # type: ignore[arg-type]
    )
    job.created_at = job.updated_at = T0
    return await store.create_job(job)


async def finish(store: Store, run, **end: object) -> None:
    run.status, run.finished_at = RunStatus.SUCCEEDED, T0 + 120_000
    [recorded] = await store.finish_runs([RunEnd(run, **end)])  # type: ignore[arg-type]
    assert recorded is not None


async def test_jobs_sharing_a_session_take_turns(backend: Store):
    """Three jobs in one session, each with a run waiting, and two outside it: one claim starts one run
    of the session (the oldest) and both others; the next claims start none of the session until that
    run ends, then the next oldest, one at a time."""
    jobs = [await add_agent(backend, f"s{i}", "session:team", overlap=OverlapPolicy.ALLOW) for i in range(3)]
    for i, job in enumerate(jobs):
        await queue(backend, job.id, 2, at=T0 + i * 10)
    other = await add_agent(backend, "elsewhere", "session:other")
    await queue(backend, other.id)
    plain = await add_agent(backend, "own", "persistent")
    await queue(backend, plain.id)
    got = await claim(backend, capacity=10)
    assert sorted(names(got)) == ["elsewhere", "own", "s0"]
    assert (await claim(backend, capacity=10)).started == []
    assert (await claim(backend, capacity=10, node="n2")).started == []  # nor on another node
    [(first, _)] = [(r, j) for r, j in got.started if j.name == "s0"]
    await finish(backend, first)
    order = []
    for _ in range(5):  # oldest first: s1 and s2 queued 10 and 20 ms after s0, whose second slot is 1 s on
        got = await claim(backend, capacity=10)
        order += names(got)
        await finish(backend, got.started[0][0])
    assert order == ["s1", "s2", "s0", "s1", "s2"]
    assert (await claim(backend, capacity=10)).started == []


async def test_a_session_run_waiting_never_holds_back_other_runs(backend: Store):
    """A session's runs waiting at the head of the line leave the node's capacity to everyone else."""
    for i in range(5):
        await queue(backend, (await add_agent(backend, f"talk{i}", "session:t")).id, at=T0 + i)
    for i in range(3):
        await queue(backend, (await add_job(backend, f"shell{i}")).id, at=T0 + 100 + i)
    got = await claim(backend, capacity=3)
    assert names(got) == ["talk0", "shell0", "shell1"]
    assert names(await claim(backend, capacity=3)) == ["shell2"]


async def test_nodes_claiming_at_once_start_one_run_of_a_session(backend: Store):
    """Sixteen claims from two processes at the same moment: one run of the session runs, whoever claimed it."""
    for i in range(6):
        await queue(backend, (await add_agent(backend, f"p{i}", "session:pair")).id, at=T0 + i)
    results = await claims_at_once(backend, 8, capacity=4)
    assert sum(len(got.started) for got in results) == 1


async def test_a_session_history_is_one_per_name_and_written_with_the_run_end(backend: Store):
    a = await add_agent(backend, "a", "session:team")
    b = await add_agent(backend, "b", "session:team")
    assert await backend.get_session("team") == []
    [ra] = await queue(backend, a.id)
    [rb] = await queue(backend, b.id, at=T0 + 1)
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    (started, _), *_ = (await claim(backend)).started
    await finish(backend, started, session="team", session_history=turns)
    assert await backend.get_session("team") == turns
    (started, _), *_ = (await claim(backend)).started
    assert started.id == rb.id and ra.id != rb.id
    await finish(backend, started, session="team", session_history=[*turns, *turns])
    assert await backend.get_session("team") == [*turns, *turns]
    assert await backend.get_session("other") == []
    assert await backend.get_memory(a.id, "conversation") is None  # not the job's own memory


async def test_db_copy_carries_sessions_and_chain_conditions(backend: Store, tmp_path):
    """`cronui db copy` from SQLite: a session's history, the session each job talks in (the claim's
    column) and the options of chain edges arrive as they were."""
    async with fresh_store("sqlite", tmp_path / "source.db") as source:
        a = await add_agent(source, "a", "session:team")
        b = await add_agent(source, "b", "session:team")
        publish = await add_job(source, "publish")
        a.on_success = [publish.name]
        a.set_edge("on_success", "publish", ChainEdge(when="contains:READY"))
        await source.update_job(a)
        turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
        await queue(source, a.id)
        (started, _), *_ = (await claim(source)).started
        await finish(source, started, session="team", session_history=turns)
        copied = await copy_database(source, backend)
    assert copied.rows["sessions"] == 1 and "1 shared conversations" in copied.summary()
    assert await backend.get_session("team") == turns
    assert (await backend.get_job_by_name("a")).edge("on_success", "publish").when == "contains:READY"
    await queue(backend, b.id, at=T0 + 5)
    await queue(backend, a.id, at=T0 + 6)
    assert names(await claim(backend)) == ["b"]  # the copied jobs still take turns
