"""Several schedules per job, a start/end window, and DST notes on fires: over a year of schedule in
Europe/Berlin and America/New_York, with instants computed (no sleeping, no wall clock)."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cronui.engine.scheduler import plan_slots
from cronui.model import MisfirePolicy, RunStatus
from cronui.model.records import DueJob
from cronui.schedule import ScheduleError, parse
from cronui.schedule.dst import next_fires
from cronui.schedule.multi import job_schedule, join_specs, normalize, split_specs
from cronui.schedule.window import format_time, parse_time, window_state
from tests.helpers import ms

YEAR_START, YEAR_END = ms("2026-01-01T00:00:00Z"), ms("2027-01-01T00:00:00Z")


def walk(schedule, start: int, end: int) -> list[int]:
    out, t = [], start
    while (t := schedule.next_after(t)) is not None and t <= end:
        out.append(t)
    return out


def local(t: int, tz: str) -> str:
    return datetime.fromtimestamp(t / 1000, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M%z")


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_several_schedules_fire_at_the_union_of_their_fires_once_per_instant_over_a_year(tz):
    specs = ["0 9 * * 1-5", "0 11 * * 0,6", "0 9 * * 1", "30 2 * * *", "30 * * * 6", "every 6h"]
    union = parse(join_specs(specs), tz)
    fires = walk(union, YEAR_START, YEAR_END)
    expected = sorted({t for s in specs for t in walk(parse(s, tz), YEAR_START, YEAR_END)})
    assert fires == expected
    assert len(fires) == len(set(fires))  # "0 9 * * 1" meets "0 9 * * 1-5" every Monday: one slot
    per_spec = sum(len(walk(parse(s, tz), YEAR_START, YEAR_END)) for s in specs)
    assert per_spec - len(fires) >= 52  # the Mondays (and the Saturdays' 02:30 shared by two specs)
    march = [t for t in fires if ms("2026-03-01T00:00:00Z") < t <= ms("2026-04-01T00:00:00Z")]
    assert union.count_between(ms("2026-03-01T00:00:00Z"), ms("2026-04-01T00:00:00Z")) == len(march)
    # more fires than are walked (UNION_WALK_CAP): each schedule's count added, an instant shared counted twice
    assert union.count_between(YEAR_START, YEAR_END) == per_spec
    assert union.next_n(YEAR_START, 3) == fires[:3]


def test_a_union_through_both_clock_changes_in_berlin():
    """A fixed 02:30 job and an hourly-at-:30 one: in the gap the fixed one moves to 03:00 and the hourly one
    skips 02:30; in the repeated hour the fixed one fires once (the first pass) and the hourly one twice,
    their shared first-pass 02:30 one slot."""
    tz = "Europe/Berlin"
    union = parse(join_specs(["30 2 * * *", "30 * * * *"]), tz)
    spring = [local(t, tz) for t in walk(union, ms("2026-03-29T00:00:00Z"), ms("2026-03-29T03:00:00Z"))]
    assert spring == [
        "2026-03-29 01:30+0100",
        "2026-03-29 03:00+0200",
        "2026-03-29 03:30+0200",
        "2026-03-29 04:30+0200",
    ]
    fall = [local(t, tz) for t in walk(union, ms("2026-10-24T23:00:00Z"), ms("2026-10-25T02:30:00Z"))]
    assert fall == [
        "2026-10-25 01:30+0200",
        "2026-10-25 02:30+0200",
        "2026-10-25 02:30+0100",
        "2026-10-25 03:30+0100",
    ]


def test_the_stored_text_is_one_string_for_one_schedule_and_a_json_list_for_several():
    assert normalize(["0  9 * * *"], "UTC") == "0 9 * * *"
    text = normalize(["0 9 * * 1-5", "@daily", "0 9 * * 1-5"], "UTC")
    assert json.loads(text) == ["0 9 * * 1-5", "@daily"]  # normalized, the repeat dropped
    assert split_specs(text) == ["0 9 * * 1-5", "@daily"]
    assert parse(text, "UTC").describe() == "At 09:00, Monday through Friday; Every day at 00:00"


def test_a_reader_of_single_schedules_refuses_a_list_instead_of_reading_part_of_it():
    from cronui.schedule.plan import parse as parse_single  # what a cronui before lists reads with

    for specs in (["0 9 * * 1-5", "0 11 * * 0,6"], ["@daily", "@hourly"], ["every 15m", "0 9 * * *"]):
        with pytest.raises(ScheduleError):
            parse_single(join_specs(specs), "UTC")


@pytest.mark.parametrize(
    ("specs", "problem"),
    [
        (["0 9 * * *", "at 2026-12-24T09:00"], "runs once"),
        (["0 9 * * *", "61 * * * *"], "61"),
        ([], "no schedule"),
    ],
)
def test_bad_lists_are_refused_naming_the_problem(specs, problem):
    with pytest.raises(ScheduleError, match=problem):
        normalize(specs, "UTC")


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_no_fire_falls_outside_the_window_over_a_year(tz):
    starts, ends = parse_time("2026-03-01T09:00", tz), parse_time("2026-11-15", tz)
    bounded = parse(join_specs(["0 9 * * *", "30 2 * * *"]), tz, starts_ms=starts, ends_ms=ends)
    fires = walk(bounded, YEAR_START, YEAR_END)
    unbounded = walk(parse(join_specs(["0 9 * * *", "30 2 * * *"]), tz), YEAR_START, YEAR_END)
    assert fires == [t for t in unbounded if starts <= t <= ends]
    assert fires[0] == starts  # 09:00 on the first day is inside: the start is inclusive
    assert bounded.next_after(ends) is None and bounded.next_after(YEAR_END) is None
    assert bounded.count_between(YEAR_START, YEAR_END) == len(fires)
    single = parse("0 9 * * *", tz, starts_ms=starts, ends_ms=ends)
    assert single.count_between(YEAR_START, YEAR_END) == len(walk(single, YEAR_START, YEAR_END))


def test_planning_over_a_year_makes_one_run_per_slot_only_inside_the_window():
    """The engine's planning step, run at every fire of a year (as the scheduler wakes), with a job of two
    schedules that meet and a window: each slot once, none outside, nothing after the end."""
    tz = "America/New_York"
    job = DueJob(1, "j", join_specs(["0 9 * * 1-5", "0 9 * * 1", "0 11 * * 0,6"]), tz, 0, MisfirePolicy.SKIP, 300.0)
    job.starts_at, job.ends_at = parse_time("2026-02-01", tz), parse_time("2026-12-01", tz)
    schedule = job_schedule(job)
    job.next_run_at = schedule.next_after(YEAR_START)
    slots: list[int] = []
    while job.next_run_at is not None:
        plan = plan_slots(job, schedule, job.next_run_at)
        assert all(r.status is RunStatus.PENDING for r in plan.runs)
        slots += [r.scheduled_for for r in plan.runs]
        job.next_run_at = plan.next_run_at
    assert len(slots) == len(set(slots))
    assert slots[0] >= job.starts_at and slots[-1] <= job.ends_at
    assert len(slots) == schedule.count_between(YEAR_START, YEAR_END) == 303  # Feb..Nov: 213 weekdays, 90 weekend


def test_window_times_read_in_the_zone_and_write_back_the_same():
    tz = "Europe/Berlin"
    assert parse_time("2026-04-01", tz) == ms("2026-03-31T22:00:00Z")
    assert parse_time("2026-04-01 09:30:15", tz) == ms("2026-04-01T07:30:15Z")
    assert parse_time("2026-04-01T09:30Z", tz) == ms("2026-04-01T09:30:00Z")
    assert parse_time("2026-03-29T02:30", tz) == ms("2026-03-29T01:00:00Z")  # in the gap: its end
    first, second = ms("2026-10-25T00:30:00Z"), ms("2026-10-25T01:30:00Z")  # 02:30 twice
    assert format_time(first, tz) == "2026-10-25T02:30"
    assert format_time(second, tz) == "2026-10-25T02:30+01:00"
    assert [parse_time(format_time(t, tz), tz) for t in (first, second)] == [first, second]
    for bad in ("tomorrow", "2026-13-01", "2026-02-30T09:00"):
        with pytest.raises(ScheduleError, match="starts"):
            parse_time(bad, tz, "starts")


def test_the_window_in_words():
    day = 86_400_000
    now = ms("2026-06-01T00:00:00Z")
    assert window_state(None, now + 3 * day, now) == "ends in 3 days"
    assert window_state(now + 2 * 3_600_000, now + 3 * day, now) == "starts in 2 hours"
    assert window_state(None, now - day, now) == "ended 1 day ago"
    assert window_state(now - 5 * day, None, now) == "started 5 days ago"
    assert window_state(None, None, now) is None


def notes_over_year(expr: str, tz: str) -> list[tuple[str, str]]:
    schedule = parse(expr, tz)
    fires = walk(schedule, YEAR_START, YEAR_END)
    return [(local(t, tz), note) for t, note in next_fires(schedule, YEAR_START, len(fires)) if note]


def test_dst_notes_for_a_fixed_time_job_over_a_year():
    assert notes_over_year("30 2 * * *", "Europe/Berlin") == [
        ("2026-03-29 03:00+0200", "02:30 does not exist on 29 Mar: moved"),
        ("2026-10-25 02:30+0200", "02:30 repeats on 25 Oct: runs once"),
    ]
    assert notes_over_year("0 2 * * *", "America/New_York") == [
        ("2026-03-08 03:00-0400", "02:00 does not exist on 8 Mar: moved"),
    ]
    assert notes_over_year("30 1 * * *", "America/New_York") == [
        ("2026-11-01 01:30-0400", "01:30 repeats on 1 Nov: runs once"),
    ]
    assert notes_over_year("0 9 * * 1-5", "Europe/Berlin") == []


def test_dst_notes_for_a_job_that_follows_real_time():
    notes = notes_over_year("*/30 * * * *", "Europe/Berlin")
    assert notes == [
        ("2026-03-29 03:00+0200", "2 fires from 02:00 do not exist on 29 Mar: skipped"),
        ("2026-10-25 02:00+0200", "02:00 repeats on 25 Oct: runs in both passes"),
        ("2026-10-25 02:30+0200", "02:30 repeats on 25 Oct: runs in both passes"),
        ("2026-10-25 02:00+0100", "02:00 again: clocks go back on 25 Oct"),
        ("2026-10-25 02:30+0100", "02:30 again: clocks go back on 25 Oct"),
    ]


def test_dst_notes_of_several_schedules_come_from_the_one_that_fires():
    tz = "Europe/Berlin"
    union = parse(join_specs(["0 9 * * *", "30 2 * * 0"]), tz)  # 29 Mar 2026 is a Sunday
    fires = next_fires(union, ms("2026-03-28T12:00:00Z"), 3)
    assert [(local(t, tz), n) for t, n in fires] == [
        ("2026-03-29 03:00+0200", "02:30 does not exist on 29 Mar: moved"),
        ("2026-03-29 09:00+0200", None),
        ("2026-03-30 09:00+0200", None),
    ]
