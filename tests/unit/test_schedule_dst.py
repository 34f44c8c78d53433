"""Cron across daylight-saving transitions, checked against cronsim (which follows Debian cron).

Fixed-time expressions are compared over four whole years; wildcard (minute-level) ones over the days
around each transition. One class of disagreement is known and is not ours: for wildcard jobs in zones
whose transitions are not whole wall-clock hours (Australia/Lord_Howe shifts by 30 minutes,
Pacific/Chatham changes at 02:45/03:45), cronsim jumps over real matching minutes. There the expected
instants come from a minute-by-minute walk of real time (what a wildcard job means), cronsim's answers
must be a subset of ours, and explicit cases below pin the instants down. Two more cronsim quirks are
pinned by explicit cases only: a wildcard day that starts in a midnight gap (America/Santiago), and a
start inside the second pass of a repeated hour (cronsim then returns a slot before the start).
"""

from __future__ import annotations

import functools
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cronui.schedule import parse


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def iso(instant_ms: int) -> str:
    return datetime.fromtimestamp(instant_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


START = ms("2024-01-01T00:00Z") // 1000
END = ms("2028-01-01T00:00Z") // 1000

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",  # southern hemisphere
    "Australia/Lord_Howe",  # 30-minute shift
    "Pacific/Chatham",  # UTC+12:45 / +13:45, changes at 02:45 and 03:45
    "America/Santiago",  # changes at midnight
    "Asia/Kolkata",  # no DST, half-hour offset
    "UTC",
]

# fixed-time jobs (neither minute nor hour starts with '*'), compared over four whole years
FIXED = [
    "30 2 * * *",
    "0 1-3 * * *",
    "0 8-18/2 * * *",
    "15 1 * * *",
    "45 2 * * 0",
    "0,30 2 * * *",
    "45 1 * * *",
    "0 3 * * *",
    "0 0 * * *",
    "30 23 * * *",
    "0 2 1-7 * 0",  # day-of-month OR day-of-week
    "30 2 */2 * 0",  # '*/2' makes it AND
]

# wildcard jobs, compared on the days around each transition
WILDCARD = [
    "0 * * * *",
    "*/15 * * * *",
    "30 * * * *",
    "45 * * * *",
    "* 2 * * *",
    "* 0 * * *",
    "*/20 1-3 * * *",
    "0 */2 1-7 * 0",
]

CRONSIM_SKIPS_REAL_TIME = {"Australia/Lord_Howe", "Pacific/Chatham"}

TALLY: Counter[str] = Counter()


