"""Plain English for schedules, the presets offered in the job editor, and the syntax help text.

Cron readings come from cron-descriptor, fed fields it reads well, with the day rule (Debian's OR,
or the AND that a day field starting with ``*`` makes) and the ``L``/``5L``/``1#2`` items worded here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cron_descriptor import DescriptionTypeEnum, ExpressionDescriptor, Options

from cronui.schedule.fields import (
    ALIASES,
    DIGITS_RE,
    DOM,
    HOUR,
    MINUTE,
    MONTH,
    SECOND,
    WEEKDAYS,
    CronSpec,
    Field,
    Parsed,
    field_value,
    join_words,
)
from cronui.schedule.intervals import format_offset, plural, unit_word
from cronui.schedule.syntax import Syntax, read, without_offset

_ALIAS_READINGS = {
    "@yearly": "Every year on January 1 at 00:00",
    "@annually": "Every year on January 1 at 00:00",
    "@monthly": "Every month on the 1st at 00:00",
    "@weekly": "Every week on Sunday at 00:00",
    "@daily": "Every day at 00:00",
    "@midnight": "Every day at 00:00",
    "@hourly": "Every hour, on the hour",
}
_DAY_TITLES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_ORDINALS = ["", "first", "second", "third", "fourth", "fifth"]


def _weekday_phrase(dow: Parsed, days_joiner: str = "and") -> str:
    """e.g. 'Monday through Friday', 'Monday and Wednesday', 'the second Monday of the month'."""
    parts: list[str] = []
    days = sorted(dow.values, key=lambda d: (d - 1) % WEEKDAYS)  # Monday first
    if days:
        starts = [d for d in days if (d - 1) % WEEKDAYS not in dow.values]
        if len(days) >= 3 and len(starts) == 1:  # one run of days, maybe across the weekend: 5-7, 0-3
            last = (starts[0] + len(days) - 1) % WEEKDAYS
            parts.append(f"{_DAY_TITLES[starts[0]]} through {_DAY_TITLES[last]}")
        else:
            parts.append(join_words([_DAY_TITLES[d] for d in days], days_joiner))
    for wd in sorted(dow.last_weekdays):
        parts.append(f"the last {_DAY_TITLES[wd]} of the month")
    for wd, n in sorted(dow.nth_weekdays, key=lambda x: (x[1], x[0])):
        parts.append(f"the {_ORDINALS[n]} {_DAY_TITLES[wd]} of the month")
    return join_words(parts, "or")


def _is_name_or_number(f: Field, tok: str) -> bool:
    return bool(DIGITS_RE.fullmatch(tok)) or (f.names is not None and tok.lower() in f.names)


def _for_descriptor(f: Field, text: str, values: frozenset[int]) -> str:
    """A field as cron-descriptor reads it well: as written when simple, else its values spelled out.

    cron-descriptor mangles lists that mix ranges and steps, and reads '5-5' or '47-59/60' (one
    value each) as ranges or cycles.
    """
    items = text.split(",")
    if all(_is_name_or_number(f, tok) for tok in items):
        return text.upper()
    if len(items) == 1 and len(values) >= 2:
        base, slash, _ = text.partition("/")
        a, dash, b = base.partition("-")
        if base == "*" or (dash and field_value(f, a) < field_value(f, b)) or (slash and not dash):
            return text.upper()
    ordered = sorted(values)
    if len(ordered) >= 3 and ordered[-1] - ordered[0] == len(ordered) - 1:
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(map(str, ordered))


def _describe_cron(spec: CronSpec) -> str:
    fields = list(spec.fields)
    if spec.seconds is not None:
        fields[0] = _for_descriptor(SECOND, fields[0], spec.seconds)
    fields[-5] = _for_descriptor(MINUTE, fields[-5], spec.minutes)
    fields[-4] = _for_descriptor(HOUR, fields[-4], spec.hours)
    fields[-2] = _for_descriptor(MONTH, fields[-2], spec.months)
    dom, dow = spec.dom, spec.dow
    dow_all = len(dow.values) == WEEKDAYS and not dow.special
    dom_all = len(dom.values) == DOM.size
    if spec.day_or and (dom_all or dow_all):  # "any day of the month, or Monday" is every day
        dom_all = dow_all = True
    if dom.last_day and dom.values:
        numbers = join_words([str(d) for d in sorted(dom.values)])
        dom_phrase: str | None = f", on day {numbers} and on the last day of the month"
    else:
        dom_phrase = None
    if dom_all:
        fields[-3] = "*"
    elif dom.last_day and not dom.values:
        fields[-3] = "L"
    elif dom_phrase is None:
        fields[-3] = _for_descriptor(DOM, spec.dom_text, dom.values)
    fields[-1] = "*"
    options = Options()
    options.use_24hour_time_format = True
    try:
        ed = ExpressionDescriptor(" ".join(fields), options)
        time_part = ed.get_description(DescriptionTypeEnum.TIMEOFDAY)
        dom_part = dom_phrase if dom_phrase is not None else ed.get_description(DescriptionTypeEnum.DAYOFMONTH)
        month_part = ed.get_description(DescriptionTypeEnum.MONTH)
    except Exception:  # cron-descriptor cannot read it; fall back to the fields themselves
        return f"Cron: {' '.join(spec.fields)}"
    if dow_all:
        dow_part = ""
    else:
        phrase = _weekday_phrase(dow)
        if dom_all:
            single_range = " through " in phrase and not dow.special
            lead = "" if single_range else ("on " if phrase.startswith("the ") else "only on ")
            dow_part = f", {lead}{phrase}"
        elif spec.day_or:
            dow_part = f", or on {phrase}"
        else:  # Debian: a day-of-month starting with '*' is ANDed with the day-of-week
            dow_part = f", if it is {_weekday_phrase(dow, 'or')}"
    text = f"{time_part}{dom_part}{dow_part}{month_part}"
    text = str(ed.transform_verbosity(text, use_verbose_format=False))
    return text[:1].upper() + text[1:]


def _describe_syntax(syntax: Syntax) -> str:
    if syntax.offset:
        minutes, seconds = divmod(syntax.offset, 60)
        later = f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
        return f"{_describe_syntax(without_offset(syntax))}, {later} later (staggered)"
    if syntax.expr in _ALIAS_READINGS:
        return _ALIAS_READINGS[syntax.expr]
    if syntax.cron is not None:
        return _describe_cron(syntax.cron)
    if syntax.interval is not None:
        iv = syntax.interval
        if iv.seconds % 86400 == 0:
            days = iv.seconds // 86400
            return ("Every day" if days == 1 else f"Every {days} days") + " at 00:00 UTC"
        return "Every " + (unit_word(iv.unit) if iv.number == 1 else plural(iv.number, iv.unit))
    if syntax.at is not None:
        at = syntax.at
        stamp = at.wall.strftime("%Y-%m-%d %H:%M" if at.wall.second == 0 else "%Y-%m-%d %H:%M:%S")
        if at.offset is not None:
            stamp += f" (UTC{format_offset(at.offset)})"
        return f"At {stamp} (once)"
    assert syntax.relative is not None
    number, unit = syntax.expr[3:-1], syntax.expr[-1]
    return f"Once, {plural(int(number), unit)} from now"


def describe(expr: str) -> str:
    """Plain English for a schedule expression; raises ScheduleError if it is not valid."""
    return _describe(read(expr).expr)


@functools.lru_cache(maxsize=4096)
def _describe(expr: str) -> str:
    return _describe_syntax(read(expr))


# ---------------------------------------------------------------- presets and help


@dataclass(frozen=True)
class Preset:
    name: str
    expr: str


PRESETS: tuple[Preset, ...] = (
    Preset("Every 30 seconds", "every 30s"),
    Preset("Every minute", "* * * * *"),
    Preset("Every 5 minutes", "*/5 * * * *"),
    Preset("Every 15 minutes", "*/15 * * * *"),
    Preset("Every 30 minutes", "*/30 * * * *"),
    Preset("Hourly", "0 * * * *"),
    Preset("Every 6 hours", "0 */6 * * *"),
    Preset("Daily at 09:00", "0 9 * * *"),
    Preset("Daily at midnight", "0 0 * * *"),
    Preset("Weekdays at 09:00", "0 9 * * 1-5"),
    Preset("Weekly on Monday", "0 9 * * 1"),
    Preset("Monthly on the 1st", "0 9 1 * *"),
)


def _same_words(expr: str) -> str:
    words = " ".join(expr.split()).lower()
    return ALIASES.get(words, words)


def preset_index(expr: str) -> int | None:
    """Which of PRESETS `expr` is, written any way the parser reads the same (`@daily`, `0  0 * * *`);
    None for a schedule no preset offers."""
    words = _same_words(expr)
    return next((i for i, p in enumerate(PRESETS) if _same_words(p.expr) == words), None)


SYNTAX_HELP = """\
Schedules (read in the job's time zone, an IANA name such as Europe/Berlin):

  cron, 5 fields      minute hour day-of-month month day-of-week
                        0 9 * * 1-5        09:00 Monday to Friday
                        */15 * * * *       every 15 minutes
                        30 2 1,15 * *      02:30 on the 1st and the 15th
  cron, 6 fields      seconds first:  */30 * * * * *   every 30 seconds
  in a field          * any   5 one   1-5 range   */5 or 1-30/5 or 5/15 steps   1,15 lists
                      jan-dec and sun-sat names; day-of-week 0-7 (0 and 7 are Sunday)
                      L last day of the month; 5L last Friday; 1#2 second Monday
  day rule            if both day fields are restricted a day matches either (OR);
                      a field starting with * (like */2) makes it AND
  aliases             @yearly @annually @monthly @weekly @daily @midnight @hourly
  intervals           every 30s | every 15m | every 2h | every 1d
                      (counted from 1970-01-01 00:00 UTC: every 15m is :00 :15 :30 :45)
  once                at 2026-12-24T09:00   at 2026-12-24 09:00:30
                      in 45s | in 20m | in 2h | in 1d   (stored as an 'at' time)
                      a time that repeats when clocks go back means its first pass;
                      add the offset for the second: at 2026-10-25T02:30+01:00

Daylight saving: a job at a fixed time runs once on the day clocks go back, and at the end
of the gap when they spring forward over it; jobs with * in the minute or hour follow the
real clock (an hourly job runs twice in a repeated hour).
"""
