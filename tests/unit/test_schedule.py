"""Parsing, validation, readings and next fire instants of schedules (pure functions, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cronsim import CronSim
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cronui.schedule import (
    PRESETS,
    SYNTAX_HELP,
    Preset,
    Schedule,
    ScheduleError,
    ScheduleKind,
    all_zones,
    describe,
    get_zone,
    parse,
)


def ms(text: str) -> int:
    """'2026-03-02T09:00:00Z' -> UTC epoch ms."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def iso(instant: int) -> str:
    """UTC epoch ms -> '2026-03-02T09:00:00Z' (milliseconds shown only when present)."""
    dt = datetime.fromtimestamp(instant / 1000, UTC)
    return dt.isoformat(timespec="milliseconds" if instant % 1000 else "seconds").replace("+00:00", "Z")


def fires(expr: str, tz: str, start: str, n: int) -> list[str]:
    return [iso(x) for x in parse(expr, tz).next_n(ms(start), n)]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("* 24 * * *", "hour field: 24 is out of range 0-23"),
        ("* x * * *", "hour field: 'x' is not a number or name"),
        ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("* * 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("* * * 13 *", "month field: 13 is out of range 1-12"),
        ("* * * foo *", "month field: 'foo' is not a number or name"),
        ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("* * * * mon-xyz", "day-of-week field: 'xyz' is not a number or name"),
        ("* * * * */0", "day-of-week field: step 0 is not allowed"),
        ("*/0 * * * *", "minute field: step 0 is not allowed"),
        ("*/61 * * * *", "minute field: step 61 is larger than the field's range 0-59"),
        ("*/x * * * *", "minute field: step 'x' is not a number"),
        ("30-10 * * * *", "minute field: range '30-10' goes backwards"),
        ("-5 * * * *", "minute field: range '-5' needs a number on each side"),
        ("1,,2 * * * *", "minute field: empty item in the list '1,,2'"),
        ("1 2 3", "expected 5 fields (or 6 with seconds first), got 3"),
        ("1 2 3 4 5 6 7", "expected 5 fields (or 6 with seconds first), got 7"),
        ("60 * * * * *", "second field: 60 is out of range 0-59"),
        ("0 0 ? * *", "day-of-month field: '?' is not supported; use *"),
        ("0 0 15W * *", "day-of-month field: '15W': W (nearest weekday) is not supported"),
        ("0 0 LW * *", "day-of-month field: 'LW': L must stand alone (the last day of the month)"),
        ("0 0 * * L", "day-of-week field: 'L' needs a day before it, e.g. 5L for the last Friday"),
        ("0 0 * * 1#6", "day-of-week field: '1#6': the week number after '#' must be 1-5"),
        ("0 0 * * 1#0", "day-of-week field: '1#0': the week number after '#' must be 1-5"),
        ("0 0 * * 1-2#2", "day-of-week field: '1-2#2': '#' needs a single day, e.g. 1#2"),
        ("0 0 1#2 * *", "day-of-month field: '1#2': '#' is only allowed in day-of-week"),
        ("0 0 H * *", "day-of-month field: 'H' is not a number or name"),
        (
            "0 0 * * sat-sun",
            "day-of-week field: range 'sat-sun' goes backwards (Sunday is 0 or 7: write 6-7 or sat,sun)",
        ),
        ("0 9 31 2 *", "can never fire: February has no day 31"),
        ("0 0 30 2 *", "can never fire: February has no day 30"),
        ("0 0 30,31 2 *", "can never fire: February has no day 30 or 31"),
        ("0 0 31 4,6 *", "can never fire: April and June have no day 31"),
        (
            "0 0 */30 * 1#2",
            "can never fire: no day matches both day-of-month '*/30' and day-of-week '1#2'",
        ),
        ("@reboot", "@reboot is not supported: cronui schedules by time only"),
        (
            "@often",
            "unknown alias '@often' (expected one of @yearly, @annually, @monthly, @weekly, @daily, "
            "@midnight, @hourly)",
        ),
        ("every 0m", "every: must be more than 0, got 0m"),
        ("every 367d", "every: 367d is too long (at most 366 days)"),
        ("every 99999999999999999999s", "every: 99999999999999999999s is too long (at most 366 days)"),
        ("in 0s", "in: must be more than 0, got 0s"),
        ("at 2026-02-30T09:00", "at: 2026-02-30T09:00 is not a valid date and time"),
        ("at 2026-12-24T25:00", "at: 2026-12-24T25:00 is not a valid date and time"),
        ("at 1969-12-31T23:00", "at: the year must be between 1970 and 9998, got 1969"),
    ],
)
def test_invalid_expressions_name_the_problem(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse(expr, "UTC")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("expr", "keywords"),
    [
        ("", ["empty schedule"]),
        ("   \t ", ["empty schedule"]),
        ("every", ["every", "e.g. every 15m"]),
        ("every 15", ["every", "unit"]),
        ("every -5m", ["every", "unit"]),
        ("every 1.5h", ["every", "unit"]),
        ("every 15 minutes", ["every", "unit"]),
        ("in 20", ["in", "unit"]),
        ("at tomorrow", ["at", "YYYY-MM-DDTHH:MM"]),
        ("at 2026-12-24", ["at", "YYYY-MM-DDTHH:MM"]),
        ("* * * * * * *", ["7"]),
        ("0 0 * * \u0661", ["day-of-week field"]),  # a non-ASCII digit is not a number here
        ("0 0 1_0 * *", ["day-of-month field"]),
        ("9" * 5000 + " * * * *", ["minute field", "out of range"]),
    ],
)
def test_invalid_expressions_keywords(expr: str, keywords: list[str]) -> None:
    with pytest.raises(ScheduleError) as info:
        parse(expr, "UTC")
    text = str(info.value)
    assert "\n" not in text
    for word in keywords:
        assert word in text


