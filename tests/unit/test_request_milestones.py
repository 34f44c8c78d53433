"""The request as sent is on its milestone while the run goes on (agent: setup-completed; HTTP:
request-sent): model, rendered messages and settings, or method, URL, headers and body — secrets masked,
long texts cut."""

from __future__ import annotations

from cronui.engine.executors.base import MILESTONE_TEXT_CAP
from cronui.model import Job, RunStatus, TargetKind
from cronui.secrets import MASK
from tests.helpers import run_to_end


async def test_agent_setup_milestone_holds_the_rendered_request_masked_and_capped(eng, llm, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-very-secret")
    system = "Be brief. " * 500  # 5,000 characters
    target = {
        "base_url": f"{llm.url}/v1",
        "model": "echo",
        "message": "Summarise {job}; the key is sk-very-secret",
        "system": system,
        "api_key_env": "TEST_LLM_KEY",
        "temperature": 0.2,
        "max_tokens": 300,
    }
    job = Job(name="digest", schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target=target)
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, "digest")
    assert run.status is RunStatus.SUCCEEDED
    setup = next(m for m in run.milestones if m.name == "setup-completed")
    assert setup.data["model"] == "echo" and setup.data["messages"] == 2
    sent = setup.data["request"]
    assert sent["url"] == f"{llm.url}/v1/chat/completions"
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("echo", 0.2, 300)
    system_sent, user_sent = sent["messages"]
    assert system_sent["role"] == "system" and system_sent["content"] == system[:MILESTONE_TEXT_CAP] + "…"
    assert user_sent == {"role": "user", "content": f"Summarise digest; the key is {MASK}"}
    assert "sk-very-secret" not in repr(run.milestones)


async def test_http_request_sent_milestone_holds_headers_masked_and_the_body(eng, sink, monkeypatch):
    monkeypatch.setenv("TEST_TOKEN", "tok-123456")
    target = {
        "url": f"{sink.url}/ok",
        "method": "POST",
        "headers": {"Authorization": "Bearer ${env:TEST_TOKEN}", "X-Trace": "${env:TEST_TOKEN}-1"},
        "body": '{"event": "nightly"}',
    }
    job = Job(name="hook", schedule="@yearly", timezone="UTC", kind=TargetKind.HTTP, target=target)
    await eng.control.add_job(job)
    [run] = await run_to_end(eng, "hook")
    assert run.status is RunStatus.SUCCEEDED
    sent = next(m for m in run.milestones if m.name == "request-sent")
    assert sent.data["method"] == "POST" and sent.data["url"] == f"{sink.url}/ok"
    headers = sent.data["request"]["headers"]
    assert headers["Authorization"] == MASK and headers["X-Trace"] == f"{MASK}-1"
    assert headers["Content-Type"] == "application/json"
    assert sent.data["request"]["body"] == '{"event": "nightly"}'
    assert "tok-123456" not in repr(run.milestones)
