"""Run-time parameters through the engine: scheduled runs take the defaults (recorded on the run), a run
asked for with values gets them, retries keep them, and each kind of job sees them (shell env, HTTP URL and
body, agent message and system prompt). Bad values are refused with nothing queued."""

from __future__ import annotations

import pytest

from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.executors.base import Outcome, RunContext
from cronui.jobs import JobError
from cronui.model import Job, RunStatus, TargetKind, Trigger
from cronui.model.records import RunFilter
from cronui.store.sqlite import SQLiteStore
from tests.engine.servers import ChatServer, Sink
from tests.helpers import make_job, ms, run_until, settle

PARAMS = {"env": {"default": "staging", "choices": ["staging", "prod"]}, "count": {"type": "int", "default": 3}}


class Recorder:
    """A shell executor that records the params each attempt ran with; fails the first `fail` attempts."""

    def __init__(self, fail: int = 0) -> None:
        self.seen: list[tuple[int, dict[str, object] | None]] = []
        self.fail = fail

    async def __call__(self, ctx: RunContext) -> Outcome:
        self.seen.append((ctx.run.attempt, ctx.run.params))
        if len(self.seen) <= self.fail:
            return Outcome(RunStatus.FAILED, error="exited with code 1", exit_code=1)
        return Outcome(RunStatus.SUCCEEDED, exit_code=0)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
async def test_a_year_of_scheduled_runs_each_take_and_record_the_defaults_across_dst(
    store: SQLiteStore, settings, zone: str
) -> None:
    clock = FakeClock(ms("2026-01-01T00:00:00Z"))
    recorder = Recorder()
    eng = Engine(store, settings, clock, executors={TargetKind.SHELL: recorder})
    await eng.open()
    assert await eng.try_acquire()
    try:
        # 02:30 local does not exist on the spring-forward day and happens twice on the fall-back day
        await eng.control.add_job(make_job("nightly", "30 2 * * *", timezone=zone, params=PARAMS))
        await run_until(eng, clock, ms("2027-01-01T00:00:00Z"))
        runs = [r for r in await store.list_runs(RunFilter(limit=1000)) if r.status is RunStatus.SUCCEEDED]
    finally:
        await eng.close(grace_s=1.0)
    assert len(runs) == 365  # one per day: the skipped hour still fires once, the repeated one once
    assert {r.trigger for r in runs} == {Trigger.SCHEDULE}
    assert all(r.params == {"env": "staging", "count": 3} for r in runs)
    assert all(seen == {"env": "staging", "count": 3} for _, seen in recorder.seen)


async def test_a_run_asked_with_values_gets_them_and_its_retries_keep_them(
    store: SQLiteStore, settings, clock: FakeClock
) -> None:
    recorder = Recorder(fail=2)
    eng = Engine(store, settings, clock, executors={TargetKind.SHELL: recorder})
    await eng.open()
    assert await eng.try_acquire()
    try:
        await eng.control.add_job(make_job("deploy", "@yearly", params=PARAMS, max_retries=2, retry_delay_s=1))
        first = await eng.control.trigger("deploy", params={"env": "prod", "count": "7"})
        assert first.params == {"env": "prod", "count": 7}  # typed, and every declared one recorded
        await run_until(eng, clock, clock.now_ms() + 60_000)
        attempts = await store.attempts(first.id)
    finally:
        await eng.close(grace_s=1.0)
    assert [(a.attempt, a.status) for a in attempts] == [
        (1, RunStatus.FAILED),
        (2, RunStatus.FAILED),
        (3, RunStatus.SUCCEEDED),
    ]
    assert [a.params for a in attempts] == [{"env": "prod", "count": 7}] * 3
    assert recorder.seen == [
        (1, {"env": "prod", "count": 7}),
        (2, {"env": "prod", "count": 7}),
        (3, {"env": "prod", "count": 7}),
    ]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"nope": "1"}, "unknown name 'nope' (declared: count, env)"),
        ({"env": "dev"}, "env: 'dev' is not one of 'staging', 'prod'"),
        ({"count": "three"}, "count: expected a whole number, got 'three'"),
    ],
)
async def test_unknown_or_invalid_values_are_refused_and_nothing_is_queued(
    engine: Engine, store: SQLiteStore, given: dict[str, str], problem: str
) -> None:
    await engine.control.add_job(make_job("deploy", "@yearly", params=PARAMS))
    with pytest.raises(JobError) as e:
        await engine.control.trigger("deploy", params=given)
    assert str(e.value) == f"param: {problem}"
    assert await store.list_runs(RunFilter(limit=10)) == []