def test_at_with_an_offset_the_zone_does_not_use_is_rejected() -> None:
    with pytest.raises(ScheduleError, match=r"is not a local time in Europe/Berlin"):
        parse("at 2026-10-25T02:10:00+05:00", "Europe/Berlin")


def test_errors_are_value_errors() -> None:
    assert issubclass(ScheduleError, ValueError)


# ---------------------------------------------------------------- normalization and kinds


@pytest.mark.parametrize(
    ("expr", "normalized", "kind"),
    [
        ("0 9 * * 1-5", "0 9 * * 1-5", ScheduleKind.CRON),
        ("  0   9\t*  *   MON-FRI ", "0 9 * * MON-FRI", ScheduleKind.CRON),
        ("*/30 * * * * *", "*/30 * * * * *", ScheduleKind.CRON),
        ("@DAILY", "@daily", ScheduleKind.CRON),
        ("@Annually", "@annually", ScheduleKind.CRON),
        ("every 15m", "every 15m", ScheduleKind.INTERVAL),
        ("every 15 m", "every 15m", ScheduleKind.INTERVAL),
        ("EVERY 2H", "every 2h", ScheduleKind.INTERVAL),
        ("every 007s", "every 7s", ScheduleKind.INTERVAL),
        ("at 2026-12-24T09:00", "at 2026-12-24T09:00:00", ScheduleKind.ONCE),
        ("at 2026-12-24 09:00:30", "at 2026-12-24T09:00:30", ScheduleKind.ONCE),
        ("AT 2026-12-24t09:00", "at 2026-12-24T09:00:00", ScheduleKind.ONCE),
    ],
)
def test_normalized_expression_and_kind(expr: str, normalized: str, kind: ScheduleKind) -> None:
    sched = parse(expr, "Europe/Berlin")
    assert sched.expr == normalized
    assert sched.kind is kind
    assert sched.timezone == "Europe/Berlin"
    assert parse(sched.expr, "Europe/Berlin") == sched  # the stored text reads back the same


def test_schedule_constructed_directly_is_validated_and_normalized() -> None:
    assert Schedule("0  9 * * *", "UTC", ScheduleKind.CRON).expr == "0 9 * * *"
    with pytest.raises(ScheduleError, match="minute field"):
        Schedule("61 * * * *", "UTC", ScheduleKind.CRON)
    with pytest.raises(ScheduleError, match="is a cron schedule, not interval"):
        Schedule("0 9 * * *", "UTC", ScheduleKind.INTERVAL)
    with pytest.raises(ScheduleError, match="relative to now"):
        Schedule("in 20m", "UTC", ScheduleKind.ONCE)
    with pytest.raises(ScheduleError, match="unknown time zone"):
        Schedule("0 9 * * *", "Mars/Base", ScheduleKind.CRON)


def test_schedule_is_hashable_and_compares_by_value() -> None:
    a = parse("0 9 * * *", "UTC")
    b = Schedule("0 9 * * *", "UTC", ScheduleKind.CRON)
    assert a == b and hash(a) == hash(b)
    assert a != parse("0 9 * * *", "Europe/Berlin")


def test_non_text_is_a_schedule_error() -> None:
    with pytest.raises(ScheduleError):
        parse(None, "UTC")  # type: ignore[arg-type]
    with pytest.raises(ScheduleError):
        parse(["0 9 * * *"], "UTC")  # type: ignore[arg-type]
    with pytest.raises(ScheduleError):
        parse("0 9 * * *", None)  # type: ignore[arg-type]


# ---------------------------------------------------------------- cron semantics (UTC)


def test_next_after_is_strictly_after_and_works_on_milliseconds() -> None:
    sched = parse("0 9 * * *", "UTC")
    assert sched.next_after(ms("2026-01-01T09:00:00Z")) == ms("2026-01-02T09:00:00Z")
    assert sched.next_after(ms("2026-01-01T08:59:59.999Z")) == ms("2026-01-01T09:00:00Z")
    assert sched.next_after(ms("2026-01-01T09:00:00.001Z")) == ms("2026-01-02T09:00:00Z")
    assert sched.next_n(ms("2026-01-01T00:00Z"), 0) == []


