"""Agent jobs that run unattended: sentinels, where a cost comes from, fallback models, a gate before the
model. Against a real chat server on loopback whose answers each test scripts per model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cronui.application.shapes import run_json
from cronui.config import Price
from cronui.model import Job, RunStatus, TargetKind
from cronui.targets import Delivery
from tests.engine.servers import Request, Server, Sink, send, sse
from tests.helpers import run_to_end

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}


@dataclass
class Answer:
    text: str = "Done."
    status: int = 200  # not 200: an error response whose message is `text`
    usage: dict[str, Any] | None = field(default_factory=lambda: dict(USAGE))


def error_body(message: str) -> str:
    """What the server sends with an error status (and a failed run quotes)."""
    return json.dumps({"error": {"message": message}})


@dataclass
class ScriptedChat(Server):
    """A chat endpoint answering each model from `script[model]`: its n-th request gets the n-th answer
    (the last one again once they run out); a model without a script gets 404."""

    script: dict[str, list[Answer]] = field(default_factory=dict)

    def asked(self) -> list[str]:
        return [r.json()["model"] for r in self.requests]

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        body = req.json()
        model = body["model"]
        answers = self.script.get(model)
        if not answers:
            await send(writer, 404, json.dumps({"error": {"message": f"no model {model}"}}).encode())
            return
        n = sum(1 for r in self.requests if r.json()["model"] == model)
        answer = answers[min(n, len(answers)) - 1]
        if answer.status != 200:
            await send(writer, answer.status, error_body(answer.text).encode())
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        words = [answer.text[i : i + 12] for i in range(0, len(answer.text), 12)] or [""]
        for i, w in enumerate(words):
            choice: dict[str, Any] = {"index": 0, "delta": {"content": w}}
            if i == len(words) - 1:
                choice["finish_reason"] = "stop"
            writer.write(sse({"choices": [choice]}))
        if answer.usage is not None:
            writer.write(sse({"choices": [], "usage": answer.usage}))
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()


@pytest.fixture
async def chat() -> AsyncIterator[ScriptedChat]:
    s = ScriptedChat()
    await s.start()
    yield s
    await s.stop()


def agent_job(name: str, chat: ScriptedChat, model: str, retries: int = 0, **target: Any) -> Job:
    spec = {"base_url": f"{chat.url}/v1", "model": model, "message": "Check {job}", **target}
    job = Job(name=name, schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target=spec)
    job.max_retries, job.retry_delay_s = retries, 0
    return job


def delivered(job: Job, sink: Sink) -> Job:
    job.delivery = Delivery(mode="always", to=f"{sink.url}/ok", format="json")
    return job


# ---------------------------------------------------------------- sentinels


async def test_task_failed_as_first_token_fails_with_its_reason_and_is_not_retried(eng, chat, sink):
    chat.script["m"] = [Answer("TASK_FAILED: the source was unreachable\nI tried twice.")]
    await eng.control.add_job(delivered(agent_job("feed", chat, "m", retries=2), sink))
    runs = await run_to_end(eng, "feed")
    assert [(r.status, r.error) for r in runs] == [(RunStatus.FAILED, "the source was unreachable")]
    assert chat.asked() == ["m"]


async def test_task_failed_as_last_line_with_a_reason(eng, chat):
    chat.script["m"] = [Answer("Fetched 0 items.\nTASK_FAILED: empty feed"), Answer("Checked.\nTASK_FAILED")]
    await eng.control.add_job(agent_job("feed", chat, "m"))
    [first] = await run_to_end(eng, "feed")
    [second] = await run_to_end(eng, "feed")
    assert (first.status, first.error) == (RunStatus.FAILED, "empty feed")
    assert (second.status, second.error) == (RunStatus.FAILED, "the agent reported TASK_FAILED")


@pytest.mark.parametrize(
    ("reply", "sentinel"),
    [
        ("HEARTBEAT_OK", "HEARTBEAT_OK"),
        ("NO_REPLY: nothing new since yesterday", "NO_REPLY"),
        ("NO_FLUSH keep the notes for later", "NO_FLUSH"),
        ("IDEMPOTENT_SKIP:already sent today", "IDEMPOTENT_SKIP"),
        ("Looked at 3 feeds, nothing new.\nIDEMPOTENT_SKIP", "IDEMPOTENT_SKIP"),
        ("Checked the inbox.\nNO_FLUSH: unchanged", "NO_FLUSH"),
    ],
)
async def test_quiet_sentinels_succeed_without_delivery(eng, chat, sink, reply, sentinel):
    chat.script["m"] = [Answer(reply)]
    await eng.control.add_job(delivered(agent_job("watch", chat, "m"), sink))
    [run] = await run_to_end(eng, "watch")
    assert run.status is RunStatus.SUCCEEDED and run.error is None
    assert (run.delivery_status, run.delivery_reason) == ("suppressed", f"the agent replied {sentinel}")
    assert sink.requests == []


@pytest.mark.parametrize(
    "reply",
    [
        "I would normally answer NO_REPLY here, but three items changed.",
        "NO_REPLYING to spam today; two real mails need you.",
        "HEARTBEAT_OK_BUT two disks are nearly full",
    ],
)
async def test_a_sentinel_inside_a_reply_is_just_text(eng, chat, sink, reply):
    chat.script["m"] = [Answer(reply)]
    await eng.control.add_job(delivered(agent_job("watch", chat, "m"), sink))
    [run] = await run_to_end(eng, "watch")
    assert run.status is RunStatus.SUCCEEDED and run.delivery_status == "delivered"
    assert [r.json()["text"] for r in sink.requests] == [reply]


@pytest.mark.parametrize(
    "reply",
    [
        "Rate limit exceeded, please retry in 20s",
        "Error: 529 Overloaded",
        "The server is overloaded. Try again later.",
        "503 Service Unavailable",
        "rate_limit_error",
    ],
)
async def test_a_gateway_error_as_the_reply_is_a_retryable_failure(eng, chat, sink, reply):
    chat.script["m"] = [Answer(reply), Answer("Three new items.")]
    await eng.control.add_job(delivered(agent_job("digest", chat, "m", retries=1), sink))
    first, second = await run_to_end(eng, "digest")
    assert first.status is RunStatus.FAILED
    assert first.error == f"the model server answered with an error as its reply: {reply}"
    assert (second.status, second.output) == (RunStatus.SUCCEEDED, "Three new items.")
    assert [r.json()["text"] for r in sink.requests] == ["Three new items."]  # the failure was not delivered


@pytest.mark.parametrize(
    "reply",
    [
        "Rate limits look fine today.",
        "Overloaded trains again on line 4.",
        "The API rate limit was raised to 500 requests a minute yesterday, so the nightly sync can run in one "
        "go; nothing else changed in the provider's status page.",
    ],
)
async def test_a_reply_that_mentions_rate_limits_is_a_reply(eng, chat, reply):
    chat.script["m"] = [Answer(reply)]
    await eng.control.add_job(agent_job("digest", chat, "m", retries=1))
    [run] = await run_to_end(eng, "digest")
    assert (run.status, run.output) == (RunStatus.SUCCEEDED, reply)


# ---------------------------------------------------------------- where a cost comes from


async def test_cost_from_prices_then_the_gateway_then_the_table_else_unknown(eng, chat, settings):
    with_cost = {**USAGE, "cost": 0.0123}
    chat.script["priced"] = [Answer(usage=with_cost)]  # [prices] overrides what the gateway says
    chat.script["routed"] = [Answer(usage=with_cost)]
    chat.script["gpt-4o-mini"] = [Answer()]  # in genai-prices' table: $0.15 in, $0.60 out per million
    chat.script["home-llama"] = [Answer()]
    chat.script["no-usage"] = [Answer(usage=None)]
    settings.prices["priced"] = Price(input=1.0, output=2.0)
    runs = {}
    for model in chat.script:
        await eng.control.add_job(agent_job(model, chat, model))
        [runs[model]] = await run_to_end(eng, model)
    got = {m: (r.cost_usd, r.cost_source) for m, r in runs.items()}
    assert got == {
        "priced": (pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6), "prices"),
        "routed": (0.0123, "gateway"),
        "gpt-4o-mini": (pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6), "table"),
        "home-llama": (None, "unknown"),
        "no-usage": (None, "unknown"),
    }
    shown = run_json(runs["routed"])
    assert (shown["cost_usd"], shown["cost_source"]) == (0.0123, "gateway")
    assert runs["home-llama"].milestone_data("usage-calculated") == {
        "model": "home-llama",
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "total_tokens": 1500,
        "cost_usd": None,
        "cost_source": "unknown",
    }


async def test_a_gateway_cost_that_is_not_a_number_fails_the_run_naming_it(eng, chat):
    chat.script["m"] = [Answer(usage={**USAGE, "cost": "cheap"})]
    await eng.control.add_job(agent_job("odd", chat, "m", retries=2))
    runs = await run_to_end(eng, "odd")
    assert [(r.status, r.error) for r in runs] == [
        (RunStatus.FAILED, "malformed stream: line 3: usage.cost is a string, not a number")
    ]


# ---------------------------------------------------------------- fallbacks


@pytest.fixture
async def other() -> AsyncIterator[ScriptedChat]:
    s = ScriptedChat()
    await s.start()
    yield s
    await s.stop()


async def test_a_fallback_answers_when_the_model_before_it_fails_transiently(eng, chat, other, sink, settings):
    chat.script["main"] = [Answer("overloaded", status=503)]
    chat.script["second"] = [Answer("rate limited", status=429)]
    other.script["third"] = [Answer("Two new items.", usage={**USAGE, "cost": 0.002})]
    settings.prices["main"] = Price(input=1.0, output=1.0)  # not the model that answered: not its price
    fallbacks = ["second", f"third@{other.url}/v1"]
    await eng.control.add_job(delivered(agent_job("digest", chat, "main", fallbacks=fallbacks), sink))
    [run] = await run_to_end(eng, "digest")
    assert (run.status, run.output) == (RunStatus.SUCCEEDED, "Two new items.")
    assert chat.asked() == ["main", "second"] and other.asked() == ["third"]
    assert run.answered_by == "third"
    assert run.models_failed == [
        {"model": "main", "error": f"HTTP 503 Service Unavailable: {error_body('overloaded')}"},
        {"model": "second", "error": f"HTTP 429 Too Many Requests: {error_body('rate limited')}"},
    ]
    assert [
        (m.name, m.data.get("model"), m.data.get("next"))
        for m in run.milestones
        if "model" in m.data and m.name != "setup-completed"
    ] == [
        ("execution-started", "main", None),
        ("model-failed", "main", "second"),
        ("execution-started", "second", None),
        ("model-failed", "second", "third"),
        ("execution-started", "third", None),
        ("usage-calculated", "third", None),
    ]
    assert (run.cost_usd, run.cost_source) == (0.002, "gateway")
    assert run.summary.endswith("answered by third after main, second failed")
    shown = run_json(run)
    assert shown["model"] == "third" and [f["model"] for f in shown["models_failed"]] == ["main", "second"]
    assert [r.json()["text"] for r in sink.requests] == ["Two new items."]


async def test_a_permanent_failure_is_not_handed_to_a_fallback(eng, chat):
    chat.script["main"] = [Answer("invalid api key", status=401)]
    chat.script["second"] = [Answer("Fine.")]
    await eng.control.add_job(agent_job("digest", chat, "main", retries=2, fallbacks=["second"]))
    runs = await run_to_end(eng, "digest")
    assert [r.status for r in runs] == [RunStatus.FAILED] and chat.asked() == ["main"]
    assert runs[0].error.startswith("main: HTTP 401 from the model server")
    assert runs[0].models_failed == [{"model": "main", "error": runs[0].error.removeprefix("main: ")}]


async def test_a_chain_where_every_model_fails_is_retried_from_the_start(eng, chat):
    chat.script["main"] = [Answer("overloaded", status=503)]
    chat.script["second"] = [Answer("Rate limit exceeded, retry in 20s")]  # an error rendered as the reply
    chat.script["third"] = [Answer("bad gateway", status=502), Answer("Recovered.")]
    job = agent_job("digest", chat, "main", retries=1, fallbacks=["second", "third"])
    await eng.control.add_job(job)
    first, second = await run_to_end(eng, "digest")
    assert first.status is RunStatus.FAILED
    assert first.error == f"all 3 models failed; the last, third: HTTP 502 Bad Gateway: {error_body('bad gateway')}"
    assert [f["model"] for f in first.models_failed] == ["main", "second", "third"]
    assert first.models_failed[1]["error"] == (
        "the model server answered with an error as its reply: Rate limit exceeded, retry in 20s"
    )
    assert first.answered_by is None
    assert chat.asked() == ["main", "second", "third", "main", "second", "third"]
    assert (second.status, second.output, second.answered_by) == (RunStatus.SUCCEEDED, "Recovered.", "third")


# ---------------------------------------------------------------- a gate before the model


async def test_an_open_gate_hands_its_output_to_the_message(eng, chat):
    chat.script["m"] = [Answer("Summarised.")]
    gate = "echo '3 new tickets'; echo 'checked the queue' >&2"
    await eng.control.add_job(agent_job("triage", chat, "m", gate=gate, message="Triage these: {gate_output}."))
    [run] = await run_to_end(eng, "triage")
    assert run.status is RunStatus.SUCCEEDED and run.output == "Summarised."
    assert chat.requests[0].json()["messages"][-1]["content"] == "Triage these: 3 new tickets."
    assert run.stderr == "checked the queue\n"
    names = [m.name for m in run.milestones]
    assert names[:3] == ["gate-started", "gate-open", "setup-completed"]
    assert run.milestone_data("gate-open") == {"exit_code": 0, "output_bytes": 14}


async def test_a_closed_gate_skips_the_run_and_calls_no_model(eng, chat, sink):
    chat.script["m"] = [Answer("Should not be asked.")]
    job = delivered(agent_job("triage", chat, "m", retries=2, gate="test -s /nonexistent/queue"), sink)
    await eng.control.add_job(job)
    runs = await run_to_end(eng, "triage")
    assert [(r.status, r.reason, r.exit_code) for r in runs] == [(RunStatus.SKIPPED, "gate", 1)]
    assert runs[0].error is None and chat.requests == [] and sink.requests == []
    assert (runs[0].delivery_status, runs[0].delivery_reason) == ("suppressed", "the gate found nothing to do")
    assert [m.name for m in runs[0].milestones] == ["gate-started", "gate-closed"]
    stored = await eng.store.get_job_by_name("triage")
    assert stored.consecutive_failures == 0 and stored.last_status is RunStatus.SKIPPED


async def test_a_gate_that_breaks_fails_the_run_without_calling_the_model(eng, chat):
    chat.script["m"] = [Answer("Should not be asked.")]
    await eng.control.add_job(agent_job("triage", chat, "m", gate="echo 'no such queue' >&2; exit 3"))
    [run] = await run_to_end(eng, "triage")
    assert (run.status, run.error, run.exit_code) == (RunStatus.FAILED, "the gate failed: exited with code 3", 3)
    assert run.stderr == "no such queue\n" and chat.requests == []
    assert [m.name for m in run.milestones] == ["gate-started", "gate-failed"]


async def test_a_gate_that_hangs_is_stopped_with_the_run(eng, chat, tmp_path):
    chat.script["m"] = [Answer("Should not be asked.")]
    pidfile = tmp_path / "child.pid"
    job = agent_job("triage", chat, "m", gate=f"sleep 30 & echo $! > {pidfile}; wait")
    job.timeout_s = 1
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, "triage")
    assert run.status is RunStatus.TIMED_OUT and chat.requests == []
    assert run.error == "timed out after 1s" and [m.name for m in run.milestones] == ["gate-started"]
    assert not alive(int(pidfile.read_text()))


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (this machine's init may not reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


# ---------------------------------------------------------------- retry notices


async def test_retry_notices_before_the_final_attempt(eng, chat, sink):
    chat.script["m"] = [Answer("overloaded", status=503), Answer("overloaded", status=503), Answer("All done.")]
    job = delivered(agent_job("digest", chat, "m", retries=2), sink)
    job.delivery.notify_retries = True
    await eng.control.add_job(job)
    runs = await run_to_end(eng, "digest")
    assert [r.status for r in runs] == [RunStatus.FAILED, RunStatus.FAILED, RunStatus.SUCCEEDED]
    error = f"HTTP 503 Service Unavailable: {error_body('overloaded')}"
    bodies = [r.json() for r in sink.requests]  # posted as they happen: their order is not fixed
    assert sorted(b["alert"] for b in bodies if "alert" in b) == [
        f"digest #{runs[0].id} failed, retry 1/2 in 0s: {error}",
        f"digest #{runs[1].id} failed, retry 2/2 in 0s: {error}",
    ]
    assert [b["text"] for b in bodies if "text" in b] == ["All done."]  # and the final result, once


async def test_no_retry_notice_without_the_option_or_for_the_last_attempt(eng, chat, sink):
    chat.script["m"] = [Answer("overloaded", status=503)]
    await eng.control.add_job(delivered(agent_job("plain", chat, "m", retries=1), sink))
    job = delivered(agent_job("last", chat, "m"), sink)
    job.delivery.notify_retries = True
    await eng.control.add_job(job)
    await run_to_end(eng, "plain")
    await run_to_end(eng, "last")
    assert [r.json().get("alert") for r in sink.requests] == [None, None]  # the two final results only


# ---------------------------------------------------------------- a cost limit per run


async def test_max_cost_stops_a_stream_whose_estimate_passes_it(eng, chat, settings):
    long_reply = "A very long essay nobody asked for. " * 200  # 7,200 characters, about 1,800 tokens
    chat.script["m"] = [Answer(long_reply)]
    settings.prices["m"] = Price(input=0.0, output=10_000.0)  # $0.01 a token out: the essay costs about $18
    await eng.control.add_job(agent_job("essay", chat, "m", retries=2, max_cost_usd=0.5))
    runs = await run_to_end(eng, "essay")
    assert [r.status for r in runs] == [RunStatus.FAILED]  # not retried: another try would cost as much
    [run] = runs
    assert run.error.startswith("stopped: the reply's estimated cost $0.5") and "passed --max-cost $0.5" in run.error
    assert 0 < len(run.output) < len(long_reply) / 10  # stopped early, not after the whole reply
    reached = run.milestone_data("max-cost-reached")
    assert reached["max_cost_usd"] == 0.5 and 0.5 < reached["estimate_usd"] < 0.6


async def test_max_cost_under_the_limit_and_without_a_price(eng, chat):
    chat.script["cheap"] = [Answer("Short.")]
    chat.script["home-llama"] = [Answer("Short too.")]
    await eng.control.add_job(agent_job("cheap", chat, "cheap", max_cost_usd=0.5))
    await eng.control.add_job(agent_job("local", chat, "home-llama", max_cost_usd=0.5))
    eng.settings.prices["cheap"] = Price(input=1.0, output=1.0)
    [cheap] = await run_to_end(eng, "cheap")
    [local] = await run_to_end(eng, "local")
    assert (cheap.status, cheap.output) == (RunStatus.SUCCEEDED, "Short.")
    assert (local.status, local.output) == (RunStatus.SUCCEEDED, "Short too.")
    assert local.milestone_data("max-cost-unchecked") == {
        "model": "home-llama",
        "reason": "no price known for the model",
    }
