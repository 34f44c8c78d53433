"""The job editor's window rows (`Starts`, `Ends`: times in the job's zone, '' for no bound) under the zone, and
the schedule the next-fires preview reads with them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Input

from cronui.schedule import Schedule, ScheduleError, parse
from cronui.schedule.window import parse_time
from cronui.ui.screens.editor_fields import FieldMaker, row

WINDOW_PLACEHOLDER = "e.g. 2026-04-01T09:00 (empty: none)"


def window_fields(f: FieldMaker) -> ComposeResult:
    yield row("Starts", f.input("starts", placeholder=WINDOW_PLACEHOLDER))
    yield f.error_line("starts")
    yield row("Ends", f.input("ends", placeholder=WINDOW_PLACEHOLDER))
    yield f.error_line("ends")


def windowed(screen: Screen[object], sched: Schedule, zone: str) -> Schedule:
    """`sched` inside the window typed so far (a bound that does not read yet is left out of the preview;
    saving names it)."""
    bounds: list[int | None] = []
    for field in ("starts", "ends"):
        text = screen.query_one(f"#{field}", Input).value.strip()
        try:
            bounds.append(parse_time(text, zone) if text else None)
        except ScheduleError:
            bounds.append(None)
    if bounds == [None, None]:
        return sched
    try:
        return parse(sched.expr, zone, starts_ms=bounds[0], ends_ms=bounds[1])
    except ScheduleError:  # an end before the start: saving says so
        return sched
