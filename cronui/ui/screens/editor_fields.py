"""The job editor's rows and the names it gives its fields.

A problem found by the job rules names a field as the CLI spells it (`base-url`, `retry-delay`, with a hint
such as `(--tz)`); the editor shows it under the field it belongs to, named as the form labels it
(`Endpoint`, `Delay`, `Zone`), and without option names a person using the form never typed.
"""

from __future__ import annotations

import re
from typing import Any

from textual.containers import Horizontal
from textual.widgets import Input, Label, Select, Static

from cronui.jobs import JobError


def row(label: str, *widgets: Any, classes: str = "") -> Horizontal:
    return Horizontal(Label(label, classes="label"), *widgets, classes=f"row {classes}".strip())


# Where each problem is shown: JobError.field (the CLI's option names, or the editor's own labels) -> the
# id of the widget that holds it. "chain" (a cycle) goes to whichever chain field is filled in.
FIELD_WIDGETS = {
    "name": "name",
    "kind": "kind",
    "schedule": "schedule",
    "timezone": "timezone",
    "tz": "timezone",
    "shell": "command",
    "command": "command",
    "cwd": "cwd",
    "env": "env",
    "http": "url",
    "url": "url",
    "method": "method",
    "header": "headers",
    "headers": "headers",
    "body": "body",
    "expect status": "expect_status",
    "expect body": "expect_body",
    "agent": "base_url",
    "base url": "base_url",
    "model": "model",
    "api key env": "api_key_env",
    "message": "message",
    "system": "system",
    "overlap": "overlap",
    "queue limit": "queue_limit",
    "pool": "pool",
    "retries": "retries",
    "retry delay": "retry_delay",
    "timeout": "timeout",
    "misfire": "misfire",
    "misfire grace": "misfire_grace",
    "on success": "on_success",
    "on failure": "on_failure",
    "when": "when",
    "conversation": "conversation",
    "deliver": "deliver",
    "deliver to": "deliver_to",
    "deliver format": "deliver_format",
    "alert to": "alert_to",
    "tag": "tags",
    "tags": "tags",
    "fallback": "fallbacks",
    "fallbacks": "fallbacks",
    "tools": "tools",
    "gate": "gate",
    "max cost": "max_cost",
    "stagger": "stagger",
    "node label": "node_label",
    "notify retries": "notify_retries",
    "approval": "approval",
    "approval timeout": "approval_timeout",
    "approval default": "approval_default",
    "approval max waiting": "approval_max_waiting",
    "alert late": "alert_late",
    "alert overrun": "alert_overrun",
    "alert short": "alert_short",
    "alert no success": "alert_no_success",
    "alert rate": "alert_rate",
    "alert on": "alert_on",
    "check": "check",
    "grace": "grace",
    "starts": "starts",
    "ends": "ends",
}

# widget id -> the words the form shows beside it: what a problem with that field is called in the editor
LABELS = {
    "name": "Name",
    "kind": "Kind",
    "schedule": "Schedule",
    "timezone": "Zone",
    "command": "Command",
    "cwd": "Cwd",
    "env": "Env",
    "method": "Method",
    "url": "URL",
    "headers": "Headers",
    "body": "Body",
    "expect_status": "Expect status",
    "expect_body": "Expect body",
    "base_url": "Endpoint",
    "model": "Model",
    "api_key_env": "API key",
    "message": "Message",
    "system": "System",
    "conversation": "Chat",
    "fallbacks": "Fallbacks",
    "tools": "Tools",
    "gate": "Gate",
    "max_cost": "Max cost",
    "overlap": "Overlap",
    "queue_limit": "Queue",
    "pool": "Pool",
    "retries": "Retries",
    "retry_delay": "Delay",
    "timeout": "Timeout",
    "misfire": "Misfire",
    "misfire_grace": "Grace",
    "stagger": "Stagger",
    "node_label": "Node",
    "approval": "Approval",
    "approval_timeout": "Wait",
    "approval_default": "Then",
    "approval_max_waiting": "Up to",
    "on_success": "On success",
    "when": "When",
    "on_failure": "On failure",
    "deliver": "Deliver",
    "deliver_to": "Deliver to",
    "deliver_format": "Format",
    "alert_to": "Alert to",
    "notify_retries": "Notices",
    "alert_late": "Alert if late",
    "alert_overrun": "Alert if over",
    "alert_short": "Alert if short",
    "alert_no_success": "Alert if idle",
    "alert_rate": "Alert rate",
    "alert_on": "Alert on",
    "check": "Check",
    "grace": "Check grace",
    "starts": "Starts",
    "ends": "Ends",
    "tags": "Tags",
}

