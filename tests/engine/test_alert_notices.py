"""A scheduler's alerts that used to be posted straight away, now through episodes and the outbox, on the fake
clock: `--notify-retries` is a `failure` notice listed by `cronui alerts`, whose failed send is retried with
backoff while the retry runs; a job that was alerting when cronui still kept that in job memory is adopted at
the scheduler's first pass, and its next success sends "recovered"."""

from __future__ import annotations

import socket

from cronui.engine.alerts import SEND_BACKOFF_MS
from cronui.engine.engine import Engine
from cronui.model import Delivery, RunStatus
from cronui.model.alerts import PENDING, SENT, AlertKind
from tests.alert_receivers import json_receiver
from tests.helpers import make_job, run_to_end, settle

YEARLY = "0 0 1 1 *"  # never due while the test runs: only the runs it starts count


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def notices(engine: Engine) -> list[tuple[str, str, list[tuple[str, str, int]]]]:
    """(kind, episode, [(notice, outcome, attempts)]) of every episode, oldest first."""
    return [
        (str(e.kind), e.episode, [(s.notice, s.outcome, s.attempts) for s in sends])
        for e, sends in reversed(await engine.store.list_alert_episodes(100))
    ]


async def first_pass(engine: Engine) -> None:
    await settle(engine)
    if engine._watching is not None:
        await engine._watching
    await engine.dispatcher.wait_deliveries()


async def test_retry_notices_go_through_the_outbox_and_are_listed(engine: Engine) -> None:
    with json_receiver() as hook:
        delivery = Delivery(alert_to=f"http://127.0.0.1:{hook.port}/hook", format="json", notify_retries=True)
        job = make_job("flaky", YEARLY, command="fail", delivery=delivery, max_retries=1, retry_delay_s=0)
        await engine.control.add_job(job)
        first, last = await run_to_end(engine, "flaky")
        assert (first.status, last.status) == (RunStatus.FAILED, RunStatus.FAILED)
        assert [b["alert"] for b in hook.bodies] == [f"flaky #{first.id} failed, retry 1/1 in 0s: exited with code 1"]
        assert hook.bodies[0]["kind"] == "failure"
    assert await notices(engine) == [("failure", f"retry:{first.id}", [("failure", SENT, 1)])]


async def test_a_retry_notice_that_cannot_be_sent_is_kept_and_tried_again_later(engine: Engine) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/hook"
    delivery = Delivery(alert_to=dead, format="json", notify_retries=True)
    job = make_job("flaky", YEARLY, command="fail", delivery=delivery, max_retries=1, retry_delay_s=0)
    await engine.control.add_job(job)
    runs = await run_to_end(engine, "flaky")
    assert [r.status for r in runs] == [RunStatus.FAILED, RunStatus.FAILED], "the retry ran all the same"
    [send] = await engine.store.list_alert_sends()
    assert (send.notice, send.outcome, send.attempts) == ("failure", PENDING, 1)
    assert send.next_at >= engine.clock.now_ms() + SEND_BACKOFF_MS // 2
    assert send.answer, "what went wrong is kept for cronui alerts"


async def test_a_job_alerting_before_episodes_is_adopted_at_the_first_pass_and_recovers(engine: Engine) -> None:
    with json_receiver() as hook:
        delivery = Delivery(alert_to=f"http://127.0.0.1:{hook.port}/hook", format="json", alert_after=2)
        job = await engine.control.add_job(make_job("nightly", YEARLY, command="ok", delivery=delivery))
        assert job.id is not None
        alerted_at = engine.clock.now_ms() - 3_600_000
        await engine.store.set_memory(job.id, "alert", {"alerting": True, "last_alert_at": alerted_at}, alerted_at)
        await first_pass(engine)
        assert await notices(engine) == [("failure", f"memory:{alerted_at}", [])], "adopted, not told again"
        assert (await engine.store.job_health())[job.id] == "failing"
        assert await engine.store.get_memory(job.id, "alert") is None
        [ok] = await run_to_end(engine, "nightly")
        await first_pass(engine)
        assert [b["alert"] for b in hook.bodies] == [f"✅ nightly recovered: run #{ok.id} succeeded"]
    assert await notices(engine) == [("failure", f"memory:{alerted_at}", [("recovered", SENT, 1)])]
    assert [e for e in await engine.store.open_alert_episodes() if e.kind is AlertKind.FAILURE] == []
    assert (await engine.store.job_health())[job.id] == "ok"
