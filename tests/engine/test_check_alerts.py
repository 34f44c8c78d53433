"""A check's grace is its `late` expectation on the fake clock: a slot no ping answered within it opens one
`late` episode (with no --alert-late and no `[alerts] late`), and a ping that comes closes it (`recovered`);
the slot being recorded missed is no recovery. The check's own --alert-late wins over its grace, shorter or
longer."""

from __future__ import annotations

from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.pings import Ping, PingKind
from cronui.model import Job
from cronui.model.alerts import AlertEpisode, AlertKind
from tests.helpers import make_job, ms, run_until


async def add_check(engine: Engine, **kw: object) -> Job:
    return await engine.control.add_job(make_job("backup", "0 * * * *", command="", is_check=True, **kw))


async def lates(engine: Engine, job: Job) -> list[AlertEpisode]:
    """The job's `late` episodes, oldest first, after a pass of the alerts now."""
    if engine._watching is not None:
        await engine._watching
    await engine.watcher.drain_now()
    found = [e for e, _ in await engine.store.list_alert_episodes(job_id=job.id) if e.kind is AlertKind.LATE]
    return sorted(found, key=lambda e: e.id or 0)


async def test_an_unpinged_slot_of_a_check_is_late_once_by_its_grace_and_recovered_by_a_ping(
    engine: Engine, clock: FakeClock
) -> None:
    job = await add_check(engine, grace_s=600)
    await run_until(engine, clock, ms("2026-03-02T09:09:59Z"))
    assert await lates(engine, job) == [], "within its grace the slot waits for its ping"
    await run_until(engine, clock, ms("2026-03-02T09:10:30Z"))
    [late] = await lates(engine, job)
    assert (late.since, late.closed_at) == (ms("2026-03-02T09:00:00Z"), None)
    await run_until(engine, clock, ms("2026-03-02T09:20:00Z"))
    assert [e.id for e in await lates(engine, job)] == [late.id], "one episode for the slot, however many passes"
    clock.set(ms("2026-03-02T09:25:00Z"))
    await engine.control.ping("backup", Ping(PingKind.SUCCESS))
    [closed] = await lates(engine, job)
    assert closed.closed_at == ms("2026-03-02T09:25:00Z"), "a ping recovers it"


async def test_a_checks_own_alert_late_wins_over_its_grace_shorter(engine: Engine, clock: FakeClock) -> None:
    job = await add_check(engine, grace_s=600, alert_late_s=60)
    await run_until(engine, clock, ms("2026-03-02T09:01:30Z"))
    [late] = await lates(engine, job)
    assert late.since == ms("2026-03-02T09:00:00Z")
    await run_until(engine, clock, ms("2026-03-02T09:15:00Z"))  # the slot is recorded missed meanwhile
    [late] = await lates(engine, job)
    assert late.closed_at is None, "a slot recorded missed has not recovered"


async def test_a_checks_own_alert_late_wins_over_its_grace_longer(engine: Engine, clock: FakeClock) -> None:
    job = await add_check(engine, grace_s=300, alert_late_s=1800)
    await run_until(engine, clock, ms("2026-03-02T09:20:00Z"))
    assert await lates(engine, job) == [], "missed after its grace, but not late before its own span"
    await run_until(engine, clock, ms("2026-03-02T09:30:30Z"))
    [late] = await lates(engine, job)
    assert (late.since, late.closed_at) == (ms("2026-03-02T09:00:00Z"), None)


async def test_a_ping_after_the_grace_but_before_the_late_span_means_no_late(engine: Engine, clock: FakeClock) -> None:
    job = await add_check(engine, grace_s=300, alert_late_s=1800)
    await run_until(engine, clock, ms("2026-03-02T09:10:00Z"))
    await engine.control.ping("backup", Ping(PingKind.SUCCESS))  # late, recorded as history only
    await run_until(engine, clock, ms("2026-03-02T09:45:00Z"))
    assert await lates(engine, job) == []


async def test_a_job_cronui_runs_has_no_late_from_a_grace(engine: Engine, clock: FakeClock) -> None:
    job = await engine.control.add_job(make_job("nightly", "0 * * * *", command="ok"))
    clock.set(ms("2026-03-02T10:30:00Z"))  # its slot long past, and no scheduler wrote it
    assert await lates(engine, job) == [], "no --alert-late, no [alerts] late: nothing is late"