async def test_a_required_param_is_refused_on_a_scheduled_job_and_asked_for_on_a_disabled_one(
    engine: Engine, store: SQLiteStore
) -> None:
    with pytest.raises(JobError, match="who has no default, but the job runs on its schedule"):
        await engine.control.add_job(make_job("greet", "@daily", params={"who": {}}))
    assert await store.get_job_by_name("greet") is None
    await engine.control.add_job(make_job("greet", "@daily", params={"who": {}}, enabled=False))
    with pytest.raises(JobError, match="who is required"):
        await engine.control.trigger("greet")
    with pytest.raises(JobError, match="who has no default"):
        await engine.control.set_enabled("greet", True)  # enabling it would schedule runs with no value
    run = await engine.control.trigger("greet", params={"who": "world"})
    assert run.params == {"who": "world"}


async def test_a_chained_run_of_a_job_with_a_required_param_fails_saying_which(
    engine: Engine, store: SQLiteStore
) -> None:
    await engine.control.add_job(make_job("greet", "@daily", params={"who": {}}, enabled=False))
    await engine.control.add_job(make_job("first", "@yearly", on_success=["greet"]))
    await engine.control.trigger("first")
    await settle(engine)
    await settle(engine)
    (chained,) = [r for r in await store.list_runs(RunFilter(limit=10)) if r.job_name == "greet"]
    assert chained.status is RunStatus.FAILED
    assert chained.error == "param who is required (it has no default), and this run was given no value"


async def test_shell_jobs_see_their_params_as_environment_variables(eng: Engine, store: SQLiteStore) -> None:
    command = 'echo "env=$CRONUI_PARAM_env count=$CRONUI_PARAM_count flag=$CRONUI_PARAM_flag"'
    params = {**PARAMS, "flag": {"type": "bool", "default": False}}
    await eng.control.add_job(make_job("deploy", "@yearly", command, params=params))
    run = await eng.control.trigger("deploy", params={"count": "12", "flag": "yes"})
    await settle(eng)
    done = await store.get_run(run.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED, done
    assert done.output == "env=staging count=12 flag=true\n"


async def test_http_jobs_get_their_params_in_the_url_and_the_body(eng: Engine, store: SQLiteStore, sink: Sink) -> None:
    job = Job(
        name="ping",
        schedule="@yearly",
        timezone="UTC",
        kind=TargetKind.HTTP,
        target={
            "url": sink.url + "/ok?env={param.env}&q={param.q}",
            "method": "POST",
            "body": '{"env": "{param.env}", "count": {param.count}, "other": "{param.nope}"}',
        },
        params={**PARAMS, "q": {"default": "a b&c"}},
    )
    await eng.control.add_job(job)
    run = await eng.control.trigger("ping", params={"env": "prod"})
    await settle(eng)
    done = await store.get_run(run.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED, done
    (req,) = sink.requests
    assert req.path == "/ok?env=prod&q=a%20b%26c"  # a value in the URL is quoted
    assert req.json() == {"env": "prod", "count": 3, "other": "{param.nope}"}  # an undeclared one stays as written


async def test_agent_jobs_get_their_params_in_the_message_and_the_system_prompt(
    eng: Engine, store: SQLiteStore, llm: ChatServer
) -> None:
    job = Job(
        name="digest",
        schedule="@yearly",
        timezone="UTC",
        kind=TargetKind.AGENT,
        target={
            "base_url": llm.url + "/v1",
            "model": "echo",
            "message": "Summarise {param.topic} for {job}; {param.topic} again",
            "system": "You write for {param.audience}.",
        },
        params={"topic": {"default": "news"}, "audience": {"default": "ops"}},
    )
    await eng.control.add_job(job)
    run = await eng.control.trigger("digest", params={"topic": "{job} {param.audience}"})
    await settle(eng)
    done = await store.get_run(run.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED, done
    messages = llm.requests[0].json()["messages"]
    assert messages[0] == {"role": "system", "content": "You write for ops."}
    # one pass: a value's own braces are never read as placeholders
    assert messages[-1]["content"] == "Summarise {job} {param.audience} for digest; {job} {param.audience} again"
