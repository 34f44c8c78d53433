"""A check's pings tell its alerts what a run's end does, on the fake clock: failed pings open one `failure`
episode after --alert-after of them in a row (quiet for the cooldown), the next success closes it
(`recovered`); an end ping closing a start counts alike; --alert-short weighs the duration `cronui exec`
measured; a check with nowhere to send alerts opens no failure episode."""

from __future__ import annotations

from cronui.engine.alerts import RECOVERED_TEXT
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.pings import Ping, PingKind, ping_from_exit
from cronui.model import Job
from cronui.model.alerts import AlertEpisode, AlertKind
from cronui.targets import Delivery
from tests.helpers import make_job, ms

HOOK = "json://127.0.0.1:9/alerts"


async def add_check(engine: Engine, **kw: object) -> Job:
    return await engine.control.add_job(make_job("backup", "0 * * * *", command="", is_check=True, **kw))


async def episodes(engine: Engine, job: Job, kind: AlertKind) -> list[AlertEpisode]:
    found = [e for e, _ in await engine.store.list_alert_episodes(job_id=job.id) if e.kind is kind]
    return sorted(found, key=lambda e: e.id or 0)


async def test_failed_pings_open_one_failure_episode_after_n_and_a_success_recovers_it(
    engine: Engine, clock: FakeClock
) -> None:
    job = await add_check(engine, delivery=Delivery(alert_to=HOOK, alert_after=2))
    clock.set(ms("2026-03-02T09:00:10Z"))
    await engine.control.ping("backup", Ping(PingKind.FAIL, message="disk full"))
    assert await episodes(engine, job, AlertKind.FAILURE) == [], "one failure of two"
    clock.set(ms("2026-03-02T10:00:10Z"))
    second = await engine.control.ping("backup", Ping(PingKind.FAIL, message="disk full"))
    [failure] = await episodes(engine, job, AlertKind.FAILURE)
    assert failure.closed_at is None and failure.episode == str(second.id)
    assert failure.text == f"🚨 backup failed 2 times in a row; last: disk full (run #{second.id})"
    clock.set(ms("2026-03-02T10:00:20Z"))
    await engine.control.ping("backup", Ping(PingKind.FAIL))
    assert [e.id for e in await episodes(engine, job, AlertKind.FAILURE)] == [failure.id], "quiet in its cooldown"
    clock.set(ms("2026-03-02T10:00:30Z"))
    ok = await engine.control.ping("backup", Ping(PingKind.SUCCESS))
    [closed] = await episodes(engine, job, AlertKind.FAILURE)
    assert closed.closed_at == ms("2026-03-02T10:00:30Z")
    assert closed.data[RECOVERED_TEXT] == f"✅ backup recovered: run #{ok.id} succeeded"


async def test_an_end_ping_closing_a_start_counts_as_the_runs_end(engine: Engine, clock: FakeClock) -> None:
    job = await add_check(engine, delivery=Delivery(alert_to=HOOK, alert_after=1))
    clock.set(ms("2026-03-02T09:00:05Z"))
    start = await engine.control.ping("backup", Ping(PingKind.START))
    assert await episodes(engine, job, AlertKind.FAILURE) == [], "a start is no end"
    clock.set(ms("2026-03-02T09:00:45Z"))
    end = await engine.control.ping("backup", ping_from_exit(4))
    assert end.id == start.id
    [failure] = await episodes(engine, job, AlertKind.FAILURE)
    assert failure.episode == str(start.id) and "failed 1 times in a row" in failure.text


async def test_a_check_with_no_channel_opens_no_failure_episode(engine: Engine, clock: FakeClock) -> None:
    job = await add_check(engine, delivery=Delivery(alert_after=1))
    clock.set(ms("2026-03-02T09:00:05Z"))
    await engine.control.ping("backup", Ping(PingKind.FAIL))
    assert await episodes(engine, job, AlertKind.FAILURE) == []


async def test_a_short_success_reported_by_exec_is_short(engine: Engine, clock: FakeClock) -> None:
    job = await add_check(engine, alert_short_s=60)
    clock.set(ms("2026-03-02T09:00:05Z"))
    quick = await engine.control.ping("backup", Ping(PingKind.SUCCESS, exit_code=0, duration_ms=2_000))
    [short] = await episodes(engine, job, AlertKind.SHORT)
    assert short.episode == str(quick.id) and short.closed_at is None
    clock.set(ms("2026-03-02T10:00:05Z"))
    await engine.control.ping("backup", Ping(PingKind.SUCCESS, exit_code=0, duration_ms=300_000))
    [short] = await episodes(engine, job, AlertKind.SHORT)
    assert short.closed_at == ms("2026-03-02T10:00:05Z"), "a run of the usual length recovers it"