def cronui_fires(expr: str, tz: str, a: int, b: int) -> list[int]:
    """Fire instants (UTC seconds) in (a, b], walking next_after from each previous slot."""
    sched = parse(expr, tz)
    out: list[int] = []
    current: int | None = a * 1000
    while True:
        current = sched.next_after(current)
        if current is None or current > b * 1000:
            return out
        assert current % 1000 == 0
        out.append(current // 1000)


def cronsim_fires(expr: str, tz: str, a: int, b: int) -> list[int]:
    """cronsim's instants in (a, b]. It yields aware datetimes; a second pass carries fold=1 (wildcard
    jobs) and fixed-time jobs get fold=0, so .timestamp() gives the right instant either way."""
    out: list[int] = []
    for dt in CronSim(expr, datetime.fromtimestamp(a, ZoneInfo(tz))):
        s = int(dt.timestamp())
        if s > b:
            return out
        out.append(s)
    return out


def real_time_fires(expr: str, tz: str, a: int, b: int) -> list[int]:
    """Every real minute in (a, b] whose wall-clock time matches: what a wildcard job means."""
    zone = ZoneInfo(tz)
    fields = CronSim(expr, datetime(2000, 1, 1))  # only its parsed fields are used
    out: list[int] = []
    for s in range(a - a % 60 + 60, b + 1, 60):
        wall = datetime.fromtimestamp(s, zone)
        if (
            wall.minute in fields.minutes
            and wall.hour in fields.hours
            and wall.month in fields.months
            and fields.match_day(wall.date())
        ):
            out.append(s)
    return out


DIFFERING_ZONES: set[str] = set()


def record(tz: str, theirs: list[int], ours: list[int]) -> None:
    TALLY["compared"] += len(set(theirs) | set(ours))
    TALLY["agreed"] += len(set(theirs) & set(ours))
    if set(theirs) != set(ours):
        DIFFERING_ZONES.add(tz)


@functools.cache
def transitions(tz: str) -> list[int]:
    """UTC-offset changes in [START, END), to the hour, found independently of cronui."""
    zone = ZoneInfo(tz)
    found = []
    before = datetime.fromtimestamp(START, zone).utcoffset()
    for s in range(START, END, 3600):
        now = datetime.fromtimestamp(s, zone).utcoffset()
        if now != before:
            found.append(s)
            before = now
    return found


# ---------------------------------------------------------------- against cronsim


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("expr", FIXED)
def test_fixed_time_jobs_match_cronsim_for_four_years(expr: str, tz: str) -> None:
    ours = cronui_fires(expr, tz, START, END)
    theirs = cronsim_fires(expr, tz, START, END)
    record(tz, theirs, ours)
    assert [iso(s * 1000) for s in ours] == [iso(s * 1000) for s in theirs]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("expr", WILDCARD)
def test_wildcard_jobs_around_transitions(expr: str, tz: str) -> None:
    windows = [(t - 36 * 3600, t + 36 * 3600) for t in transitions(tz)] or [(START, START + 7 * 86400)]
    for a, b in windows:
        ours = cronui_fires(expr, tz, a, b)
        theirs = cronsim_fires(expr, tz, a, b)
        record(tz, theirs, ours)
        if tz in CRONSIM_SKIPS_REAL_TIME:
            assert set(theirs) <= set(ours)
            assert ours == real_time_fires(expr, tz, a, b)
        else:
            assert [iso(s * 1000) for s in ours] == [iso(s * 1000) for s in theirs]


@pytest.mark.parametrize("tz", [z for z in ZONES if z not in ("UTC", "Asia/Kolkata")])
@pytest.mark.parametrize("expr", ["30 2 * * *", "0,30 2 * * *", "0 1-3 * * *", "45 1 * * *", "0 * * * *", "* 2 * * *"])
def test_restarting_anywhere_near_a_transition_gives_the_same_next_fire(expr: str, tz: str) -> None:
    """next_after(t) must be the first slot of the uninterrupted walk after t, wherever t is: before,
    inside the repeated hour (either pass) or after; so a restart never re-runs or skips a slot."""
    sched = parse(expr, tz)
    for t in transitions(tz)[:4]:
        a, b = t - 6 * 3600, t + 30 * 3600
        walk = cronui_fires(expr, tz, a, b)
        for probe in range(a, t + 6 * 3600, 300):
            expected = next(s for s in walk if s > probe)
            assert sched.next_after(probe * 1000 + 1) == expected * 1000, iso(probe * 1000)


_FIXED_TIME = st.tuples(
    st.sampled_from(["0", "30", "15", "45", "0,30", "5-10", "59"]),
    st.sampled_from(["0", "1", "2", "3", "1-3", "0,2", "23", "22-23", "2/3", "0-4"]),
    st.sampled_from(["*", "*", "1-7", "*/2", "L", "15"]),
    st.sampled_from(["*", "3,4,9,10,11", "*/2"]),
    st.sampled_from(["*", "*", "0", "6", "1-5", "0#1", "6L", "*/2"]),
).map(" ".join)
_WILDCARD = st.tuples(
    st.sampled_from(["*", "*/15", "*/7", "0", "30", "45", "0,30"]),
    st.sampled_from(["*", "*/2", "*/3", "0", "1", "2", "23", "0-3"]),
    st.sampled_from(["*", "*", "*/2", "1-7"]),
    st.sampled_from(["*", "*"]),
    st.sampled_from(["*", "*", "0", "6", "1-5", "*/2"]),
).map(lambda f: " ".join(f) if f[0].startswith("*") or f[1].startswith("*") else "* " + " ".join(f[1:]))
_DST_ZONES = [z for z in ZONES if z not in ("UTC", "Asia/Kolkata")] + ["America/Havana", "Europe/London"]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(_FIXED_TIME, _WILDCARD),
    st.sampled_from(_DST_ZONES),
    st.integers(0, 7),
    st.integers(-2 * 86400, 3 * 3600),
)
@example("1 0 * * *", "America/Havana", 1, 0)  # starts in the second pass: cronsim returns the past
@example("* 1 * * 0", "America/Santiago", 1, -16 * 3600)  # a Sunday whose midnight is skipped
@example("0 */2 7 9 *", "America/Santiago", 3, -16 * 3600)
def test_random_expressions_near_transitions(expr: str, tz: str, which: int, delta: int) -> None:
    """Fixed-time jobs against cronsim, wildcard jobs against the minute-by-minute walk of real time,
    from a start anywhere from two days before a transition to three hours after it."""
    t = transitions(tz)[which]
    start = t + delta
    ours = parse(expr, tz).next_n(start * 1000, 6)
    assert len(ours) == 6 and ours[0] > start * 1000
    if expr.split()[0].startswith("*") or expr.split()[1].startswith("*"):
        end = min(ours[-1] // 1000, start + 3 * 86400)
        assert [s // 1000 for s in ours if s <= end * 1000] == real_time_fires(expr, tz, start, end)
        return
    oracle = CronSim(expr, datetime.fromtimestamp(start, ZoneInfo(tz)))
    theirs = [int(next(oracle).timestamp()) * 1000 for _ in range(6)]
    if theirs[0] <= start * 1000:  # started in a second pass: cronsim returns the past (pinned above)
        return
    record(tz, theirs, ours)
    assert [iso(x) for x in ours] == [iso(x) for x in theirs]


# ---------------------------------------------------------------- explicit cases


def fires(expr: str, tz: str, start: str, end: str) -> list[str]:
    return [iso(s * 1000) for s in cronui_fires(expr, tz, ms(start) // 1000, ms(end) // 1000)]


def test_berlin_spring_forward_fixed_time_fires_once_at_the_end_of_the_gap() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z; 02:30 does not exist
    assert fires("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00Z", "2026-03-30T12:00Z") == [
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:30:00Z",
    ]
    # two gap slots and the 03:00 slot collapse into one fire
    assert fires("0,30 2 * * *", "Europe/Berlin", "2026-03-28T12:00Z", "2026-03-29T12:00Z") == ["2026-03-29T01:00:00Z"]
    assert fires("0 1-3 * * *", "Europe/Berlin", "2026-03-28T12:00Z", "2026-03-29T12:00Z") == [
        "2026-03-29T00:00:00Z",
        "2026-03-29T01:00:00Z",
    ]


def test_berlin_fall_back_fixed_time_fires_once() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z; 02:30 happens at 00:30Z and 01:30Z
    assert fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00Z", "2026-10-26T12:00Z") == [
        "2026-10-25T00:30:00Z",
        "2026-10-26T01:30:00Z",
    ]


def test_berlin_hourly_fires_in_both_passes() -> None:
    assert fires("0 * * * *", "Europe/Berlin", "2026-10-24T22:30Z", "2026-10-25T02:30Z") == [
        "2026-10-24T23:00:00Z",
        "2026-10-25T00:00:00Z",  # 02:00 CEST
        "2026-10-25T01:00:00Z",  # 02:00 CET
        "2026-10-25T02:00:00Z",
    ]
    # and simply has no 02:00 in spring
    assert fires("0 * * * *", "Europe/Berlin", "2026-03-28T23:30Z", "2026-03-29T02:30Z") == [
        "2026-03-29T00:00:00Z",  # 01:00 CET
        "2026-03-29T01:00:00Z",  # 03:00 CEST
        "2026-03-29T02:00:00Z",
    ]


def test_restart_in_the_second_pass_does_not_fire_again() -> None:
    at_0110z = ms("2026-10-25T01:10Z")  # 02:10 CET: the first pass already ran 02:30 CEST
    assert iso(parse("30 2 * * *", "Europe/Berlin").next_after(at_0110z)) == "2026-10-26T01:30:00Z"
    assert iso(parse("0,30 2 * * *", "Europe/Berlin").next_after(at_0110z)) == "2026-10-26T01:00:00Z"
    # a wildcard job does run the second pass
    assert iso(parse("*/30 * * * *", "Europe/Berlin").next_after(at_0110z)) == "2026-10-25T01:30:00Z"


def test_lord_howe_half_hour_shift() -> None:
    # 2026-04-05: 02:00 (+11) becomes 01:30 (+10:30) at 2026-04-04T15:00Z; 01:30-01:59 repeats
    assert fires("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00Z", "2026-04-04T18:00Z") == [
        "2026-04-04T14:45:00Z"
    ]
    assert fires("30 * * * *", "Australia/Lord_Howe", "2026-04-04T13:00Z", "2026-04-04T16:30Z") == [
        "2026-04-04T13:30:00Z",  # 00:30 +11
        "2026-04-04T14:30:00Z",  # 01:30 +11
        "2026-04-04T15:00:00Z",  # 01:30 +10:30 (cronsim skips this one)
        "2026-04-04T16:00:00Z",  # 02:30 +10:30
    ]
    two_oclock = fires("* 2 * * *", "Australia/Lord_Howe", "2026-04-04T12:00Z", "2026-04-04T18:00Z")
    assert len(two_oclock) == 60  # 02:00 happens once, 30 minutes after the change (cronsim: 30)
    assert (two_oclock[0], two_oclock[-1]) == ("2026-04-04T15:30:00Z", "2026-04-04T16:29:00Z")
    # 2026-10-04: 02:00 (+10:30) becomes 02:30 (+11) at 2026-10-03T15:30Z
    assert fires("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00Z", "2026-10-04T18:00Z") == [
        "2026-10-03T15:30:00Z",
        "2026-10-04T15:15:00Z",
    ]
    assert fires("*/15 * * * *", "Australia/Lord_Howe", "2026-10-03T15:00Z", "2026-10-03T16:00Z") == [
        "2026-10-03T15:15:00Z",  # 01:45 +10:30
        "2026-10-03T15:30:00Z",  # 02:30 +11
        "2026-10-03T15:45:00Z",
        "2026-10-03T16:00:00Z",
    ]


def test_chatham_quarter_hour_zone() -> None:
    # 2026-09-27: 02:45 (+12:45) becomes 03:45 (+13:45) at 2026-09-26T14:00Z
    for expr in ("45 2 * * *", "0 3 * * *", "30 3 * * *"):
        assert fires(expr, "Pacific/Chatham", "2026-09-26T12:00Z", "2026-09-27T12:00Z") == ["2026-09-26T14:00:00Z"]
    # 2026-04-05: 03:45 (+13:45) becomes 02:45 (+12:45) at 2026-04-04T14:00Z; 02:45-03:44 repeats
    assert fires("0 3 * * *", "Pacific/Chatham", "2026-04-04T12:00Z", "2026-04-05T12:00Z") == ["2026-04-04T13:15:00Z"]
    two_oclock = fires("* 2 * * *", "Pacific/Chatham", "2026-04-04T12:00Z", "2026-04-05T12:00Z")
    first_pass = [iso(ms("2026-04-04T12:15Z") + i * 60_000) for i in range(60)]
    second_pass = [iso(ms("2026-04-04T14:00Z") + i * 60_000) for i in range(15)]  # cronsim skips these
    assert two_oclock == first_pass + second_pass


def test_santiago_midnight_gap_and_repeated_evening() -> None:
    # 2026-09-06: 00:00 (-04) becomes 01:00 (-03) at 04:00Z: midnight does not exist
    assert fires("0 0 * * *", "America/Santiago", "2026-09-05T12:00Z", "2026-09-07T12:00Z") == [
        "2026-09-06T04:00:00Z",
        "2026-09-07T03:00:00Z",
    ]
    # 2026-04-05: 00:00 (-03) becomes 23:00 (-04) on the 4th at 03:00Z: 23:30 happens twice
    assert fires("30 23 * * *", "America/Santiago", "2026-04-04T12:00Z", "2026-04-05T12:00Z") == [
        "2026-04-05T02:30:00Z"
    ]
    assert fires("30 * * * *", "America/Santiago", "2026-04-05T02:00Z", "2026-04-05T04:00Z") == [
        "2026-04-05T02:30:00Z",
        "2026-04-05T03:30:00Z",
    ]


def test_santiago_wildcard_on_a_day_that_starts_in_the_gap() -> None:
    """cronsim disagrees here: when its day search lands on a day whose midnight is skipped, it starts
    from the nonexistent 00:00, yielding it as a fire or stepping over the hour after the gap."""
    # 2024-09-08 is a Sunday whose 00:00-00:59 does not exist; 01:00-01:59 (-03) does (cronsim: the 15th)
    sunday_one = parse("* 1 * * 0", "America/Santiago").next_n(ms("2024-09-07T12:00Z"), 61)
    assert [iso(x) for x in (sunday_one[0], sunday_one[59], sunday_one[60])] == [
        "2024-09-08T04:00:00Z",
        "2024-09-08T04:59:00Z",
        "2024-09-15T04:00:00Z",
    ]
    # 2025-09-07: even hours; 00:00 does not exist, so the first is 02:00 (-03) (cronsim: 04:00Z)
    assert fires("0 */2 7 9 *", "America/Santiago", "2025-09-06T12:00Z", "2025-09-07T09:00Z") == [
        "2025-09-07T05:00:00Z",
        "2025-09-07T07:00:00Z",
        "2025-09-07T09:00:00Z",
    ]


def test_restart_in_the_second_pass_never_returns_the_past() -> None:
    """cronsim, started inside a repeated hour, reads the wall time without its fold and returns a
    first-pass slot that lies before the start; next_after never does."""
    # Havana 2024-11-03: 01:00 (-04) falls back to 00:00 (-05) at 05:00Z; 00:01 ran at 04:01Z
    sched = parse("1 0 * * *", "America/Havana")
    assert iso(sched.next_after(ms("2024-11-03T05:00Z"))) == "2024-11-04T05:01:00Z"
    oracle = next(
        CronSim("1 0 * * *", datetime.fromtimestamp(ms("2024-11-03T05:00Z") / 1000, ZoneInfo("America/Havana")))
    )
    assert int(oracle.timestamp()) * 1000 == ms("2024-11-03T04:01Z")  # the disagreement, pinned


def test_six_field_expressions_across_transitions() -> None:
    # seconds first; minute and hour fixed, so a fixed-time job
    assert fires("*/30 0 2 * * *", "Europe/Berlin", "2026-10-24T12:00Z", "2026-10-25T12:00Z") == [
        "2026-10-25T00:00:00Z",
        "2026-10-25T00:00:30Z",
    ]
    assert fires("*/30 0 2 * * *", "Europe/Berlin", "2026-03-28T12:00Z", "2026-03-29T12:00Z") == [
        "2026-03-29T01:00:00Z"
    ]
    # a wildcard hour follows real time, seconds included
    assert fires("0 0 * * * *", "Europe/Berlin", "2026-10-24T23:30Z", "2026-10-25T01:30Z") == [
        "2026-10-25T00:00:00Z",
        "2026-10-25T01:00:00Z",
    ]


def test_a_list_filling_the_minute_field_is_still_a_fixed_time_job() -> None:
    """Debian decides "wildcard" by a leading '*', not by the values: '0-29,30-59 2' fires every
    minute of 02:00-02:59 like '* 2', but once in a repeated hour, and once for a skipped one."""
    a, b = "2026-10-24T22:00Z", "2026-10-25T03:00Z"
    fixed = fires("0-29,30-59 2 * * *", "Europe/Berlin", a, b)
    assert (len(fixed), fixed[0], fixed[-1]) == (60, "2026-10-25T00:00:00Z", "2026-10-25T00:59:00Z")
    assert len(fires("* 2 * * *", "Europe/Berlin", a, b)) == 120
    assert fires("0-29,30-59 2 * * *", "Europe/Berlin", "2026-03-28T22:00Z", "2026-03-29T03:00Z") == [
        "2026-03-29T01:00:00Z"
    ]
    for start, end in ((a, b), ("2026-03-28T22:00Z", "2026-03-29T03:00Z")):
        s, e = ms(start) // 1000, ms(end) // 1000
        expr = "0-29,30-59 0-23 * * *"
        assert cronui_fires(expr, "Europe/Berlin", s, e) == cronsim_fires(expr, "Europe/Berlin", s, e)


def test_sub_second_after_inside_a_gap_day() -> None:
    sched = parse("30 2 * * *", "Europe/Berlin")
    assert sched.next_after(ms("2026-03-29T00:59:59Z") + 999) == ms("2026-03-29T01:00Z")
    assert sched.next_after(ms("2026-03-29T01:00Z")) == ms("2026-03-30T00:30Z")


def test_oracle_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints how many instants were compared with cronsim (runs last in this module)."""
    with capsys.disabled():
        print(
            f"\ncronsim comparison: {TALLY['compared']} fire instants compared, {TALLY['agreed']} agreed "
            f"({TALLY['compared'] - TALLY['agreed']} differ, all cronsim skipping real wildcard minutes "
            f"in {', '.join(sorted(CRONSIM_SKIPS_REAL_TIME))})"
        )
    assert DIFFERING_ZONES <= CRONSIM_SKIPS_REAL_TIME
