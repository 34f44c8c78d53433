"""What a run's end tells the alerts, with a fake clock: `short` (a success quicker than --alert-short) and
`degraded` (a success rate under --alert-rate over the last N finished runs), each recovered when it clears,
inherited from `[alerts]` when the job sets none; the job's --alert-on choosing what is routed; the health
every job has from its state and open episodes."""

from __future__ import annotations

from pathlib import Path

from cronui.engine import channels, watching
from cronui.engine.engine import Engine
from cronui.model import Delivery, Job, Run, RunStatus, Trigger
from cronui.model.alerts import AlertDefaults, AlertKind
from cronui.store.sqlite import SQLiteStore
from tests.helpers import make_job, run_to_end

T0 = 1_700_000_000_000


async def _store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "a.db")
    await store.open()
    return store


async def _finish(store: SQLiteStore, job: Job, status: RunStatus, duration_ms: int, at: int) -> Run:
    assert job.id is not None
    run = await store.insert_run(Run(job_id=job.id, trigger=Trigger.MANUAL, scheduled_for=at, queued_at=at))
    assert run is not None and run.id is not None
    await store.write_one(
        "UPDATE runs SET status = ?, started_at = ?, finished_at = ?, duration_ms = ? WHERE id = ?",
        (str(status), at, at + duration_ms, duration_ms, run.id),
    )
    run.status, run.duration_ms, run.finished_at = status, duration_ms, at + duration_ms
    return run


async def _open(store: SQLiteStore) -> list[tuple[str, str]]:
    return [(str(e.kind), e.episode) for e in await store.open_alert_episodes()]


