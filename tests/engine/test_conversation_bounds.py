"""A persistent conversation is carried within about 1 MiB, whatever keep_turns says, and a run's record
keeps the newest messages of its request, each cut: a real chat server on loopback."""

from __future__ import annotations

import json

from cronui.engine.executors.agent import CONVERSATION_KEY
from cronui.engine.executors.agent.history import HISTORY_CAP, RECORDED_MESSAGES, RECORDED_TEXT_CAP, carried
from cronui.model import RunStatus
from tests.engine.test_agent_http import agent_job, run_to_end

LONG = 100_000  # characters of each message; the echoing model's reply is as long again


def _chars(messages: list[dict]) -> int:
    return sum(len(m["content"]) for m in messages)


async def test_a_long_conversation_keeps_its_newest_turns_within_the_cap(eng, llm):
    message = "{job} " + "x" * LONG
    await eng.control.add_job(
        agent_job("chat", llm, model="json-only", message=message, conversation="persistent", keep_turns=100)
    )
    for _ in range(7):  # 7 turns of about 200,000 characters: 1.4 M characters uncut
        [run] = await run_to_end(eng, "chat")
        assert run.status is RunStatus.SUCCEEDED
    job = await eng.store.get_job_by_name("chat")
    assert job is not None and job.id is not None
    turns = await eng.store.get_memory(job.id, CONVERSATION_KEY)
    assert _chars(turns) <= HISTORY_CAP
    assert len(turns) == 10  # the newest 5 whole turns fit
    assert [m["role"] for m in turns] == ["user", "assistant"] * 5
    assert turns[-1]["content"] == run.output  # the newest reply is among them
    sent = llm.requests[-1].json()["messages"]
    assert len(sent) == 11 and _chars(sent[:-1]) <= HISTORY_CAP  # what the model got: the carried history
    recorded = run.request["body"]["messages"]
    assert len(recorded) == 11  # under RECORDED_MESSAGES: every message, each cut
    assert all(len(m["content"]) < RECORDED_TEXT_CAP + 100 for m in recorded)
    assert recorded[-1]["content"].startswith("chat xxx") and "characters omitted" in recorded[-1]["content"]
    assert len(json.dumps(run.request)) < RECORDED_MESSAGES * (RECORDED_TEXT_CAP + 200)


def test_a_history_saved_before_the_cap_is_cut_to_its_newest_turns():
    turns = []
    for i in range(10_000):  # keep_turns' most, with replies of 3,000 characters: 30 M characters
        turns += [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}".ljust(3_000)}]
    kept = carried(turns)
    assert _chars(kept) <= HISTORY_CAP
    assert kept[0] == {"role": "user", "content": kept[0]["content"]} and kept[-1] == turns[-1]
    assert len(kept) == 2 * (HISTORY_CAP // (3_000 + 5))


def test_a_newest_turn_over_the_cap_alone_is_kept_head_and_tail():
    big = [{"role": "user", "content": "ask"}, {"role": "assistant", "content": "start" + "y" * 3_000_000 + "END"}]
    kept = carried([{"role": "user", "content": "old"}, {"role": "assistant", "content": "older"}, *big])
    assert [m["role"] for m in kept] == ["user", "assistant"]
    assert kept[0]["content"] == "ask"
    reply = kept[1]["content"]
    assert reply.startswith("start") and reply.endswith("END") and "characters omitted" in reply
    assert len(reply) <= HISTORY_CAP
