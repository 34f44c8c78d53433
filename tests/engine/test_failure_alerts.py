"""`--alert-after N` / `--alert-cooldown` as `failure` alert episodes sent through the outbox, on the fake
clock: one alert after N failures in a row, posted right after the run; quiet for the cooldown; a repeat after
it is an episode of its own (the one before closed without a recovery); the next success sends one
"recovered"; an auto-disabled job says so. The texts are those users saw before the outbox."""

from __future__ import annotations

from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.model import Delivery
from cronui.model.alerts import SENT, AlertKind
from tests.alert_receivers import json_receiver
from tests.helpers import make_job, run_to_end

YEARLY = "0 0 1 1 *"  # never due while the test runs: only the runs it starts count


async def failure_episodes(engine: Engine) -> list[tuple[str, bool, list[tuple[str, str]]]]:
    """(episode, open, [(notice, outcome) of its sends]) of every `failure` episode, oldest first."""
    found = await engine.store.list_alert_episodes(100)
    return [
        (e.episode, e.closed_at is None, [(s.notice, s.outcome) for s in sends])
        for e, sends in reversed(found)
        if e.kind is AlertKind.FAILURE
    ]


async def test_failures_in_a_row_are_one_episode_quiet_for_the_cooldown_then_recovered(
    engine: Engine, clock: FakeClock
) -> None:
    with json_receiver() as hook:
        delivery = Delivery(alert_to=f"http://127.0.0.1:{hook.port}/hook", format="json", alert_after=2)
        delivery.alert_cooldown_s = 600
        await engine.control.add_job(make_job("nightly", YEARLY, command="fail", delivery=delivery))
        [first] = await run_to_end(engine, "nightly")
        assert hook.bodies == [] and await failure_episodes(engine) == []
        [second] = await run_to_end(engine, "nightly")
        assert [b["alert"] for b in hook.bodies] == [
            f"🚨 nightly failed 2 times in a row; last: exited with code 1 (run #{second.id})"
        ], "posted right after the run"
        assert hook.bodies[0]["job"] == "nightly"
        assert await failure_episodes(engine) == [(str(second.id), True, [("failure", SENT)])]

        clock.advance(5 * 60)
        await run_to_end(engine, "nightly")
        assert len(hook.bodies) == 1, "quiet for the cooldown"

        clock.advance(6 * 60)
        [fourth] = await run_to_end(engine, "nightly")
        assert hook.bodies[-1]["alert"].startswith("🚨 nightly failed 4 times in a row")
        assert await failure_episodes(engine) == [
            (str(second.id), False, [("failure", SENT)]),  # closed by the repeat, with no recovery
            (str(fourth.id), True, [("failure", SENT)]),
        ]

        job = await engine.control.job("nightly")
        job.target.command = "ok"  # type: ignore[union-attr]
        await engine.control.update_job(job)
        [ok] = await run_to_end(engine, "nightly")
        await run_to_end(engine, "nightly")
        assert [b["alert"] for b in hook.bodies[2:]] == [f"✅ nightly recovered: run #{ok.id} succeeded"]
        assert (await failure_episodes(engine))[-1] == (str(fourth.id), False, [("failure", SENT), ("recovered", SENT)])
        assert first.id is not None
        assert (await engine.store.job_health())[job.id or 0] == "ok"


async def test_an_auto_disabled_job_says_so_through_the_outbox(engine: Engine, settings: Settings) -> None:
    settings.auto_disable_after = 1
    with json_receiver() as hook:
        delivery = Delivery(alert_to=f"http://127.0.0.1:{hook.port}/hook", format="json", alert_after=5)
        await engine.control.add_job(make_job("fragile", command="fail", delivery=delivery))
        [run] = await run_to_end(engine, "fragile")
        [alert] = [b["alert"] for b in hook.bodies]
        assert alert.startswith("⛔ fragile was auto-disabled: 1 consecutive failures")
        assert await failure_episodes(engine) == [(str(run.id), True, [("failure", SENT)])]
