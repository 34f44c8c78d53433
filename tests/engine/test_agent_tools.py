"""An agent job that offers its model cronui's tools: against a loopback OpenAI-compatible server that calls a
tool first and answers after reading its result, the call is carried out (a milestone with its arguments and
result), its result goes back to the model, and the run's output is the final reply, with every turn's
tokens; a model that never stops calling tools is cut off; a job naming no toolset sends no `tools`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from cronui.application.agent_tools import equip
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.executors.agent.tools import MAX_TOOL_TURNS
from cronui.model import Job, RunStatus, TargetKind
from cronui.model.records import RunFilter
from cronui.store.sqlite import SQLiteStore
from tests.engine.servers import Request, Server, send
from tests.helpers import run_to_end, run_until, settle


class ToolCaller(Server):
    """Answers in one JSON body. Model `lister`: calls list_runs until a tool result is in the conversation,
    then replies with what it read. Model `loop`: calls get_run forever."""

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        body = req.json()
        results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
        last_user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        if body["model"] == "planner":
            if last_user == "Check the deploy again.":  # the follow-up's own run
                message, finish = {"role": "assistant", "content": "Deploy healthy."}, "stop"
            elif not results:
                args = json.dumps({"message": "Check the deploy again.", "in": "2h"})
                call = {"id": "c1", "type": "function", "function": {"name": "schedule_followup", "arguments": args}}
                message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
            else:
                message, finish = {"role": "assistant", "content": f"Scheduled: {results[-1]}"}, "stop"
        elif body["model"] == "loop" or not results:
            name, args = ("get_run", '{"id": 1}') if body["model"] == "loop" else ("list_runs", '{"limit": 5}')
            call = {"id": f"call_{len(results)}", "type": "function", "function": {"name": name, "arguments": args}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        else:  # lister, with a tool's result
            message = {"role": "assistant", "content": f"I saw {len(json.loads(results[-1]))} runs."}
            finish = "stop"
        answer = {"choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}
        await send(writer, 200, json.dumps(answer).encode())


@pytest.fixture
async def caller() -> AsyncIterator[ToolCaller]:
    server = ToolCaller()
    await server.start()
    yield server
    await server.stop()


def tool_job(name: str, server: ToolCaller, model: str, tools: list[str]) -> Job:
    target = {"base_url": f"{server.url}/v1", "model": model, "message": "How did I do?", "stream": False}
    return Job(name=name, schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target={**target, "tools": tools})


async def test_a_tool_call_is_carried_out_and_the_model_answers_with_its_result(eng: Engine, caller: ToolCaller):
    equip(eng)
    await eng.control.add_job(tool_job("reviewer", caller, "lister", ["cronui"]))
    [first] = await run_to_end(eng, "reviewer")
    assert first.status is RunStatus.SUCCEEDED and first.output == "I saw 1 runs."  # itself, running
    [second] = [r for r in await run_to_end(eng, "reviewer") if r.id != first.id]
    assert second.output == "I saw 2 runs."  # the first run too, listed through the tool
    # two requests per run, and the second carries the call and its result
    asked = [r.json() for r in caller.requests][-2:]
    assert [t["function"]["name"] for t in asked[0]["tools"]] == ["schedule_followup", "list_runs", "get_run"]
    roles = [m["role"] for m in asked[1]["messages"]]
    assert roles[-2:] == ["assistant", "tool"] and asked[1]["messages"][-1]["tool_call_id"] == "call_0"
    [called] = [m for m in second.milestones if m.name == "tool-called"]
    assert called.data["tool"] == "list_runs" and called.data["ok"] is True
    listed = json.loads(called.data["result"])
    assert [r["id"] for r in listed] == [second.id, first.id] and listed[1]["status"] == "succeeded"
    assert (second.prompt_tokens, second.completion_tokens, second.total_tokens) == (20, 4, 24)  # both turns


async def test_a_model_that_keeps_calling_tools_is_cut_off(eng: Engine, caller: ToolCaller):
    equip(eng)
    await eng.control.add_job(tool_job("chatty", caller, "loop", ["cronui"]))
    [run] = await run_to_end(eng, "chatty")
    assert run.status is RunStatus.FAILED
    assert run.error == f"the model still called tools after {MAX_TOOL_TURNS} turns"
    calls = [m for m in run.milestones if m.name == "tool-called"]
    assert len(calls) == MAX_TOOL_TURNS and all(c.data["ok"] for c in calls)
    assert calls[0].data["result"].startswith(f'{{"id": {run.id}, "job": "chatty"')  # run #1 is this one


async def test_without_tools_nothing_is_offered_and_without_a_toolbox_the_job_fails_clearly(
    eng: Engine, caller: ToolCaller
):
    await eng.control.add_job(tool_job("plain", caller, "lister", []))
    [plain] = await run_to_end(eng, "plain")
    assert "tools" not in caller.requests[-1].json()
    # a tool call nobody offered ends the run as before: tool calls and no text
    assert plain.status is RunStatus.FAILED and plain.error.startswith("the reply ended in tool calls")
    await eng.control.add_job(tool_job("unequipped", caller, "lister", ["cronui"]))
    [run] = await run_to_end(eng, "unequipped")
    assert run.status is RunStatus.FAILED and run.error == "tools cronui: this program offers the model no tools"


async def test_an_unknown_toolset_is_refused_when_the_job_is_saved(eng: Engine, caller: ToolCaller):
    with pytest.raises(ValueError, match="'shell' is not a toolset cronui offers"):
        await eng.control.add_job(tool_job("bad", caller, "lister", ["shell"]))


async def test_a_refused_call_answers_the_model_with_the_refusal_line(eng: Engine, caller: ToolCaller):
    equip(eng)
    job = await eng.control.add_job(tool_job("asker", caller, "lister", ["cronui"]))
    [run] = await run_to_end(eng, "asker")
    toolbox = eng.dispatcher.toolbox
    assert toolbox is not None
    ok, text = await toolbox.call(job, run, "get_run", {"id": 999})
    assert not ok and "999" in text and "\n" not in text
    ok, text = await toolbox.call(job, run, "list_runs", {"job": "nosuch"})
    assert not ok and "nosuch" in text
    ok, text = await toolbox.call(job, run, "rm_rf", {})
    assert not ok and text.startswith("'rm_rf' is not a tool of this job")


async def test_a_followup_the_model_schedules_runs_at_its_time_and_is_removed(
    store: SQLiteStore, settings: Settings, clock: FakeClock, caller: ToolCaller
):
    """The model answers with a schedule_followup call: a one-shot job of the same agent is made (in 2h, the
    new message), it runs then, and it is removed after its run; the runs of both stay."""
    engine = Engine(store, settings, clock)
    equip(engine)
    await engine.open()
    assert await engine.try_acquire()
    try:
        await engine.control.add_job(tool_job("deploy-watch", caller, "planner", ["cronui"]))
        await engine.control.trigger("deploy-watch")
        await settle(engine)
        [first] = await store.list_runs(RunFilter())
        assert first.status is RunStatus.SUCCEEDED and first.output.startswith("Scheduled: ")
        [follow] = [j for j in await store.list_jobs() if j.name != "deploy-watch"]
        assert follow.name.startswith("followup-") and follow.delete_after_run and "followup" in follow.tags
        assert follow.target.message == "Check the deploy again." and follow.target.tools == ["cronui"]
        assert follow.next_run_at == clock.now_ms() // 1000 * 1000 + 2 * 3600 * 1000
        await run_until(engine, clock, follow.next_run_at - 1000)
        assert len(await store.list_runs(RunFilter())) == 1  # not before its time
        await run_until(engine, clock, follow.next_run_at + 1000)
        await engine.dispatcher.wait_idle()
        later = [r for r in await store.list_runs(RunFilter()) if r.id != first.id]
        assert [(r.job_name, r.status, r.output) for r in later] == [
            (follow.name, RunStatus.SUCCEEDED, "Deploy healthy.")
        ]
        assert [j.name for j in await store.list_jobs()] == ["deploy-watch"]  # the follow-up is gone
    finally:
        await engine.close(grace_s=1.0)
