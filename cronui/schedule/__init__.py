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
    multi      several schedules per job (a JSON list) and a start/end window: `parse` and `describe`
               here take a job's stored schedule text
    dst        what a clock change does to a fire, in words for next-fires lists
"""

from cronui.schedule.errors import ScheduleError
from cronui.schedule.multi import describe, parse
from cronui.schedule.plan import Schedule
from cronui.schedule.readings import PRESETS, SYNTAX_HELP, Preset
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
