"""Schedules: parsing, validation, plain-English readings and next fire instants.

Three kinds of schedule are accepted (see ``SYNTAX_HELP``): cron expressions with Debian cron's
semantics in an IANA zone, fixed intervals, and one-shots. Every instant crossing this package's
boundary is a UTC epoch in integer milliseconds.

    errors     ScheduleError, the one error every bad schedule or zone raises
    zones      IANA zone lookup; each zone's UTC-offset transitions
    fields     cron fields read and validated, the day rule, aliases
    cron       next cron fire: croniter for wall times, the daylight-saving layer around it
    intervals  ``every``, ``at`` and ``in``
    syntax     which kind a text is (read once, cached)
    plan       Schedule and parse: next_after / next_n
    readings   plain English, presets and the syntax help
"""

from cronui.schedule.errors import ScheduleError
from cronui.schedule.plan import Schedule, parse
from cronui.schedule.readings import PRESETS, SYNTAX_HELP, Preset, describe
from cronui.schedule.syntax import ScheduleKind
from cronui.schedule.zones import all_zones, get_zone, zone_known

__all__ = [
    "PRESETS",
    "SYNTAX_HELP",
    "Preset",
    "Schedule",
    "ScheduleError",
    "ScheduleKind",
    "all_zones",
    "describe",
    "get_zone",
    "parse",
    "zone_known",
]
