"""Agent and HTTP jobs against real servers on loopback; delivery and alerts to a real webhook sink."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cronui.config import Price
from cronui.model import EventKind, Job, RunStatus, TargetKind, Trigger
from cronui.targets import Delivery
from tests.engine.servers import ChatServer
from tests.helpers import run_to_end


def agent_job(name: str, llm: ChatServer, model: str = "echo", **target: object) -> Job:
    spec = {"base_url": f"{llm.url}/v1", "model": model, "message": "Summarise {job}", **target}
    return Job(name=name, schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target=spec)


def http_job(name: str, url: str, **target: object) -> Job:
    return Job(name=name, schedule="@yearly", timezone="UTC", kind=TargetKind.HTTP, target={"url": url, **target})


async def test_streamed_reply_usage_cost_and_milestones_in_order(eng, llm, settings, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test")
    settings.prices["echo"] = Price(input=1.0, output=2.0)
    await eng.control.add_job(agent_job("digest", llm, system="Be brief.", api_key_env="TEST_LLM_KEY"))
    sub = eng.bus.subscribe()
    [run] = await run_to_end(eng, "digest")
    assert run.status is RunStatus.SUCCEEDED
    assert run.output == "Hello! You said: Summarise digest"
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (12, 5, 17)
    assert run.cost_usd == pytest.approx((12 * 1.0 + 5 * 2.0) / 1e6)
    assert [m.name for m in run.milestones] == [
        "setup-completed",
        "execution-started",
        "first-token",
        "execution-completed",
        "usage-calculated",
    ]
    sent = llm.requests[-1].json()
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert llm.requests[-1].headers["authorization"] == "Bearer sk-test"
    assert run.request["headers"]["Authorization"] == "••••••••"
    assert run.request["body"]["model"] == "echo"
    outputs = []
    while not sub.queue.empty():
        ev = sub.queue.get_nowait()
        if ev.kind is EventKind.OUTPUT and ev.run_id == run.id:
            outputs.append(ev.data["text"])
    assert "".join(outputs) == run.output  # a viewer can follow the reply as it is written


async def test_unknown_model_price_is_unknown_not_zero(eng, llm):
    await eng.control.add_job(agent_job("free", llm))
    [run] = await run_to_end(eng, "free")
    assert run.total_tokens == 17 and run.cost_usd is None


async def test_falls_back_to_a_plain_request_when_streaming_is_refused(eng, llm):
    await eng.control.add_job(agent_job("plain", llm, model="no-stream"))
    [run] = await run_to_end(eng, "plain")
    assert run.status is RunStatus.SUCCEEDED and run.output.startswith("Hello!")
    assert [bool(r.json().get("stream")) for r in llm.requests] == [True, False]
    await eng.control.add_job(agent_job("whole", llm, model="json-only"))
    [run] = await run_to_end(eng, "whole")
    assert run.status is RunStatus.SUCCEEDED and run.total_tokens == 17


async def test_reply_of_only_tool_calls_is_recorded_as_such(eng, llm):
    await eng.control.add_job(agent_job("tooly", llm, model="tools"))
    [run] = await run_to_end(eng, "tooly")
    assert run.status is RunStatus.FAILED
    assert run.tool_calls == [{"id": "call_1", "name": "web_search", "arguments": '{"q": "cron"}'}]
    assert run.error == 'the reply ended in tool calls and no text: web_search({"q": "cron"})'


async def test_server_errors_are_retried_then_fail(eng, llm):
    job = agent_job("down", llm, model="fail500")
    job.max_retries, job.retry_delay_s = 2, 0
    await eng.control.add_job(job)
    runs = await run_to_end(eng, "down")
    assert [(r.attempt, r.status) for r in runs] == [
        (1, RunStatus.FAILED),
        (2, RunStatus.FAILED),
        (3, RunStatus.FAILED),
    ]
    assert runs[-1].http_status == 500 and runs[-1].error.startswith("HTTP 500 Internal Server Error")
    assert [r.trigger for r in runs] == [Trigger.MANUAL, Trigger.RETRY, Trigger.RETRY]


async def test_401_is_permanent_and_names_the_key(eng, llm, monkeypatch):
    monkeypatch.setenv("WRONG_KEY", "sk-nope")
    job = agent_job("locked", llm, model="auth", api_key_env="WRONG_KEY")
    job.max_retries = 3
    await eng.control.add_job(job)
    runs = await run_to_end(eng, "locked")
    assert len(runs) == 1
    assert runs[0].error == "HTTP 401 from the model server: check the API key in $WRONG_KEY (permanent: not retried)"


async def test_missing_api_key_variable_is_named(eng, llm):
    await eng.control.add_job(agent_job("nokey", llm, api_key_env="CRONUI_NO_SUCH_KEY"))
    [run] = await run_to_end(eng, "nokey")
    assert run.error == "environment variable CRONUI_NO_SUCH_KEY is not set (the API key for this job)"
    assert llm.requests == []


async def test_429_honours_retry_after(eng, llm):
    job = agent_job("limited", llm, model="flaky")
    job.max_retries, job.retry_delay_s = 1, 0
    await eng.control.add_job(job)
    first, second = await run_to_end(eng, "limited")
    assert first.status is RunStatus.FAILED and first.http_status == 429
    assert second.status is RunStatus.SUCCEEDED
    assert second.started_at - first.finished_at >= 1000


async def test_sentinels(eng, llm, sink):
    await eng.control.add_job(agent_job("gave-up", llm, model="gave-up"))
    [run] = await run_to_end(eng, "gave-up")
    assert run.status is RunStatus.FAILED and run.error == "the agent reported TASK_FAILED"
    job = agent_job("heartbeat", llm, model="quiet")
    job.delivery = Delivery(mode="always", to=f"{sink.url}/ok", format="slack")
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, "heartbeat")
    assert run.status is RunStatus.SUCCEEDED
    assert (run.delivery_status, run.delivery_reason) == ("suppressed", "the agent replied HEARTBEAT_OK")
    assert sink.requests == []


async def test_message_placeholders_leave_other_braces_alone(eng, llm):
    msg = 'Report on {job} for {scheduled_for}; answer as {"items": [...]} and keep {other} as is'
    await eng.control.add_job(agent_job("tmpl", llm, message=msg))
    [run] = await run_to_end(eng, "tmpl")
    assert run.status is RunStatus.SUCCEEDED
    sent = llm.requests[-1].json()["messages"][-1]["content"]
    assert sent.startswith("Report on tmpl for 20") and sent.endswith('as {"items": [...]} and keep {other} as is')


async def test_persistent_conversation_carries_the_previous_reply(eng, llm):
    await eng.control.add_job(agent_job("chat", llm, model="memory", conversation="persistent"))
    await eng.control.add_job(agent_job("other", llm, model="memory", conversation="persistent"))
    await eng.control.add_job(agent_job("fresh", llm, model="memory"))
    [a1] = await run_to_end(eng, "chat")
    [a2] = await run_to_end(eng, "chat")
    [b1] = await run_to_end(eng, "other")
    [f1] = await run_to_end(eng, "fresh")
    [f2] = await run_to_end(eng, "fresh")
    assert a1.output == "messages=1 previous=none"
    assert a2.output == "messages=3 previous=messages=1 previous=none"
    assert b1.output == "messages=1 previous=none"  # never mixes with another job's conversation
    assert f1.output == f2.output == "messages=1 previous=none"


async def test_idle_timeout_and_broken_stream(eng, llm):
    await eng.control.add_job(agent_job("stall", llm, model="slow", idle_timeout_s=0.5))
    [run] = await run_to_end(eng, "stall")
    assert run.status is RunStatus.TIMED_OUT and run.error == "no token for 0.5s (idle timeout)"
    assert run.output == "Hello! Y"  # what arrived is kept
    await eng.control.add_job(agent_job("garbled", llm, model="broken"))
    [run] = await run_to_end(eng, "garbled")
    assert run.status is RunStatus.FAILED
    assert run.error.startswith("malformed stream: line") and "is not JSON" in run.error


# ---------------------------------------------------------------- HTTP jobs


async def test_http_success_and_milestones(eng, sink):
    await eng.control.add_job(http_job("ping", f"{sink.url}/ok"))
    [run] = await run_to_end(eng, "ping")
    assert run.status is RunStatus.SUCCEEDED and run.http_status == 200
    assert run.output == '{"ok": true}'
    assert [m.name for m in run.milestones] == ["request-sent", "response-received"]
    assert run.milestones[1].data["status"] == 200 and run.milestones[1].data["bytes"] == 12


async def test_http_4xx_is_permanent_5xx_is_retried(eng, sink):
    job = http_job("gone", f"{sink.url}/status/404")
    job.max_retries, job.retry_delay_s = 2, 0
    await eng.control.add_job(job)
    runs = await run_to_end(eng, "gone")
    assert len(runs) == 1 and runs[0].error == "HTTP 404 Not Found (permanent: not retried)"
    job = http_job("busy", f"{sink.url}/status/503")
    job.max_retries, job.retry_delay_s = 1, 0
    await eng.control.add_job(job)
    runs = await run_to_end(eng, "busy")
    assert [r.error for r in runs] == ["HTTP 503 Service Unavailable"] * 2


async def test_http_connection_refused_is_transient(eng):
    job = http_job("nowhere", "http://127.0.0.1:9/x")
    job.max_retries, job.retry_delay_s = 1, 0
    await eng.control.add_job(job)
    runs = await run_to_end(eng, "nowhere")
    assert len(runs) == 2 and all(r.error.startswith("could not connect") for r in runs)


async def test_http_expectations(eng, sink):
    await eng.control.add_job(http_job("created", f"{sink.url}/ok", expect_status=201))
    [run] = await run_to_end(eng, "created")
    assert run.status is RunStatus.FAILED and run.error == "HTTP 200, expected 201"
    await eng.control.add_job(http_job("body", f"{sink.url}/ok", expect_body='"ok": true'))
    assert (await run_to_end(eng, "body"))[0].status is RunStatus.SUCCEEDED
    await eng.control.add_job(http_job("nobody", f"{sink.url}/ok", expect_body="healthy"))
    assert (await run_to_end(eng, "nobody"))[0].error == "the response body does not contain 'healthy'"


async def test_http_secrets_resolved_at_run_time_and_masked(eng, sink, monkeypatch):
    monkeypatch.setenv("SINK_TOKEN", "tok-123456")
    job = http_job(
        "secret",
        sink.url + "/ok?token=${env:SINK_TOKEN}",
        method="POST",
        headers={"X-Token": "${env:SINK_TOKEN}"},
        body='{"hello": 1}',
    )
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, "secret")
    req = sink.requests[-1]
    assert req.path == "/ok?token=tok-123456" and req.headers["x-token"] == "tok-123456"
    assert req.headers["content-type"] == "application/json" and req.json() == {"hello": 1}
    assert "tok-123456" not in json.dumps(run.request)
    stored = await eng.store.get_job_by_name("secret")
    assert stored.target.headers == {"X-Token": "${env:SINK_TOKEN}"}


# ---------------------------------------------------------------- delivery and alerts


@pytest.mark.parametrize("fmt", ["slack", "discord", "json"])
async def test_delivery_formats(eng, llm, sink, fmt):
    job = agent_job(f"deliver-{fmt}", llm)
    job.delivery = Delivery(mode="always", to=f"{sink.url}/ok", format=fmt)
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, job.name)
    assert run.delivery_status == "delivered"
    assert run.milestones[-1].name == "delivery-completed"
    [posted] = [r.json() for r in sink.requests]
    if fmt == "slack":
        assert posted["text"].startswith(f"✅ {job.name} #{run.id} succeeded in ")
        assert posted["text"].endswith("Hello! You said: Summarise " + job.name)
    elif fmt == "discord":
        assert posted["content"].startswith(f"✅ {job.name} #{run.id} succeeded")
    else:
        assert posted["job"] == job.name and posted["status"] == "succeeded" and posted["text"].startswith("Hello!")
        assert posted["run_id"] == run.id and "duration_ms" in posted and "cost_usd" in posted


async def test_delivery_failure_keeps_the_run_succeeded(eng, llm, sink):
    job = agent_job("undeliverable", llm)
    job.delivery = Delivery(mode="always", to=f"{sink.url}/fail", format="json")
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, "undeliverable")
    assert run.status is RunStatus.SUCCEEDED
    assert run.delivery_status == "failed"
    assert run.delivery_reason == "HTTP 500 Internal Server Error from the target (after 3 attempts)"
    assert len(sink.requests) == 3
    assert run.milestones[-1].name == "delivery-failed"
    job = agent_job("rejected", llm)
    job.delivery = Delivery(mode="always", to=f"{sink.url}/gone", format="json")
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, "rejected")
    assert run.delivery_reason == "HTTP 404 Not Found from the target" and len(sink.requests) == 4


async def test_delivery_modes_and_final_attempt_only(eng, llm, sink):
    ok = agent_job("quiet-ok", llm)
    ok.delivery = Delivery(mode="on_failure", to=f"{sink.url}/ok", format="json")
    await eng.control.add_job(ok)
    [run] = await run_to_end(eng, "quiet-ok")
    assert run.delivery_status is None and sink.requests == []
    bad = agent_job("loud-fail", llm, model="fail500")
    bad.max_retries, bad.retry_delay_s = 2, 0
    bad.delivery = Delivery(mode="on_failure", to=f"{sink.url}/ok", format="json", alert_after=99)
    await eng.control.add_job(bad)
    runs = await run_to_end(eng, "loud-fail")
    assert [r.delivery_status for r in runs] == [None, None, "delivered"]
    assert len(sink.requests) == 1 and sink.requests[0].json()["attempt"] == 3


async def test_alert_after_consecutive_failures_cooldown_and_recovery(eng, llm, sink):
    job = agent_job("alerting", llm, model="fail500")
    job.delivery = Delivery(mode="never", alert_to=f"{sink.url}/ok", format="slack", alert_after=2)
    await eng.control.add_job(job)
    for _ in range(3):
        await run_to_end(eng, "alerting")
    texts = [r.json()["text"] for r in sink.requests]
    assert len(texts) == 1 and texts[0].startswith("🚨 alerting failed 2 times in a row; last: HTTP 500")
    job = await eng.control.job("alerting")
    job.target.model = "echo"
    await eng.control.update_job(job)
    await run_to_end(eng, "alerting")
    await run_to_end(eng, "alerting")
    texts = [r.json()["text"] for r in sink.requests]
    assert len(texts) == 2 and texts[1].startswith("✅ alerting recovered")


async def test_auto_disabled_job_alerts(eng, llm, sink, settings):
    settings.auto_disable_after = 1
    job = agent_job("fragile", llm, model="fail500")
    job.delivery = Delivery(mode="never", alert_to=f"{sink.url}/ok", format="discord")
    await eng.control.add_job(job)
    await run_to_end(eng, "fragile")
    [alert] = [r.json()["content"] for r in sink.requests]
    assert alert.startswith("⛔ fragile was auto-disabled: 1 consecutive failures")


async def test_secrets_never_reach_the_database(eng, llm, sink, settings, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test")
    monkeypatch.setenv("HOOK_URL", f"{sink.url}/ok?secret=hook-secret-99")
    job = agent_job("private", llm, model="auth", api_key_env="TEST_LLM_KEY")
    job.delivery = Delivery(mode="always", to="${env:HOOK_URL}", format="json")
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, "private")
    assert run.status is RunStatus.SUCCEEDED and run.delivery_status == "delivered"
    assert sink.requests[-1].path == "/ok?secret=hook-secret-99"
    await eng.bus.flush()
    con = sqlite3.connect(settings.db)
    dump = "\n".join(con.iterdump())
    con.close()
    assert "sk-test" not in dump and "hook-secret-99" not in dump
    assert "${env:HOOK_URL}" in dump