async def test_short_opens_per_quick_success_and_recovers_on_a_normal_one(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    job = await store.create_job(make_job("backup", created_at=T0, alert_short_s=60.0))
    defaults = AlertDefaults()
    assert watching.watched(job, defaults)
    quick = await _finish(store, job, RunStatus.SUCCEEDED, 2_000, T0)
    await watching.after_run(store, job, quick, defaults, T0 + 2_000)
    await watching.after_run(store, job, quick, defaults, T0 + 3_000)  # seen twice: one episode
    assert await _open(store) == [("short", str(quick.id))]
    failed = await _finish(store, job, RunStatus.FAILED, 1_000, T0 + 10_000)
    await watching.after_run(store, job, failed, defaults, T0 + 11_000)  # a failure says nothing of short
    assert await _open(store) == [("short", str(quick.id))]
    normal = await _finish(store, job, RunStatus.SUCCEEDED, 120_000, T0 + 20_000)
    await watching.after_run(store, job, normal, defaults, T0 + 140_000)
    assert await _open(store) == []
    (closed,) = [e for e in await store.open_alert_episodes() if e.kind is AlertKind.SHORT] or [None]
    assert closed is None
    await store.close()


async def test_degraded_weighs_the_last_n_runs_and_recovers(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    job = await store.create_job(make_job("sync", created_at=T0, alert_rate_pct=75.0, alert_rate_n=4))
    defaults = AlertDefaults()
    at = T0
    for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED):
        run = await _finish(store, job, status, 1_000, at)
        await watching.after_run(store, job, run, defaults, at + 1_000)
        at += 60_000
    assert await _open(store) == []  # 3 runs: too few to weigh
    run = await _finish(store, job, RunStatus.FAILED, 1_000, at)
    await watching.after_run(store, job, run, defaults, at + 1_000)
    assert await _open(store) == [("degraded", str(run.id))]  # 2 of 4: 50% < 75%
    at += 60_000
    again = await _finish(store, job, RunStatus.TIMED_OUT, 1_000, at)
    await watching.after_run(store, job, again, defaults, at + 1_000)
    assert await _open(store) == [("degraded", str(run.id))]  # still the same episode
    for _ in range(3):
        at += 60_000
        ok = await _finish(store, job, RunStatus.SUCCEEDED, 1_000, at)
        await watching.after_run(store, job, ok, defaults, at + 1_000)
    assert await _open(store) == []  # 3 of the last 4 succeeded: 75%
    health = await store.job_health()
    assert health[job.id or 0] == "never_ran"  # last_status is the finisher's: these runs were written by hand
    await store.close()


async def test_a_job_without_its_own_inherits_from_alerts(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    job = await store.create_job(make_job("report", created_at=T0))
    assert not watching.watched(job, AlertDefaults())
    defaults = AlertDefaults(short_s=30.0, rate_pct=100.0, rate_n=1)
    assert watching.watched(job, defaults)
    run = await _finish(store, job, RunStatus.SUCCEEDED, 1_000, T0)
    await watching.after_run(store, job, run, defaults, T0 + 1_000)
    assert await _open(store) == [("short", str(run.id))]
    bad = await _finish(store, job, RunStatus.FAILED, 1_000, T0 + 5_000)
    await watching.after_run(store, job, bad, defaults, T0 + 6_000)
    assert sorted(await _open(store)) == [("degraded", str(bad.id)), ("short", str(run.id))]
    job.alert_short_s = 0.5  # the job's own wins over [alerts]
    ok = await _finish(store, job, RunStatus.SUCCEEDED, 1_000, T0 + 9_000)
    await watching.after_run(store, job, ok, defaults, T0 + 10_000)
    assert await _open(store) == []
    await store.close()


def test_alert_on_routes_the_jobs_kinds_over_the_configs() -> None:
    d = {"alert_to": "json://h/x"}
    defaults = AlertDefaults(on=["failure"], to=["mailto://ops@example.com"])
    assert channels.routes(d, "late", "late", defaults) == []
    assert channels.routes(d, "late", "late", defaults, ["late"]) == [("json://h/x", None)]
    assert channels.routes(d, "recovered", "late", defaults, ["late"]) == []  # `recovered` not listed
    assert channels.routes(d, "recovered", "late", defaults, ["late", "recovered"]) == [("json://h/x", None)]
    assert channels.routes({}, "short", "short", AlertDefaults(to=["ntfy://t"])) == [("ntfy://t", None)]
    assert channels.routes({}, "short", "short", AlertDefaults(to=["ntfy://t"]), []) == [("ntfy://t", None)]


async def test_the_finisher_decides_short_and_degraded_and_health_follows(engine: Engine) -> None:
    store = engine.store
    await engine.control.add_job(make_job("quick", alert_short_s=10.0, delivery=Delivery()))
    await engine.control.add_job(make_job("flaky", command="fail", alert_rate_pct=90.0, alert_rate_n=2))
    (quick,) = await run_to_end(engine, "quick")
    await run_to_end(engine, "flaky")
    assert await _open(store) == [("short", str(quick.id))]
    await run_to_end(engine, "flaky")
    await engine.dispatcher.wait_deliveries()
    kinds = sorted(k for k, _ in await _open(store))
    assert kinds == ["degraded", "short"]
    by_name = {j.name: j.id for j in await store.list_jobs()}
    health = await store.job_health()
    assert health[by_name["quick"] or 0] == "ok" and health[by_name["flaky"] or 0] == "failing"


async def test_results_and_failure_alerts_reach_apprise_channels_and_webhooks_alike(engine: Engine) -> None:
    from tests.alert_receivers import JsonReceiver as Receiver

    apprise_side, webhook_side = Receiver(), Receiver()
    try:
        to = f"json://127.0.0.1:{apprise_side.port}/r http://127.0.0.1:{webhook_side.port}/hook"
        delivery = Delivery(mode="always", to=to, format="json", alert_after=1)
        await engine.control.add_job(make_job("report", command="fail", delivery=delivery))
        (run,) = await run_to_end(engine, "report")
        assert run.delivery_status == "delivered"
        assert [b["job"] for b in webhook_side.bodies] == ["report", "report"]  # the result, then the alert
        assert "run_id" in webhook_side.bodies[0] and "alert" in webhook_side.bodies[1]
        said = [b["message"] for b in apprise_side.bodies]
        assert len(said) == 2 and "report" in said[0] and "failed 1 times in a row" in said[1]
    finally:
        apprise_side.server.shutdown()
        webhook_side.server.shutdown()
