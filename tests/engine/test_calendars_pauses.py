"""Calendars and timed pauses over a year of schedule on the fake clock, across DST changes: a country's
public holidays skipped, a range skipped, a job kept to listed days, a job paused for 2h resuming by
itself, and the whole scheduler paused for 30 minutes. Held slots are recorded skipped with the reason."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import holidays

from cronui.application.context import Cronui
from cronui.application.pauses import pause_job, pause_scheduler, resume_job
from cronui.model import EventKind, OverlapPolicy, RunStatus
from cronui.model.records import RunFilter
from cronui.schedule.calendars import parse_calendar
from tests.helpers import make_job, ms, run_until, settle

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


async def runs_of(store, job_id: int):
    return await store.list_runs(RunFilter(job_id=job_id, limit=5000))


def local_days(runs, zone: ZoneInfo, status: RunStatus) -> list[dt.date]:
    return sorted(dt.datetime.fromtimestamp(r.scheduled_for / 1000, zone).date() for r in runs if r.status is status)


async def test_public_holidays_are_skipped_for_a_year_across_dst(engine, clock, store, settings):
    settings.calendars["de"] = parse_calendar({"holidays": "DE", "subdiv": "BY"})
    clock.set(ms("2026-12-31T12:00:00Z"))
    job = await engine.control.add_job(make_job("report", "0 9 * * *", timezone="Europe/Berlin", skip_calendar=["de"]))
    await run_until(engine, clock, ms("2027-12-31T12:00:00Z"))
    runs = await runs_of(store, job.id)
    public = sorted(d for d in holidays.country_holidays("DE", subdiv="BY", years=2027) if d.year == 2027)
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    assert {r.reason for r in skipped} == {"calendar"}
    assert local_days(runs, BERLIN, RunStatus.SKIPPED) == public
    assert dt.date(2027, 3, 29) in public  # Easter Monday, the day after the spring DST change
    ran = local_days(runs, BERLIN, RunStatus.SUCCEEDED)
    assert len(ran) == 365 - len(public) and not set(ran) & set(public)
    # every run at 09:00 Berlin time, in winter (UTC+1) and summer (UTC+2)
    assert {dt.datetime.fromtimestamp(r.scheduled_for / 1000, BERLIN).hour for r in runs} == {9}


async def test_a_range_is_skipped_by_the_jobs_own_local_date(engine, clock, store, settings):
    # 23:30 in New York is the next day in UTC: the range is judged in the job's zone
    settings.calendars["freeze"] = parse_calendar({"ranges": [["2027-12-24", "2027-12-26"]], "dates": ["2027-03-14"]})
    clock.set(ms("2027-01-01T12:00:00Z"))
    job = await engine.control.add_job(
        make_job("nightly", "30 23 * * *", timezone="America/New_York", skip_calendar=["freeze"])
    )
    await run_until(engine, clock, ms("2028-01-01T12:00:00Z"))
    runs = await runs_of(store, job.id)
    assert local_days(runs, NEW_YORK, RunStatus.SKIPPED) == [
        dt.date(2027, 3, 14),  # the spring DST change in New York
        dt.date(2027, 12, 24),
        dt.date(2027, 12, 25),
        dt.date(2027, 12, 26),
    ]
    assert len(local_days(runs, NEW_YORK, RunStatus.SUCCEEDED)) == 365 - 4


async def test_an_only_calendar_job_fires_only_on_its_days(engine, clock, store, settings):
    settings.calendars["closing"] = parse_calendar({"dates": ["2027-01-29", "2027-10-31", "2027-11-07"]})
    clock.set(ms("2027-01-01T00:00:00Z"))
    job = await engine.control.add_job(
        make_job("close", "0 18 * * *", timezone="America/New_York", only_calendar=["closing"])
    )
    await run_until(engine, clock, ms("2028-01-01T00:00:00Z"))
    runs = await runs_of(store, job.id)
    assert local_days(runs, NEW_YORK, RunStatus.SUCCEEDED) == [
        dt.date(2027, 1, 29),
        dt.date(2027, 10, 31),
        dt.date(2027, 11, 7),  # the autumn DST change in New York
    ]
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    assert len(skipped) == 365 - 3 and {r.reason for r in skipped} == {"calendar"}


async def test_a_job_paused_for_2h_resumes_by_itself(engine, clock, store, settings):
    app = Cronui(settings, store, engine.control, clock)
    clock.set(ms("2027-03-28T00:30:00Z"))  # the night Europe/Berlin springs forward (01:00 UTC)
    job = await engine.control.add_job(make_job("hourly", "0 * * * *", timezone="Europe/Berlin"))
    paused = await pause_job(app, "hourly", "2h")
    assert paused.paused_until == ms("2027-03-28T02:30:00Z")
    await run_until(engine, clock, ms("2027-03-28T05:30:00Z"))
    runs = sorted(await runs_of(store, job.id), key=lambda r: r.scheduled_for)
    assert [(r.scheduled_for, r.status, r.reason) for r in runs] == [
        (ms("2027-03-28T01:00:00Z"), RunStatus.SKIPPED, "paused"),
        (ms("2027-03-28T02:00:00Z"), RunStatus.SKIPPED, "paused"),
        (ms("2027-03-28T03:00:00Z"), RunStatus.SUCCEEDED, None),
        (ms("2027-03-28T04:00:00Z"), RunStatus.SUCCEEDED, None),
        (ms("2027-03-28T05:00:00Z"), RunStatus.SUCCEEDED, None),
    ]
    # an edit keeps the pause; resume ends it at once
    await pause_job(app, "hourly", until="2027-03-28T09:00")
    edited = await engine.control.job("hourly")
    edited.description = "edited"
    await engine.control.update_job(edited)
    assert (await engine.control.job("hourly")).paused_until == ms("2027-03-28T07:00:00Z")  # 09:00 CEST
    assert (await resume_job(app, "hourly")).paused_until is None
    await run_until(engine, clock, ms("2027-03-28T06:30:00Z"))
    assert (await runs_of(store, job.id))[0].status is RunStatus.SUCCEEDED


async def test_the_scheduler_paused_for_30m_resumes_by_itself_at_its_end(engine, clock, store, settings):
    app = Cronui(settings, store, engine.control, clock)
    clock.set(ms("2027-11-07T05:50:00Z"))  # New York falls back at 06:00 UTC
    job = await engine.control.add_job(
        make_job("tick", "*/10 * * * *", timezone="America/New_York", overlap=OverlapPolicy.ALLOW)
    )
    end = await pause_scheduler(app, "30m")
    assert end == ms("2027-11-07T06:20:00Z") and await engine.control.paused()
    manual = await engine.control.trigger("tick")
    wake = await settle(engine)
    assert wake == ms("2027-11-07T06:00:00Z")
    clock.set(ms("2027-11-07T06:10:00Z"))
    wake = await settle(engine)
    assert wake == ms("2027-11-07T06:20:00Z")  # the pause's end, also a slot
    clock.set(ms("2027-11-07T06:15:00Z"))
    assert await settle(engine) == end  # woken at the pause's end, not only at the next slot
    clock.set(end)
    await settle(engine)
    assert not await engine.control.paused() and await store.get_state("paused") is None
    assert (await store.get_run(manual.id)).status is RunStatus.SUCCEEDED
    await run_until(engine, clock, ms("2027-11-07T06:40:00Z"))
    runs = sorted(await runs_of(store, job.id), key=lambda r: r.scheduled_for)
    by_slot = [(r.scheduled_for, r.status, r.reason) for r in runs if r.id != manual.id]
    assert by_slot == [
        (ms("2027-11-07T06:00:00Z"), RunStatus.SKIPPED, "paused"),
        (ms("2027-11-07T06:10:00Z"), RunStatus.SKIPPED, "paused"),
        (ms("2027-11-07T06:20:00Z"), RunStatus.SUCCEEDED, None),
        (ms("2027-11-07T06:30:00Z"), RunStatus.SUCCEEDED, None),
        (ms("2027-11-07T06:40:00Z"), RunStatus.SUCCEEDED, None),
    ]
    events = await store.events_since(0)
    assert [e.data.get("by") for e in events if e.kind is EventKind.RESUMED] == ["time"]