def test_answers_do_not_depend_on_the_order_of_questions() -> None:
    sched = parse("*/10 * * * *", "Europe/Berlin")
    late = sched.next_after(ms("2026-05-01T10:05Z"))
    early = sched.next_after(ms("2026-05-01T09:05Z"))
    again = sched.next_after(ms("2026-05-01T10:05Z"))
    assert (iso(early), iso(late), iso(again)) == (
        "2026-05-01T09:10:00Z",
        "2026-05-01T10:10:00Z",
        "2026-05-01T10:10:00Z",
    )
    assert sched.next_after(ms("2026-05-01T09:10Z")) == ms("2026-05-01T09:20Z")


@pytest.mark.parametrize(
    ("alias", "expansion"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_aliases_fire_like_their_expansion(alias: str, expansion: str) -> None:
    start = ms("2026-01-15T10:20Z")
    assert parse(alias, "Europe/Berlin").next_n(start, 5) == parse(expansion, "Europe/Berlin").next_n(start, 5)


def test_names_are_case_insensitive_and_equal_numbers() -> None:
    start = ms("2026-01-01T00:00Z")
    by_name = parse("0 9 * jan,JUL Mon-fri", "UTC").next_n(start, 30)
    by_number = parse("0 9 * 1,7 1-5", "UTC").next_n(start, 30)
    assert by_name == by_number


def test_day_of_week_7_is_sunday() -> None:
    start = ms("2026-01-01T00:00Z")
    assert parse("0 9 * * 7", "UTC").next_n(start, 5) == parse("0 9 * * 0", "UTC").next_n(start, 5)
    assert fires("0 9 * * 5-7", "UTC", "2026-01-01T00:00Z", 3) == [
        "2026-01-02T09:00:00Z",  # Friday
        "2026-01-03T09:00:00Z",
        "2026-01-04T09:00:00Z",  # Sunday
    ]


def test_last_day_of_month() -> None:
    assert fires("0 12 L * *", "UTC", "2028-01-15T00:00Z", 3) == [
        "2028-01-31T12:00:00Z",
        "2028-02-29T12:00:00Z",
        "2028-03-31T12:00:00Z",
    ]
    assert fires("0 12 L 2 *", "UTC", "2026-01-01T00:00Z", 2) == ["2026-02-28T12:00:00Z", "2027-02-28T12:00:00Z"]


def test_last_and_nth_weekday() -> None:
    assert fires("0 12 * * 5L", "UTC", "2026-01-01T00:00Z", 3) == [
        "2026-01-30T12:00:00Z",
        "2026-02-27T12:00:00Z",
        "2026-03-27T12:00:00Z",
    ]
    assert fires("0 12 * * 1#2", "UTC", "2026-01-01T00:00Z", 3) == [
        "2026-01-12T12:00:00Z",
        "2026-02-09T12:00:00Z",
        "2026-03-09T12:00:00Z",
    ]
    # plain weekdays and '#' items in one field
    assert fires("0 12 * 3 3,1#2", "UTC", "2026-03-01T00:00Z", 3) == [
        "2026-03-04T12:00:00Z",
        "2026-03-09T12:00:00Z",  # second Monday
        "2026-03-11T12:00:00Z",
    ]


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    # 13th of the month OR any Friday
    assert fires("0 0 13 * 5", "UTC", "2026-02-01T00:00Z", 5) == [
        "2026-02-06T00:00:00Z",
        "2026-02-13T00:00:00Z",  # Friday the 13th: once
        "2026-02-20T00:00:00Z",
        "2026-02-27T00:00:00Z",
        "2026-03-06T00:00:00Z",
    ]
    assert fires("0 0 15 * 1#1", "UTC", "2026-05-31T00:00Z", 3) == [
        "2026-06-01T00:00:00Z",  # the first Monday
        "2026-06-15T00:00:00Z",
        "2026-07-06T00:00:00Z",
    ]


def test_day_of_month_starting_with_star_makes_it_and() -> None:
    # Debian: '*/2' counts as unrestricted, so odd days AND Monday
    assert fires("0 0 */2 * 1", "UTC", "2026-05-31T00:00Z", 4) == [
        "2026-06-01T00:00:00Z",
        "2026-06-15T00:00:00Z",
        "2026-06-29T00:00:00Z",
        "2026-07-13T00:00:00Z",
    ]
    # and the same the other way round: the 1st-7th AND every other weekday (Sun, Tue, Thu, Sat)
    assert fires("0 0 1-7 * */2", "UTC", "2026-06-01T00:00Z", 4) == [
        "2026-06-02T00:00:00Z",
        "2026-06-04T00:00:00Z",
        "2026-06-06T00:00:00Z",
        "2026-06-07T00:00:00Z",
    ]


def test_or_side_that_can_never_match_is_ignored() -> None:
    # February has no 31st, but every Monday in February still fires
    assert fires("0 0 31 2 1", "UTC", "2026-01-01T00:00Z", 2) == ["2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"]


def test_steps_ranges_and_start_slash_step() -> None:
    assert fires("5/20 10 * * *", "UTC", "2026-01-01T00:00Z", 4) == [
        "2026-01-01T10:05:00Z",
        "2026-01-01T10:25:00Z",
        "2026-01-01T10:45:00Z",
        "2026-01-02T10:05:00Z",
    ]
    assert fires("0 8-18/4 * * *", "UTC", "2026-01-01T00:00Z", 4) == [
        "2026-01-01T08:00:00Z",
        "2026-01-01T12:00:00Z",
        "2026-01-01T16:00:00Z",
        "2026-01-02T08:00:00Z",
    ]
    # a range of one value is that value (croniter alone would read 5-5 as "every minute")
    assert fires("5-5 10 * * *", "UTC", "2026-01-01T00:00Z", 2) == ["2026-01-01T10:05:00Z", "2026-01-02T10:05:00Z"]


def test_six_fields_have_seconds_first() -> None:
    assert fires("*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z", 4) == [
        "2026-01-01T00:00:20Z",
        "2026-01-01T00:00:40Z",
        "2026-01-01T00:01:00Z",
        "2026-01-01T00:01:20Z",
    ]
    assert fires("30 0 9 * * 1-5", "UTC", "2026-01-02T10:00Z", 2) == ["2026-01-05T09:00:30Z", "2026-01-06T09:00:30Z"]


def test_cron_is_read_in_the_zone() -> None:
    assert fires("0 9 * * *", "Europe/Berlin", "2026-01-01T00:00Z", 1) == ["2026-01-01T08:00:00Z"]
    assert fires("0 9 * * *", "Europe/Berlin", "2026-07-01T00:00Z", 1) == ["2026-07-01T07:00:00Z"]
    assert fires("0 9 * * *", "Asia/Kolkata", "2026-07-01T00:00Z", 1) == ["2026-07-01T03:30:00Z"]


def test_rare_schedules_are_found_far_ahead() -> None:
    # the fifth Monday of February: only when February 29th is a Monday
    assert fires("0 0 * 2 1#5", "UTC", "2026-01-01T00:00Z", 2) == ["2044-02-29T00:00:00Z", "2072-02-29T00:00:00Z"]
    assert fires("0 0 29 2 *", "UTC", "2097-01-01T00:00Z", 1) == ["2104-02-29T00:00:00Z"]


# ---------------------------------------------------------------- lists that fill a whole field
# croniter reads a list with as many items as its field has values as "*". A list that really is the
# whole field means every value, but in the day fields it may be mixed with L, 5L or 1#2 items, and
# for the day rule a restricted field stays restricted (Debian: only a field *starting* with '*' is
# unrestricted). Each case is checked against cronsim (which follows Debian cron) in UTC.


def cronsim_fires(expr: str, start: str, n: int) -> list[str]:
    oracle = CronSim(expr, datetime.fromisoformat(start.replace("Z", "+00:00")))
    return [iso(int(next(oracle).timestamp()) * 1000) for _ in range(n)]


@pytest.mark.parametrize(
    "expr",
    [
        # minute and hour: a list or ranges covering the field fire on every value
        "0-58,59 12 * * *",
        "0-29,30-59 12 1 * *",
        "0 0-22,23 * * *",
        "0 0-11,12-23 1 * 1",
        # day-of-month: L with the 30 days 2-31 (or 1 and 3-31) is 31 items and not every day
        "0 12 L,2-31 * *",
        "0 12 2-31,L * *",
        "0 12 1,L,3-31 * *",
        "0 12 L,2-31 2 *",
        "0 12 L,1-30 * *",  # every day after all: each month's last day is at most the 31st
        "0 12 L,2-31 * 1",  # restricted day fields: OR
        "0 12 L,2-31 * 5L",
        "0 12 L,2-31 * 1#2",
        "0 12 L,2-31 * */2",  # a day-of-week starting with '*': AND
        "0 12 */2,L * 1",
        "0 12 1-31 * 1",  # '1-31' is restricted: OR with Monday, so every day
        "0 12 1-15,16-31 * 5L",
        "0 12 */1 * 1",  # '*/1' starts with '*': AND, so Mondays only
        # month
        "0 12 1 1-11,dec *",
        "0 12 1 jan-jun,7-12 1",
        # day-of-week: 7 is Sunday, '#' and 'L' items that name every weekday
        "0 12 * * 0-6,7",
        "0 12 * * 1-7",
        "0 12 13 * 0-7",  # restricted: OR with the 13th, so every day
        "0 12 * * 0L,1L,2L,3L,4L,5L,6L",  # the last seven days of each month
        "0 12 * * 1L,2L,3L,4L,5L,6L,7L",
        "0 12 * * 0#1,1#1,2#1,3#1,4#1,5#1,6#1",  # the first seven days of each month
        "0 12 * * 1#1,2#1,3#1,4#1,5#1,6#1,7#1",
        "0 12 15 * 0#1,1#1,2#1,3#1,4#1,5#1,6#1",
        "0 12 * * 1-7,1#2",
        "0 12 */2 * 0-6,0L",
        "0 12 L,2-31 * 0L,1L,2L,3L,4L,5L,6L",
        # seconds first (6 fields)
        "0-58,59 0 12 * * *",
        "0-29,30-59 0 12 1 * *",
        "0 0 12 L,2-31 * *",
    ],
)
@pytest.mark.parametrize("start", ["2026-01-01T00:00Z", "2028-02-20T13:00Z"])
def test_lists_filling_a_field_agree_with_cronsim(expr: str, start: str) -> None:
    assert fires(expr, "UTC", start, 70) == cronsim_fires(expr, start, 70)


def test_last_day_with_the_other_30_days_is_not_the_first() -> None:
    # every day but the 1st (by hand: the 2nd to the 31st, and the last day is one of them)
    days = [x[:10] for x in fires("0 12 L,2-31 * *", "UTC", "2026-01-25T00:00Z", 10)]
    assert days == [
        "2026-01-25",
        "2026-01-26",
        "2026-01-27",
        "2026-01-28",
        "2026-01-29",
        "2026-01-30",
        "2026-01-31",
        "2026-02-02",
        "2026-02-03",
        "2026-02-04",
    ]
    year = fires("0 12 L,2-31 * *", "UTC", "2025-12-31T23:00Z", 400)
    assert sum(x.startswith("2026-") for x in year) == 365 - 12
    assert not any(x[8:10] == "01" for x in year)
    assert fires("0 12 1,L,3-31 2 *", "UTC", "2026-01-01T00:00Z", 2) == ["2026-02-01T12:00:00Z", "2026-02-03T12:00:00Z"]


def test_last_day_with_the_other_30_days_or_a_weekday() -> None:
    # both day fields restricted: OR, so the 1st fires only when it is a Monday (June 2026)
    firsts = [x for x in fires("0 12 L,2-31 * 1", "UTC", "2025-12-31T23:00Z", 365) if x[8:10] == "01"]
    assert firsts == ["2026-06-01T12:00:00Z"]
    # a day-of-week starting with '*' makes it AND: the 2nd-31st that are Sun, Tue, Thu or Sat
    assert fires("0 12 L,2-31 * */2", "UTC", "2026-03-29T00:00Z", 4) == [
        "2026-03-29T12:00:00Z",  # Sunday
        "2026-03-31T12:00:00Z",  # Tuesday, the last day
        "2026-04-02T12:00:00Z",  # Thursday (Wednesday the 1st is out twice over)
        "2026-04-04T12:00:00Z",
    ]


def test_a_day_field_is_unrestricted_only_when_it_starts_with_a_star() -> None:
    # '1-31' and '0-7' are restricted, so the OR rule makes every day match
    assert fires("0 12 1-31 * 1", "UTC", "2026-01-01T00:00Z", 3) == [
        "2026-01-01T12:00:00Z",
        "2026-01-02T12:00:00Z",
        "2026-01-03T12:00:00Z",
    ]
    assert fires("0 12 13 * 0-7", "UTC", "2026-01-01T00:00Z", 2) == ["2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z"]
    # '*/1' is the same days as '1-31', but starts with '*': AND, Mondays only
    assert fires("0 12 */1 * 1", "UTC", "2026-01-01T00:00Z", 2) == ["2026-01-05T12:00:00Z", "2026-01-12T12:00:00Z"]


def test_weekday_items_naming_every_weekday() -> None:
    # the last of each weekday is the last seven days; the first of each is the first seven
    assert [x[:10] for x in fires("0 12 * * 0L,1L,2L,3L,4L,5L,6L", "UTC", "2026-02-01T00:00Z", 8)] == [
        *(f"2026-02-{d}" for d in range(22, 29)),
        "2026-03-25",
    ]
    assert [x[:10] for x in fires("0 12 * * 1#1,2#1,3#1,4#1,5#1,6#1,7#1", "UTC", "2026-02-06T00:00Z", 3)] == [
        "2026-02-06",
        "2026-02-07",
        "2026-03-01",
    ]


# ---------------------------------------------------------------- intervals


def test_intervals_are_aligned_to_the_unix_epoch() -> None:
    sched = parse("every 15m", "Asia/Kolkata")
    assert sched.kind is ScheduleKind.INTERVAL
    assert [iso(x) for x in sched.next_n(ms("2026-01-01T10:07:30Z"), 3)] == [
        "2026-01-01T10:15:00Z",
        "2026-01-01T10:30:00Z",
        "2026-01-01T10:45:00Z",
    ]
    assert sched.next_after(ms("2026-01-01T10:15:00Z")) == ms("2026-01-01T10:30:00Z")
    assert iso(parse("every 1d", "America/New_York").next_after(ms("2026-01-01T10:00Z"))) == "2026-01-02T00:00:00Z"
    assert iso(parse("every 30s", "UTC").next_after(ms("2026-01-01T10:00:00.500Z"))) == "2026-01-01T10:00:30Z"
    assert iso(parse("every 2h", "UTC").next_after(ms("2026-01-01T01:00Z"))) == "2026-01-01T02:00:00Z"


# ---------------------------------------------------------------- one-shots


def test_at_is_read_in_the_zone_and_fires_once() -> None:
    sched = parse("at 2026-12-24T09:00", "Europe/Berlin")
    assert sched.next_after(ms("2026-01-01T00:00Z")) == ms("2026-12-24T08:00Z")
    assert sched.next_after(ms("2026-12-24T07:59:59.999Z")) == ms("2026-12-24T08:00Z")
    assert sched.next_after(ms("2026-12-24T08:00Z")) is None
    assert sched.next_n(ms("2026-01-01T00:00Z"), 3) == [ms("2026-12-24T08:00Z")]
    assert parse("at 2026-12-24 09:00:30", "UTC").next_after(0) == ms("2026-12-24T09:00:30Z")


def test_at_in_a_gap_fires_when_the_gap_ends() -> None:
    # Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z
    assert parse("at 2026-03-29T02:30", "Europe/Berlin").next_after(0) == ms("2026-03-29T01:00Z")


def test_at_in_a_repeated_hour_means_the_first_pass() -> None:
    # Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00Z
    assert parse("at 2026-10-25T02:30", "Europe/Berlin").next_after(0) == ms("2026-10-25T00:30Z")
    assert parse("at 2026-10-25T02:30+01:00", "Europe/Berlin").next_after(0) == ms("2026-10-25T01:30Z")
    assert parse("at 2026-10-25T02:30+02:00", "Europe/Berlin").next_after(0) == ms("2026-10-25T00:30Z")


def test_in_is_resolved_against_now_and_stored_as_at() -> None:
    now = ms("2026-11-23T08:00:00.250Z")  # 09:00:00.250 in Berlin
    sched = parse("in 20m", "Europe/Berlin", now_ms=now)
    assert sched == Schedule("at 2026-11-23T09:20:00", "Europe/Berlin", ScheduleKind.ONCE)
    assert sched.next_after(now) == ms("2026-11-23T08:20:00Z")
    assert parse("in 2h", "UTC", now_ms=now).expr == "at 2026-11-23T10:00:00"
    assert parse("in 1d", "UTC", now_ms=now).expr == "at 2026-11-24T08:00:00"
    assert parse("in 45 s", "UTC", now_ms=now).expr == "at 2026-11-23T08:00:45"


def test_in_landing_in_the_second_pass_keeps_its_instant() -> None:
    now = ms("2026-10-25T00:50Z")  # 02:50 CEST; 20 minutes later it is 02:10 CET, the second pass
    sched = parse("in 20m", "Europe/Berlin", now_ms=now)
    assert sched.expr == "at 2026-10-25T02:10:00+01:00"
    assert sched.next_after(now) == ms("2026-10-25T01:10Z")
    assert describe(sched.expr) == "At 2026-10-25 02:10 (UTC+01:00) (once)"


def test_in_without_now_uses_the_current_time() -> None:
    sched = parse("in 1d", "UTC")
    assert sched.kind is ScheduleKind.ONCE and sched.expr.startswith("at ")


# ---------------------------------------------------------------- plain English


@pytest.mark.parametrize(
    ("expr", "reading"),
    [
        ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("* * * * *", "Every minute"),
        ("0 * * * *", "Every hour"),
        ("30 2 * * *", "At 02:30"),
        ("0 9 * * 1", "At 09:00, only on Monday"),
        ("0 9 * * 0,6", "At 09:00, only on Saturday and Sunday"),
        ("0 9 * * 7", "At 09:00, only on Sunday"),
        ("0 0 * * 5-7", "At 00:00, Friday through Sunday"),
        ("0 9 1 * *", "At 09:00, on day 1 of the month"),
        ("0 0 L * *", "At 00:00, on the last day of the month"),
        ("0 0 * * 5L", "At 00:00, on the last Friday of the month"),
        ("0 0 * * 1#2", "At 00:00, on the second Monday of the month"),
        ("0 12 * JAN-MAR *", "At 12:00, January through March"),
        ("0 8-18/2 * * *", "Every 2 hours, between 08:00 and 18:59"),
        # both day fields restricted: OR (Debian)
        ("0 0 1 * 1-5", "At 00:00, on day 1 of the month, or on Monday through Friday"),
        ("0 0 1,15 * 1#2", "At 00:00, on day 1 and 15 of the month, or on the second Monday of the month"),
        # a day field starting with '*' makes it AND (Debian); cron-descriptor alone would say "or"
        ("0 0 */2 * 1", "At 00:00, every 2 days, if it is Monday"),
        ("0 0 1-7 * */2", "At 00:00, between day 1 and 7 of the month, if it is Tuesday, Thursday, Saturday or Sunday"),
        # seconds first
        ("5 0 9 * * *", "At 09:00:05"),
        ("*/30 * * * * *", "Every 30 seconds"),
        ("30 0 9 * * mon-fri", "At 09:00:30, Monday through Friday"),
        # one-value ranges and mixed lists are spelled out before cron-descriptor reads them
        ("5-5 10 * * *", "At 10:05"),
        ("* 20/8,7-7 * * */8", "Every minute, at 07:00 and 20:00, only on Sunday"),
        ("0 0 1,L * *", "At 00:00, on day 1 and on the last day of the month"),
        # OR with a side that matches every day is every day
        ("0 0 1-31 * 1", "At 00:00"),
        ("@yearly", "Every year on January 1 at 00:00"),
        ("@annually", "Every year on January 1 at 00:00"),
        ("@monthly", "Every month on the 1st at 00:00"),
        ("@weekly", "Every week on Sunday at 00:00"),
        ("@daily", "Every day at 00:00"),
        ("@midnight", "Every day at 00:00"),
        ("@hourly", "Every hour, on the hour"),
        ("every 30s", "Every 30 seconds"),
        ("every 1m", "Every minute"),
        ("every 15m", "Every 15 minutes"),
        ("every 2h", "Every 2 hours"),
        ("every 1d", "Every day at 00:00 UTC"),
        ("every 7d", "Every 7 days at 00:00 UTC"),
        ("at 2026-12-24T09:00", "At 2026-12-24 09:00 (once)"),
        ("at 2026-12-24 09:00:30", "At 2026-12-24 09:00:30 (once)"),
        ("in 20m", "Once, 20 minutes from now"),
    ],
)
def test_describe(expr: str, reading: str) -> None:
    assert describe(expr) == reading


def test_schedule_describe_matches_describe() -> None:
    assert parse("0 9 * * 1-5", "Europe/Berlin").describe() == "At 09:00, Monday through Friday"
    assert parse("in 20m", "UTC", now_ms=ms("2026-12-24T08:40Z")).describe() == "At 2026-12-24 09:00 (once)"


def test_describe_rejects_invalid() -> None:
    with pytest.raises(ScheduleError, match="minute field"):
        describe("61 * * * *")


# ---------------------------------------------------------------- presets and help


def test_presets_parse_and_are_unique() -> None:
    assert all(isinstance(p, Preset) for p in PRESETS)
    assert len({p.name for p in PRESETS}) == len(PRESETS)
    assert len({p.expr for p in PRESETS}) == len(PRESETS)
    for preset in PRESETS:
        sched = parse(preset.expr, "Europe/Berlin")
        assert sched.expr == preset.expr
        assert sched.next_after(ms("2026-01-01T00:00Z")) is not None
        assert describe(preset.expr)
    by_name = {p.name: p.expr for p in PRESETS}
    assert by_name["Every minute"] == "* * * * *"
    assert by_name["Hourly"] == "0 * * * *"
    assert by_name["Daily at 09:00"] == "0 9 * * *"
    assert by_name["Weekdays at 09:00"] == "0 9 * * 1-5"
    assert by_name["Weekly on Monday"] == "0 9 * * 1"
    assert by_name["Monthly on the 1st"] == "0 9 1 * *"
    assert by_name["Every 30 seconds"] == "every 30s"


def test_syntax_help_mentions_every_form() -> None:
    assert len(SYNTAX_HELP.splitlines()) > 5
    for needle in ("*/15", "@daily", "every 15m", "at 2026-12-24T09:00", "in 20m", "5L", "1#2", "seconds first"):
        assert needle in SYNTAX_HELP


# ---------------------------------------------------------------- zones


def test_get_zone() -> None:
    assert str(get_zone("Europe/Berlin")) == "Europe/Berlin"
    assert get_zone("Europe/Berlin") is get_zone("Europe/Berlin")
    assert str(get_zone("UTC")) == "UTC"
    assert str(get_zone("Etc/UTC")) == "Etc/UTC"


def test_get_zone_unknown() -> None:
    with pytest.raises(ScheduleError) as info:
        get_zone("Mars/Base")
    assert str(info.value) == "unknown time zone: 'Mars/Base'"
    with pytest.raises(ScheduleError, match=r"did you mean 'Europe/Berlin'\?"):
        get_zone("europe/berlin")
    with pytest.raises(ScheduleError, match="no time zone given"):
        get_zone(" ")
    for bad in ("../../etc/passwd", "Europe/Berlin\x00", "localtime "):
        with pytest.raises(ScheduleError, match="unknown time zone"):
            get_zone(bad)


@pytest.mark.parametrize("offset", ["+02:00", "-0500", "UTC+2", "GMT+1", "utc-03:30", "+5"])
def test_get_zone_rejects_fixed_offsets(offset: str) -> None:
    with pytest.raises(ScheduleError) as info:
        get_zone(offset)
    text = str(info.value)
    assert "a fixed offset is not a time zone" in text
    assert "IANA" in text and "Europe/Berlin" in text


def test_parse_checks_the_zone() -> None:
    with pytest.raises(ScheduleError, match="fixed offset"):
        parse("0 9 * * *", "UTC+2")


def test_all_zones() -> None:
    zones = all_zones()
    assert zones == sorted(zones)
    assert "Europe/Berlin" in zones and "UTC" in zones
    assert all_zones() is zones


# ---------------------------------------------------------------- properties

_NOW = ms("2026-11-23T08:00Z")

_cronish = st.lists(st.text(alphabet="0123456789*/,-#LlWw?@ abcdefhijmnorstuvy:T+\t", max_size=12), max_size=7).map(
    " ".join
)
_keywords = st.tuples(
    st.sampled_from(["every", "in", "at", "@daily", "@reboot", "EVERY", "At", "@"]),
    st.text(alphabet="0123456789smhdT:- +", max_size=25),
).map(" ".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), _cronish, _keywords), st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Chatham"]))
@example("0 0 * * \u0661", "UTC")  # a non-ASCII digit
@example("0 0 1_0 * *", "UTC")  # int() reads "1_0" as 10
@example("9" * 5000 + " * * * *", "UTC")
@example("0 12 L,2-31 * *", "Pacific/Chatham")
def test_any_text_is_a_schedule_or_a_schedule_error(text: str, tz: str) -> None:
    try:
        sched = parse(text, tz, now_ms=_NOW)
    except ScheduleError as e:
        message = str(e)
        assert message and "\n" not in message
        return
    assert isinstance(sched, Schedule)
    sched.next_n(_NOW, 2)
    assert "\n" not in sched.describe()


def _field(lo: int, hi: int, *extra: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    value = st.integers(lo, hi)
    span = hi - lo + 1
    pair = st.tuples(value, value).map(sorted)
    # A stepped range needs two different ends: cronsim reads "5-5/2" as "5/2" (5 to the end).
    wide = st.tuples(st.integers(lo, hi - 1), st.integers(1, span)).map(lambda t: (t[0], min(hi, t[0] + t[1])))
    item = st.one_of(
        value.map(str),
        pair.map(lambda p: f"{p[0]}-{p[1]}"),
        st.tuples(wide, st.integers(1, span)).map(lambda t: f"{t[0][0]}-{t[0][1]}/{t[1]}"),
        st.tuples(value, st.integers(1, span)).map(lambda t: f"{t[0]}/{t[1]}"),
        # the whole field, or all of it but its first value (with L, 2-31 fills day-of-month)
        st.sampled_from([f"{lo}-{hi}", f"{lo + 1}-{hi}"]),
        *extra,
    )
    star = st.one_of(st.just("*"), st.integers(1, span).map(lambda k: f"*/{k}"))
    return st.one_of(star, st.lists(item, min_size=1, max_size=3).map(",".join))


_cron_5 = st.tuples(
    _field(0, 59),
    _field(0, 23),
    _field(1, 31, st.just("L")),
    _field(1, 12, st.sampled_from(["jan", "JUN", "Dec"])),
    _field(
        0,
        7,
        st.tuples(st.integers(0, 7), st.integers(1, 5)).map(lambda t: f"{t[0]}#{t[1]}"),
        st.integers(0, 7).map(lambda d: f"{d}L"),
        st.sampled_from(["mon", "FRI", "sun", "tue-thu"]),
    ),
).map(" ".join)


_cron_6 = st.tuples(_field(0, 59), _cron_5).map(" ".join)  # seconds first


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_cron_5, _cron_6), st.integers(ms("2000-01-01T00:00Z") // 1000, ms("2040-01-01T00:00Z") // 1000))
@example("0 12 L,2-31 * *", ms("2026-01-31T13:00Z") // 1000)  # croniter read the 31 items as '*'
@example("0 12 L,2-31 * 1", ms("2026-01-31T13:00Z") // 1000)
@example("0 0 12 L,2-31 * *", ms("2026-01-31T13:00Z") // 1000)
@example("5-5 10 * * *", ms("2026-01-01T00:00Z") // 1000)  # croniter reads 5-5 as the whole field
@example("0 12 1-31 * 1", ms("2026-01-01T00:00Z") // 1000)  # restricted: OR
def test_cron_agrees_with_cronsim_in_utc(expr: str, start: int) -> None:
    try:
        sched = parse(expr, "UTC")
    except ScheduleError as e:
        assert "can never fire" in str(e)
        assume(False)
        return
    oracle = CronSim(expr, datetime.fromtimestamp(start, UTC))
    expected = [int(next(oracle).timestamp()) * 1000 for _ in range(5)]
    assert sched.next_n(start * 1000, 5) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_cron_5, _cron_6))
@example("* 20/8,7-7 * * */8")  # a list mixing a step and a one-value range
@example("47-59/60 * * * *")  # one value written as a stepped range
@example("5-5 10 * * *")
@example("0 12 L,2-31 * *")
def test_describe_reads_cleanly(expr: str) -> None:
    try:
        reading = describe(expr)
    except ScheduleError:
        return
    assert reading[:1].isupper()
    assert "  " not in reading and " ," not in reading and not reading.endswith(",")
    assert "Cron:" not in reading  # cron-descriptor never had to be bypassed
