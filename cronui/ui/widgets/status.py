"""Run statuses on screen, in one place for every widget: their marks, their colours (theme variables, via
component classes) and the outcome strip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text

from cronui.model import RunStatus
from cronui.present import STATUS_MARK

MARK: dict[RunStatus, str] = {
    **STATUS_MARK,
    RunStatus.TIMED_OUT: "✖",  # the hourglass is an emoji in many fonts: two cells wide, or missing
}
"""The status marks of the CLI, with the ones that render badly in terminals and SVG fonts replaced."""

RETRY_MARK = "↻"
"""A pending run that is a retry: waiting for its backoff (plain pending runs wait for a slot: "…")."""

STATUS_CLASS: dict[str, str] = {
    RunStatus.SUCCEEDED: "status--succeeded",
    RunStatus.FAILED: "status--failed",
    RunStatus.TIMED_OUT: "status--failed",
    RunStatus.INTERRUPTED: "status--failed",
    RunStatus.RUNNING: "status--running",
    RunStatus.PENDING: "status--running",
    RunStatus.SKIPPED: "status--skipped",
    RunStatus.CANCELLED: "status--skipped",
    RunStatus.AWAITING_APPROVAL: "status--warning",
}
"""The component class of each status (keyed by the status, which also finds its text: "failed")."""

DIM = "status--dim"
WARNING = "status--warning"

STATUS_COLOURS: dict[str, str] = {
    "status--succeeded": "$run-succeeded",
    "status--failed": "$run-failed",
    "status--running": "$run-running",
    "status--skipped": "$run-skipped",
    DIM: "$text-muted",
    WARNING: "$warning",
}
"""The theme variable that colours each status component class."""


HEALTH_MARK: dict[str, str] = {
    "ok": "✔",
    "late": "!",
    "overrun": "▲",
    "failing": "✖",
    "degraded": "▼",
    "no_success": "∅",
    "paused": "‖",
    "never_ran": "·",
}
"""A job's health (model.alerts.HEALTHS) as one cell: marks that every terminal font draws one cell wide."""

HEALTH_CLASS: dict[str, str] = {
    "ok": "status--succeeded",
    "failing": "status--failed",
    "late": WARNING,
    "overrun": WARNING,
    "degraded": WARNING,
    "no_success": WARNING,
    "paused": DIM,
    "never_ran": DIM,
}
"""The component class (so the theme's colour) of each health: red for failing, the warning colour for
an expectation missed, dim for a job that is off or has not run yet."""


def health_mark(health: str | None, styles: StatusStyles) -> Text:
    """The health's mark and a space, in its colour (where there is no room for its word)."""
    if health is None:
        return Text("  ")
    # the colour on the mark alone (a Text's own style would colour what is appended to it)
    return Text().append(f"{HEALTH_MARK.get(health, '?')} ", styles.component_style(HEALTH_CLASS.get(health, DIM)))


def health_cell(health: str | None, styles: StatusStyles) -> Text:
    """`✔ ok`, `◷ late`, ... in the health's colour; nothing while the health is not known yet."""
    if health is None:
        return Text("")
    style = styles.component_style(HEALTH_CLASS.get(health, DIM))
    return Text(f"{HEALTH_MARK.get(health, '?')} {health.replace('_', ' ')}", style, no_wrap=True)


def status_class(status: RunStatus | str | None) -> str:
    """The component class for a status or its text; anything else (no status, a milestone's name) is dim."""
    return STATUS_CLASS.get(status, DIM) if status is not None else DIM


def status_css(type_name: str) -> str:
    """The rules that colour the status component classes, for the DEFAULT_CSS of widget type `type_name`
    (a mixin's own DEFAULT_CSS would not count: Textual reads CSS along the first widget base only)."""
    return "".join(f"    {type_name} > .{name} {{ color: {var}; }}\n" for name, var in STATUS_COLOURS.items())


class StatusStyles:
    """Run-status colours from the theme variables, via component classes, cached per theme. A mixin for
    widgets: add `COMPONENT_CLASSES` to theirs and `status_css(...)` to their DEFAULT_CSS."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(STATUS_COLOURS)

    _status_cache: dict[str, Style]
    _status_theme: str

    def status_style(self, status: RunStatus | str | None) -> Style:
        return self.component_style(status_class(status))

    def component_style(self, name: str) -> Style:
        theme = self.app.theme  # type: ignore[attr-defined]
        if getattr(self, "_status_theme", None) != theme:
            self._status_cache = {}
            self._status_theme = theme
        style = self._status_cache.get(name)
        if style is None:
            # the colour as blended over the widget's background (theme colours may be translucent or
            # "auto"), without a background of its own, so a cursor row's background still shows
            full = self.get_component_rich_style(name)  # type: ignore[attr-defined]
            partial = self.get_component_rich_style(name, partial=True)  # type: ignore[attr-defined]
            style = self._status_cache[name] = Style.from_color(full.color) + partial.without_color
        return style


def strip_cells(statuses: Sequence[RunStatus], styles: StatusStyles, length: int = 20) -> Text:
    """The last outcomes as a strip of bars, newest on the right: tall for success, low for the rest."""
    text = Text(no_wrap=True)
    for status in statuses[-length:]:
        glyph = (
            "▇"
            if status is RunStatus.SUCCEEDED
            else ("▃" if status in (RunStatus.SKIPPED, RunStatus.CANCELLED) else "▁")
        )
        text.append(glyph, styles.status_style(status))
    return text