FIELD_WIDGETS.update({"param": "params", "params": "params", "param decl": "params"})  # run-time parameters
LABELS["params"] = "Params"

# the line under the fields that share a row (schedule and zone have their own check lines)
ERROR_LINES = {
    "kind": "name",
    "model": "base_url",
    "method": "url",
    "expect_body": "expect_status",
    "queue_limit": "overlap",
    "pool": "overlap",
    "retry_delay": "retries",
    "timeout": "retries",
    "misfire_grace": "misfire",
    "deliver_to": "deliver",
    "deliver_format": "deliver",
    "max_cost": "gate",
    "node_label": "stagger",
    "when": "on_success",
    "approval_timeout": "approval",
    "approval_default": "approval",
    "approval_max_waiting": "approval",
    "alert_overrun": "alert_late",
    "alert_short": "alert_late",
    "alert_no_success": "alert_rate",
    "alert_on": "alert_rate",
    "grace": "check",
}
CHECK_LINES = {"schedule": "schedule-check", "timezone": "zone-check"}

_OPTION_RE = re.compile(r"--([a-z][a-z-]*)")
_HINT_RE = re.compile(r"\s*\((?:--[a-z][a-z-]*(?:\s+or\s+|,\s*)?)+\)$")


def widget_of(field: str) -> str | None:
    """The widget that holds a field as the rules name it (`base-url`, `retry delay`, `--tz`)."""
    return FIELD_WIDGETS.get(field.lstrip("-").replace("-", " ").replace("_", " "))


def in_form_words(text: str, *, hints: bool = True) -> str:
    """`text` with the CLI's option names said as the form labels them (`--deliver-to` -> `Deliver to`);
    `hints=False`: a trailing hint that only names an option (`(--tz)`) is dropped (the field is marked)."""
    if not hints:
        text = _HINT_RE.sub("", text)

    def label(m: re.Match[str]) -> str:
        widget = widget_of(m.group(1))
        return LABELS.get(widget, m.group(0)) if widget else m.group(0)

    return _OPTION_RE.sub(label, text)


def problem_text(error: Exception, widget: str | None) -> str:
    """A problem as the editor says it: the field as labelled, then what is wrong with it."""
    if not isinstance(error, JobError):
        return in_form_words(str(error), hints=False)
    problem = in_form_words(error.problem)
    if error.field is None:
        return problem
    label = LABELS.get(widget or "") or LABELS.get(widget_of(error.field) or "")
    name = label or error.field.lstrip("-").replace("-", " ")
    return f"{name}: {problem}"


class FieldMaker:
    """Makes the editor's widgets from the form's values (one text per field)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def input(self, field: str, placeholder: str = "", **kw: Any) -> Input:
        return Input(str(self.values[field]), placeholder=placeholder, id=field, compact=True, **kw)

    def select(self, field: str, options: list[tuple[str, str]]) -> Select[str]:
        return Select(options, value=str(self.values[field]), id=field, allow_blank=False, compact=True)

    def error_line(self, field: str) -> Static:
        """The line under a row where its fields' problems are shown (hidden while there are none)."""
        return Static("", id=f"error-{field}", classes="field-error")
