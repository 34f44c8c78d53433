"""Counting a schedule's fires instead of walking them, and planning a long outage from the count.

`Schedule.count_between` must equal the number of fires a walk of `next_after` finds (the walk is the
engine's definition of a slot), across daylight-saving transitions, for any cron, interval or one-shot;
cronsim, which follows Debian cron, is a second oracle in UTC. `plan_slots` must plan exactly what
walking every slot planned, while visiting only the newest slots it writes rows for.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from cronsim import CronSim
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cronui.engine.scheduler import MISSED_ROWS_CAP, RUN_ALL_CAP, SlotPlan, plan_slots
from cronui.model import REASON_MISSED, REASON_PAUSED, MisfirePolicy, RunStatus, Trigger
from cronui.schedule import Schedule, ScheduleError, parse
from cronui.schedule.zones import zone_table
from tests.helpers import ms
from tests.unit.test_schedule import _cron_5, _cron_6

DST_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a half-hour change
    "Pacific/Apia",  # skipped a whole day in 2011
    "America/Santiago",  # changes at midnight
    "America/St_Johns",
    "Asia/Tehran",
    "Africa/Casablanca",  # several changes a year
]
EXPRS = [
    "* * * * * *",
    "*/7 * * * * *",
    "30 2 * * *",
    "*/5 1-3 * * *",
    "0 2 * * 0",
    "0 3 * * 5L",
    "15 2,3 * * *",
    "* 2 * * *",
    "0-59 0-23 * * *",  # every minute, but fixed-time (Debian): once in a repeated hour
    "*/20 2 * * * *",
    "0 0 * * *",
    "30 1-3 * * *",
    "0 0,12 1-31 * 1",
    "0 */2 * * *",
    "59 1 * * *",
    "0 0 L * *",
    "0 1 * * 1#2",
    "*/10 * * * * +30s",
    "every 7s",
    "every 90m",
    "@hourly",
]


def walked(sched: Schedule, after: int, upto: int) -> int:
    n, t = 0, sched.next_after(after)
    while t is not None and t <= upto:
        n, t = n + 1, sched.next_after(t)
    return n


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(EXPRS),
    st.sampled_from(DST_ZONES),
    st.integers(2005, 2035),
    st.integers(0, 7),
    st.integers(-30_000_000, 30_000_000),  # ms from the transition
    st.integers(1, 2_000),  # the span, in (about) the schedule's gaps between fires
)
@example("0-59 0-23 * * *", "Europe/Berlin", 2026, 0, -1_800_000, 120)
@example("30 2 * * *", "Europe/Berlin", 2026, 0, -3_600_000, 1)  # 02:30 is skipped: fires at 03:00
@example("30 2 * * *", "Europe/Berlin", 2026, 1, -3_600_000, 1)  # 02:30 twice: fires once
@example("* 2 * * *", "Europe/Berlin", 2026, 1, -7_200_000, 240)  # wildcard: both passes
@example("0 12 * * *", "Pacific/Apia", 2011, 2, -86_400_000 * 2, 4)  # the day that never was
def test_counting_equals_the_walk_near_transitions(expr, tz, year, which, delta, gaps):
    times = zone_table(tz).year(year)[1]
    assume(times)
    start = times[which % len(times)] * 1000 + delta
    sched = parse(expr, tz)
    three = sched.next_n(start, 3)
    upto = start + gaps * max(1000, (three[-1] - start) // 3)
    assert sched.count_between(start, upto) == walked(sched, start, upto)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(_cron_5, _cron_6),
    st.sampled_from(["UTC", "Europe/Berlin", "America/Santiago"]),
    st.integers(ms("2000-01-01T00:00Z"), ms("2040-01-01T00:00Z")),
    st.integers(1, 40),
    st.sampled_from([-1, 0, 1]),
)
def test_counting_equals_the_walk_for_random_cron(expr, tz, start, n, nudge):
    """Any cron expression (L, 5L, 1#2, lists, steps; day-of-month OR day-of-week), up to just before,
    at or just after its n-th fire."""
    try:
        sched = parse(expr, tz)
    except ScheduleError:
        assume(False)
        return
    fires = sched.next_n(start, n)
    assume(fires)
    upto = fires[-1] + nudge
    assert sched.count_between(start, upto) == len(fires) - (nudge < 0) == walked(sched, start, upto)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_cron_5, _cron_6), st.integers(ms("2000-01-01T00:00Z") // 1000, ms("2040-01-01T00:00Z") // 1000))
def test_counting_agrees_with_cronsim_in_utc(expr, start):
    try:
        sched = parse(expr, "UTC")
    except ScheduleError:
        assume(False)
        return
    oracle = CronSim(expr, datetime.fromtimestamp(start, UTC))
    fires = [int(next(oracle).timestamp()) * 1000 for _ in range(30)]
    assert sched.count_between(start * 1000, fires[-1]) == 30
    assert sched.count_between(start * 1000, fires[-1] - 1) == 29


def test_two_months_of_every_second_are_counted_exactly():
    sched = parse("* * * * * *", "Europe/Berlin")
    start = ms("2026-03-01T00:00:00Z")
    days = 58  # across the spring-forward of 29 March: wildcard slots follow real time, none skipped
    assert sched.count_between(start, start + days * 86_400_000) == days * 86_400
    fixed = parse("0 30 2 * * *", "Europe/Berlin")  # 02:30 is skipped on 29 March: it fires at 03:00
    assert fixed.count_between(start, start + days * 86_400_000) == days


# ---------------------------------------------------------------- planning an outage


@dataclass
class DueJob:
    id: int
    next_run_at: int
    misfire: MisfirePolicy
    misfire_grace_s: float


class Counted:
    """A Schedule whose walk is counted: how many times planning asked for the next fire."""

    def __init__(self, sched: Schedule) -> None:
        self.sched = sched
        self.steps = 0

    def next_after(self, t: int) -> int | None:
        self.steps += 1
        return self.sched.next_after(t)

    def count_between(self, a: int, b: int) -> int:
        return self.sched.count_between(a, b)


def walked_plan(job: DueJob, schedule: Schedule, now: int, paused: bool) -> tuple[list[tuple], int | None, int, int]:
    """What planning wrote when it walked every slot (the reference)."""
    keep: deque[int] = deque(maxlen=MISSED_ROWS_CAP + RUN_ALL_CAP + 1)
    slot: int | None = job.next_run_at
    count = 0
    while slot is not None and slot <= now:
        keep.append(slot)
        count += 1
        slot = schedule.next_after(slot)
    slots = list(keep)
    rows: list[tuple] = []
    to_run: list[tuple[int, Trigger]] = []
    if paused:
        rest, reason = slots, REASON_PAUSED
    else:
        reason = REASON_MISSED
        on_time = now - slots[-1] <= job.misfire_grace_s * 1000
        older = slots[:-1] if on_time else slots
        if on_time:
            to_run.append((slots[-1], Trigger.SCHEDULE))
        if job.misfire is MisfirePolicy.RUN_ALL:
            catch = older[-RUN_ALL_CAP:]
            to_run[:0] = [(s, Trigger.CATCHUP) for s in catch]
            rest = older[: len(older) - len(catch)]
        elif job.misfire is MisfirePolicy.RUN_ONCE and not on_time:
            to_run.append((older[-1], Trigger.CATCHUP))
            rest = older[:-1]
        else:
            rest = older
    dropped = count - len(slots)
    individual = rest[-MISSED_ROWS_CAP:]
    summarized = len(rest) - len(individual) + dropped
    if summarized:
        anchor = job.next_run_at if dropped else rest[0]
        rows.append(("skipped", anchor, summarized, f"{reason} ({summarized:,} slots)" if summarized > 1 else reason))
    rows += [("skipped", s, 1, reason) for s in individual]
    rows += [(str(t), s, 1, None) for s, t in to_run]
    return rows, slot, count, len(rest) + dropped


def rows_of(plan: SlotPlan) -> list[tuple]:
    return [
        ("skipped" if r.status is RunStatus.SKIPPED else str(r.trigger), r.scheduled_for, r.missed_count, r.reason)
        for r in plan.runs
    ]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["* * * * * *", "*/3 * * * * *", "* 2 * * *", "0-59 0-23 * * *", "every 2s", "*/10 * * * * +5s"]),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
    st.sampled_from(list(MisfirePolicy)),
    st.sampled_from([0.0, 5.0, 300.0]),
    st.booleans(),
    st.integers(0, 3_000_000),  # the outage, ms: up to 3,000 every-second slots
    st.integers(0, 7),
)
def test_planning_from_the_count_plans_what_walking_every_slot_planned(expr, tz, policy, grace, paused, outage, which):
    sched = parse(expr, tz)
    t = zone_table(tz).year(2026)[1]
    around = (t[which % len(t)] if t else ms("2026-03-29T00:00Z") // 1000) * 1000 - 3_600_000
    first = sched.next_after(around)
    assert first is not None
    job = DueJob(1, first, policy, grace)
    now = first + outage
    counted = Counted(sched)
    plan = plan_slots(job, counted, now, paused=paused)  # type: ignore[arg-type]
    rows, next_run_at, due, missed = walked_plan(job, sched, now, paused)
    assert (rows_of(plan), plan.next_run_at, plan.due, plan.missed) == (rows, next_run_at, due, missed)
    assert counted.steps <= MISSED_ROWS_CAP + RUN_ALL_CAP + 1  # the newest slots only, never the outage


def test_a_58_day_outage_of_an_every_second_job_is_planned_from_the_count():
    sched = parse("* * * * * *", "Europe/Berlin")
    first = ms("2026-02-01T00:00:00Z")
    now = first + 58 * 86_400_000 + 400
    job = DueJob(1, first, MisfirePolicy.RUN_ALL, 300.0)
    counted = Counted(sched)
    plan = plan_slots(job, counted, now)  # type: ignore[arg-type]
    assert counted.steps == MISSED_ROWS_CAP + RUN_ALL_CAP + 1
    assert plan.due == 58 * 86_400 + 1  # exact: every slot from `first` up to now
    assert plan.next_run_at == now - 400 + 1000
    summary, *rest = plan.runs
    assert (summary.scheduled_for, summary.missed_count) == (first, plan.due - MISSED_ROWS_CAP - RUN_ALL_CAP - 1)
    assert summary.reason == f"missed ({summary.missed_count:,} slots)"
    assert [r.trigger for r in rest].count(Trigger.CATCHUP) == RUN_ALL_CAP  # run_all is capped
    assert [r.trigger for r in rest].count(Trigger.SCHEDULE) == MISSED_ROWS_CAP + 1  # 1,000 missed, 1 on time
    assert plan.missed == plan.due - RUN_ALL_CAP - 1
