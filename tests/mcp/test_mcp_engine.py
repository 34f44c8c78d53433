"""The MCP tools against an engine on a fake clock (the SDK's client, in-process): a caller's scope, every
reason why_not_run tells with its evidence, a schedule explained across a daylight-saving change, and a
follow-up that runs and is removed after its run, its run kept."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from mcp import Client

from cronui.application.caller import Caller, Scope
from cronui.application.context import Cronui
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.mcp.server import build_server
from cronui.model import EventKind, MisfirePolicy, OverlapPolicy, Run, RunStatus, TargetKind, Trigger
from cronui.model.records import RunFilter
from cronui.store.base import Store
from tests.engine.servers import Sink
from tests.helpers import FakeExecutor, make_job, ms, run_until, settle
from tests.mcp.conftest import Said, call, refused


def mcp_client(engine: Engine, settings: Settings, clock: FakeClock, scope: Scope = Scope.ADMIN) -> Client:
    app = Cronui(settings, engine.store, engine.control, clock)
    caller = Caller("mcp", f"{scope.label}-token", scope, limited=True)
    return Client(build_server(app, lambda ctx: caller))


async def test_a_caller_gets_what_its_scope_covers_and_the_403_line_for_the_rest(
    engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    said = Said()
    await engine.control.add_job(make_job("nightly", "0 3 * * *"))
    async with mcp_client(engine, settings, clock, Scope.READ) as reader:
        assert [j["name"] for j in (await call(reader, said, "list_jobs"))["jobs"]] == ["nightly"]
        text = await refused(
            reader, said, "create_job", job={"name": "x", "schedule": "@daily", "http": {"url": "http://h/"}}
        )
        assert text.splitlines() == [
            "this needs the write scope; the token 'read-token' has read",
            "scope: this needs the write scope; the token 'read-token' has read",
        ]
        assert "needs the run scope" in await refused(reader, said, "run_now", name="nightly")
        assert "needs the run scope" in await refused(reader, said, "pause_job", name="nightly")
        assert "needs the write scope" in await refused(
            reader, said, "schedule_followup", when="in 1h", http={"url": "http://h/"}
        )
    async with mcp_client(engine, settings, clock, Scope.RUN) as runner:
        assert (await call(runner, said, "pause_job", name="nightly"))["enabled"] is False
        assert "needs the write scope" in await refused(runner, said, "delete_job", name="nightly")
    assert [j.name for j in await engine.store.list_jobs()] == ["nightly"]  # nothing refused was done
    assert await engine.store.list_runs(RunFilter()) == []


async def test_why_not_run_names_each_reason_with_its_evidence(
    engine: Engine, settings: Settings, clock: FakeClock, fake: FakeExecutor
) -> None:
    async with mcp_client(engine, settings, clock) as client:
        await _why_not_run(engine, client, clock, fake)


async def _why_not_run(engine: Engine, client: Client, clock: FakeClock, fake: FakeExecutor) -> None:
    said = Said()
    await engine.control.add_job(make_job("busy", "*/5 * * * *", command="gate", overlap=OverlapPolicy.SKIP))
    await engine.control.add_job(make_job("gated", "0 * * * *", approval=True))
    await engine.control.add_job(make_job("hourly", "0 * * * *", misfire=MisfirePolicy.SKIP))
    await settle(engine)

    # a run still running, with overlap skip: the next slot of `busy` is skipped
    running = await engine.control.trigger("busy")
    await engine.step()
    await fake.started.wait()
    why = await call(client, said, "why_not_run", name="busy")
    overlap = next(r for r in why["reasons"] if r["reason"] == "overlap")
    assert overlap["evidence"]["run"] == running.id and f"run #{running.id} is still running" in overlap["line"]

    # a run waiting for approval
    waiting = await engine.control.trigger("gated")
    why = await call(client, said, "why_not_run", name="gated")
    approval = next(r for r in why["reasons"] if r["reason"] == "approval")
    assert approval["evidence"]["run"] == waiting.id and "waits for approval" in approval["line"]

    # slots missed while no scheduler ran (misfire skip): how many, and the latest
    clock.advance(5 * 3600)
    await engine.step()
    why = await call(client, said, "why_not_run", name="hourly")
    missed = next(r for r in why["reasons"] if r["reason"] == "missed")
    assert missed["evidence"]["slots"] >= 4 and missed["line"].startswith("missed while no scheduler ran")

    # pinned to a label no live node carries; a gate that found nothing to do
    await engine.control.add_job(make_job("train", "0 * * * *", node_label="gpu"))
    why = await call(client, said, "why_not_run", name="train")
    pinned = next(r for r in why["reasons"] if r["reason"] == "node_label")
    assert pinned["line"] == "no live node has label 'gpu': train cannot run until one does"
    quiet = await engine.control.add_job(make_job("quiet", "0 * * * *"))
    now = clock.now_ms()
    gate = "gate: the check found nothing to do"
    skip = Run(quiet.id, Trigger.SCHEDULE, now, queued_at=now, status=RunStatus.SKIPPED, reason=gate, finished_at=now)  # type: ignore[arg-type]
    skipped = await engine.store.insert_run(skip)
    why = await call(client, said, "why_not_run", name="quiet")
    gated = next(r for r in why["reasons"] if r["reason"] == "gate")
    assert gated["evidence"]["run"] == skipped.id and gated["line"].endswith(f"was skipped: {gate}")  # type: ignore[union-attr]

    # the scheduler paused, and the job disabled
    await engine.control.pause()
    await engine.control.set_enabled("hourly", False)
    why = await call(client, said, "why_not_run", name="hourly")
    reasons = {r["reason"]: r for r in why["reasons"]}
    assert {"paused", "disabled"} <= set(reasons)
    assert reasons["paused"]["line"].startswith("the scheduler is paused (since ")
    fake.gate.set()


async def test_explain_schedule_reads_the_zone_across_the_spring_forward_change(
    engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    async with mcp_client(engine, settings, clock) as client:
        await _explain(client)


async def _explain(client: Client) -> None:
    said = Said()
    got = await call(
        client,
        said,
        "explain_schedule",
        schedule="30 2 * * *",
        timezone="Europe/Berlin",
        count=3,
        start="2026-03-27T12:00",
    )
    assert got["description"] == "At 02:30"
    assert [f["at"] for f in got["next"]] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that day: the end of the gap
        "2026-03-30T02:30:00+02:00",
    ]
    [change] = got["dst_changes"]
    assert (change["utc"], change["offset_before"], change["offset_after"]) == (
        "2026-03-29T01:00:00.000Z",
        "+01:00",
        "+02:00",
    )
    assert change["line"].startswith("clocks go forward 1h at 02:00 (to 03:00)")
    text = await refused(client, said, "explain_schedule", schedule="@daily", timezone="Mars/Base")
    assert text.startswith("unknown time zone: 'Mars/Base'")


async def test_a_followup_runs_once_then_is_removed_and_its_run_kept(
    store: Store, settings: Settings, clock: FakeClock, sink: Sink
) -> None:
    said = Said()
    engine = Engine(store, settings, clock, rng=random.Random(7))
    await engine.open()
    assert await engine.try_acquire()
    try:
        async with mcp_client(engine, settings, clock) as c:
            made = await call(client := c, said, "schedule_followup", when="in 2h", http={"url": f"{sink.url}/ok"})
            assert made["schedule"] == "at 2026-03-02T10:59:30" and made["delete_after_run"] is True
            await run_until(engine, clock, ms("2026-03-02T10:59:29Z"))
            assert sink.requests == []  # not before its time
            await run_until(engine, clock, ms("2026-03-02T11:00:00Z"))
            await engine.dispatcher.wait_idle()
            assert [r.path for r in sink.requests] == ["/ok"]
            assert await store.get_job_by_name(made["name"]) is None
            assert (await call(client, said, "list_jobs"))["count"] == 0
            [run] = (await call(client, said, "list_runs", job=None))["runs"]
            assert run["job"] == made["name"] and run["status"] == "succeeded"
            events = await store.run_events(run["id"])
            assert events  # the run's own log
            await engine.bus.flush()  # events reach the store in batches, after the run's end
            removed = [e for e in await store.events_since(0) if e.kind is EventKind.JOB_REMOVED]
            assert [e.job_name for e in removed] == [made["name"]]
    finally:
        await engine.close(grace_s=1.0)


async def test_delete_after_run_waits_for_the_last_attempt(
    backend: Store, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    fake = FakeExecutor()
    engine = Engine(backend, settings, clock, executors={TargetKind.SHELL: fake}, rng=random.Random(7))
    await engine.open()
    assert await engine.try_acquire()
    try:
        job = make_job("once", "0 * * * *", command="fail", max_retries=1, retry_delay_s=1)
        job.delete_after_run = True
        job = await engine.control.add_job(job)
        assert (await backend.get_job(job.id)).delete_after_run is True  # type: ignore[arg-type, union-attr]
        first = await engine.control.trigger("once")
        await settle(engine)
        assert (await backend.get_job_by_name("once")) is not None  # a retry is still to come
        clock.advance(5)
        await settle(engine)
        attempts = await backend.attempts(first.id)  # type: ignore[arg-type]
        assert [a.status for a in attempts] == [RunStatus.FAILED, RunStatus.FAILED]
        assert await backend.get_job_by_name("once") is None
        assert (await backend.get_job(job.id)).deleted_at is not None  # type: ignore[arg-type, union-attr]
    finally:
        await engine.close(grace_s=1.0)


async def test_a_stored_token_gives_a_stdio_server_its_scope(engine: Engine, settings: Settings, clock: FakeClock):
    """`cronui mcp --token SECRET`: the token's scope, held to the policy; a removed token is refused."""
    from cronui.application import tokens
    from cronui.application.errors import Invalid
    from cronui.mcp.callers import token_caller

    app = Cronui(settings, engine.store, engine.control, clock)
    made = await tokens.add_token(app, "desk", "read")
    caller = await token_caller(app, made.secret)
    assert caller == Caller("mcp", "desk", Scope.READ, limited=True)
    said = Said()
    async with Client(build_server(app.as_caller(caller), lambda ctx: caller)) as reader:
        job = {"name": "x", "schedule": "@daily", "http": {"url": "http://h/"}}
        assert "needs the write scope" in await refused(reader, said, "create_job", job=job)
    await tokens.remove_token(app, "desk")
    with pytest.raises(Invalid, match=r"^--token: no stored token matches"):
        await token_caller(app, made.secret)
