"""A model server that sends as fast as it can (a real one on loopback, tests/engine/endless.py) against the
engine on the real clock: the job's timeout, a cancel and a stop end the run however fast it sends, an
every-second job keeps its slots meanwhile, and what the reply brings (lines, text, tool calls) is kept
within its caps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from cronui.engine.engine import Engine
from cronui.engine.executors.agent import CONVERSATION_KEY, MAX_TOOL_ARGUMENT_CHARS, MAX_TOOL_CALLS
from cronui.model import Job, MisfirePolicy, Run, RunStatus, TargetKind, Trigger
from cronui.model.records import RunFilter
from tests.engine.endless import EndlessServer

FLOOD_ARGUMENTS = 8 * 1024 * 1024  # smaller than the end-to-end flood: server and engine share this loop
FLOOD_CALLS = 10_000


@pytest.fixture
async def endless() -> AsyncIterator[EndlessServer]:
    s = EndlessServer(FLOOD_ARGUMENTS, FLOOD_CALLS)
    await s.start()
    yield s
    await s.stop()


def agent(server: EndlessServer, model: str, timeout_s: float = 600, **target: object) -> Job:
    spec = {"base_url": f"{server.url}/v1", "model": model, "message": "go", **target}
    job = Job(name=model, schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target=spec)
    job.timeout_s = timeout_s
    return job


def ticking() -> Job:
    """An every-second shell job; a slot started more than 2 s late is recorded missed."""
    job = Job(name="tick", schedule="every 1s", timezone="UTC", kind=TargetKind.SHELL, target={"command": "true"})
    job.misfire, job.misfire_grace_s = MisfirePolicy.SKIP, 2
    return job


async def run_of(eng: Engine, run_id: int) -> Run:
    run = await eng.store.get_run(run_id)
    assert run is not None
    return run


async def until(what: str, pred: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def scheduling(eng: Engine) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(eng.run(stop))


async def streaming(eng: Engine, server: EndlessServer, run_id: int) -> None:
    """Until the run is running and its server has sent it a few MiB."""
    await until("the run to start", lambda: _is(eng, run_id, RunStatus.RUNNING))
    await until("a few MiB streamed", lambda: _async(server.sent_bytes > 4 * 1024 * 1024))


async def _is(eng: Engine, run_id: int, status: RunStatus) -> bool:
    return (await run_of(eng, run_id)).status is status


async def _async(value: bool) -> bool:
    return value


async def tick_slots(eng: Engine, since_ms: int, until_ms: int) -> list[Run]:
    tick = await eng.store.get_job_by_name("tick")
    assert tick is not None
    runs = await eng.store.list_runs(RunFilter(job_id=tick.id, limit=1000))
    return sorted(
        (r for r in runs if r.trigger is Trigger.SCHEDULE and since_ms <= r.scheduled_for <= until_ms),
        key=lambda r: r.scheduled_for,
    )


async def test_the_jobs_timeout_ends_an_endless_stream_and_every_second_slots_keep_running(eng, endless):
    await eng.control.add_job(ticking())
    await eng.control.add_job(agent(endless, "endless", timeout_s=3))
    stop, loop_task = await scheduling(eng)
    try:
        run = await eng.control.trigger("endless")
        t0 = eng.clock.now_ms()
        await until("the run to end", lambda: _is(eng, run.id, RunStatus.TIMED_OUT), timeout=60)
        ended = await run_of(eng, run.id)
        await asyncio.sleep(1.5)  # the slots after it too
        window = await tick_slots(eng, t0 + 1000, eng.clock.now_ms() - 1500)
    finally:
        stop.set()
        await loop_task
    assert ended.error == "timed out after 3s"
    assert endless.sent_bytes > 4 * 1024 * 1024  # it was streaming hard, not waiting
    assert len(ended.output) < 300 * 1024  # the run's output: head and tail within the cap
    assert window and [r.status for r in window] == [RunStatus.SUCCEEDED] * len(window)
    late = [r.started_at - r.scheduled_for for r in window if r.started_at is not None]
    print(f"timeout: run ended {ended.finished_at - t0 - 3000} ms after its deadline; tick lateness ms {late}")


async def test_a_cancel_ends_an_endless_stream(eng, endless):
    await eng.control.add_job(ticking())
    await eng.control.add_job(agent(endless, "endless"))
    stop, loop_task = await scheduling(eng)
    try:
        run = await eng.control.trigger("endless")
        await streaming(eng, endless, run.id)
        t0 = eng.clock.now_ms()
        await eng.control.cancel(run.id)  # what `x` and `cronui runs cancel` do: a request in the store
        await until("the run to end", lambda: _is(eng, run.id, RunStatus.CANCELLED))
        ended = await run_of(eng, run.id)
        window = await tick_slots(eng, t0 - 3000, eng.clock.now_ms() - 1500)
    finally:
        stop.set()
        await loop_task
    assert ended.reason == "cancelled by request"
    assert [r.status for r in window] == [RunStatus.SUCCEEDED] * len(window)
    print(f"cancel: run ended {ended.finished_at - t0} ms after the cancel was written")


async def test_stopping_the_engine_interrupts_an_endless_stream_after_its_grace(eng, endless):
    await eng.control.add_job(agent(endless, "endless"))
    run = await eng.control.trigger("endless")
    await eng.step()
    await streaming(eng, endless, run.id)
    t0 = time.monotonic()
    await eng.close(grace_s=0.5)
    stopped_s = time.monotonic() - t0
    ended = await run_of(eng, run.id)
    assert ended.status is RunStatus.INTERRUPTED
    assert ended.error == "the scheduler stopped before the run finished"
    print(f"stop: the engine closed {stopped_s:.2f} s after it was asked to (grace 0.5 s)")


async def test_hurrying_a_stop_interrupts_at_once_what_the_grace_would_wait_for(eng, endless):
    await eng.control.add_job(agent(endless, "endless"))
    run = await eng.control.trigger("endless")
    await eng.step()
    await streaming(eng, endless, run.id)
    hurry = asyncio.Event()
    closing = asyncio.create_task(eng.close(grace_s=600, hurry=hurry))
    await asyncio.sleep(0.5)
    assert not closing.done()  # within its grace: it waits
    hurry.set()
    await closing
    assert (await run_of(eng, run.id)).status is RunStatus.INTERRUPTED


async def test_a_tool_call_flood_is_kept_to_its_caps_and_says_what_it_left_out(eng, endless):
    await eng.control.add_job(agent(endless, "tool-flood"))
    run = await eng.control.trigger("tool-flood")
    await eng.step()
    await eng.dispatcher.wait_idle()
    ended = await run_of(eng, run.id)
    assert ended.status is RunStatus.FAILED
    assert ended.error.startswith("the reply ended in tool calls and no text: write_file(aaaa")
    assert ended.error.endswith(f" and {FLOOD_CALLS + 1 - 5:,} more")
    calls = ended.tool_calls
    assert len(calls) == MAX_TOOL_CALLS
    first = calls[0]
    assert first["name"] == "write_file" and first["arguments_chars"] == endless.flood_argument_chars
    omitted = endless.flood_argument_chars - MAX_TOOL_ARGUMENT_CHARS
    assert first["arguments"] == "a" * MAX_TOOL_ARGUMENT_CHARS + f"… [{omitted:,} more characters not kept]"
    assert calls[1] == {"id": "call_1", "name": "f", "arguments": "{}"}
    assert calls[-1]["id"] == f"call_{MAX_TOOL_CALLS - 1}"
    [capped] = [m.data for m in ended.milestones if m.name == "tool-calls-capped"]
    assert capped == {
        "calls": FLOOD_CALLS + 1,
        "kept": MAX_TOOL_CALLS,
        "dropped": FLOOD_CALLS + 1 - MAX_TOOL_CALLS,
        "arguments_cut": 1,
        "max_arguments_chars": MAX_TOOL_ARGUMENT_CHARS,
    }
    assert f"{FLOOD_CALLS + 1:,} tool calls, the first {MAX_TOOL_CALLS} kept" in ended.summary


async def test_a_stream_line_past_the_cap_fails_the_run_without_a_retry(eng, endless):
    job = agent(endless, "long-line")
    job.max_retries = 2
    await eng.control.add_job(job)
    run = await eng.control.trigger("long-line")
    await eng.step()
    await eng.dispatcher.wait_idle()
    ended = await run_of(eng, run.id)
    assert ended.status is RunStatus.FAILED
    assert ended.error == "malformed stream: line 1 is longer than 1 MiB"
    assert len(await eng.store.attempts(run.id)) == 1  # the same server sends the same line again


async def test_a_long_reply_is_kept_head_and_tail_and_its_last_line_still_counts(eng, endless):
    await eng.control.add_job(agent(endless, "long-reply", conversation="persistent"))
    run = await eng.control.trigger("long-reply")
    await eng.step()
    await eng.dispatcher.wait_idle()
    ended = await run_of(eng, run.id)
    assert ended.status is RunStatus.SUCCEEDED
    [completed] = [m.data for m in ended.milestones if m.name == "execution-completed"]
    assert completed["chars"] == endless.long_reply_chars > 2_000_000
    job = await eng.store.get_job_by_name("long-reply")
    assert job is not None and job.id is not None
    turns = await eng.store.get_memory(job.id, CONVERSATION_KEY)
    kept = turns[-1]["content"]
    assert len(kept) < 300 * 1024  # the run's output cap (256 KiB), head and tail, and the note between
    assert kept.startswith("0123456789abcdef") and kept.endswith("\nHEARTBEAT_OK")
    assert "characters omitted] …" in kept


async def test_an_http_jobs_endless_body_ends_at_its_timeout_and_on_cancel(eng, endless):
    target = {"url": f"{endless.url}/endless"}
    job = Job(name="download", schedule="@yearly", timezone="UTC", kind=TargetKind.HTTP, target=target)
    job.timeout_s = 2
    await eng.control.add_job(job)
    timed = await eng.control.trigger("download")
    await eng.step()
    await eng.dispatcher.wait_idle()
    ended = await run_of(eng, timed.id)
    assert (ended.status, ended.error) == (RunStatus.TIMED_OUT, "timed out after 2s")
    assert ended.output_bytes > 4 * 1024 * 1024 and len(ended.output) < 300 * 1024

    job = await eng.store.get_job_by_name("download")
    assert job is not None
    job.timeout_s = 600
    await eng.control.update_job(job)
    cancelled = await eng.control.trigger("download")
    await eng.step()
    await until("a few MiB downloaded", lambda: _async(endless.sent_bytes > 2 * ended.output_bytes))
    await eng.control.cancel(cancelled.id)
    await eng.step()  # the scheduler's pass reads the cancel request
    await eng.dispatcher.wait_idle()
    assert (await run_of(eng, cancelled.id)).status is RunStatus.CANCELLED
