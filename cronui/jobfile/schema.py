"""The job-file format: its keys, the defaults a file may leave out, and what a read file becomes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cronui.jobfile.windows import WINDOW_KEYS
from cronui.model import (
    DEFAULT_APPROVAL_MAX_WAITING,
    DEFAULT_APPROVAL_TIMEOUT_S,
    REJECT,
    Job,
    MisfirePolicy,
    OverlapPolicy,
)
from cronui.targets import (
    DEFAULT_ALERT_AFTER,
    DEFAULT_ALERT_COOLDOWN_S,
    DEFAULT_DELIVERY_FORMAT,
    AgentTarget,
    HttpTarget,
    TargetKind,
)

SOURCE_PREFIX = "file:"
MAX_REPORTED = 25  # errors printed for one file; the rest are counted

KINDS = tuple(str(k) for k in TargetKind)  # the file's keys naming what a job runs

# Built-in defaults the engine applies when a key is absent. A file that leaves a key out gets these,
# and `export` leaves a key out when it equals one. (timezone, timeout and misfire_grace default to
# per-machine settings instead, so export always writes them.) Those of targets and delivery are
# cronui.targets'.
RETRIES = 0
RETRY_DELAY_S = 30.0
QUEUE_LIMIT = 3
HTTP_METHOD = HttpTarget.method
CONVERSATION = AgentTarget.conversation

# The keys of each target table: file key -> (target key, default). A None default means "not set".
HTTP_KEYS: dict[str, tuple[str, Any]] = {
    "url": ("url", None),
    "method": ("method", HTTP_METHOD),
    "headers": ("headers", {}),
    "body": ("body", None),
    "expect_status": ("expect_status", None),
    "expect_body": ("expect_body", None),
}
AGENT_KEYS: dict[str, tuple[str, Any]] = {
    "base_url": ("base_url", None),
    "model": ("model", None),
    "message": ("message", None),
    "system": ("system", None),
    "api_key_env": ("api_key_env", None),
    "conversation": ("conversation", CONVERSATION),
    "max_tokens": ("max_tokens", None),
    "temperature": ("temperature", None),
    "headers": ("headers", {}),
    "extra": ("extra", {}),
    "idle_timeout": ("idle_timeout_s", None),
    "stream": ("stream", True),
    "keep_turns": ("keep_turns", None),
    "fallbacks": ("fallbacks", []),
    "gate": ("gate", None),
    "max_cost": ("max_cost_usd", None),
    "daily_budget": ("daily_budget_usd", None),
    "tools": ("tools", []),
}
# The keys of a chain edge written as a table (`on_success = [{job = "publish", when = "contains:READY"}]`);
# an edge's further options (`approval`) join here and in model.ChainEdge.
EDGE_KEYS = ("job", "when", "approval")
SHELL_KEYS: dict[str, tuple[str, Any]] = {"shell": ("command", None), "cwd": ("cwd", None), "env": ("env", {})}
DELIVERY_KEYS: dict[str, tuple[str, Any]] = {
    "deliver": ("mode", None),  # filled in by _delivery_view: "always" with a target, else "never"
    "deliver_to": ("to", None),
    "deliver_format": ("format", DEFAULT_DELIVERY_FORMAT),
    "alert_to": ("alert_to", None),
    "alert_after": ("alert_after", DEFAULT_ALERT_AFTER),
    "alert_cooldown": ("alert_cooldown_s", DEFAULT_ALERT_COOLDOWN_S),
    "notify_retries": ("notify_retries", False),
}

# what the job is expected to do and which kinds of its alerts are sent (absent: the config's `[alerts]`)
WATCH_KEYS = ("alert_late", "alert_overrun", "alert_short", "alert_no_success", "alert_rate", "alert_on")
# approvals: each new run waits for `cronui runs approve` (`approval = true`), up to `approval_timeout`
APPROVAL_KEYS = ("approval", "approval_timeout", "approval_default", "approval_max_waiting")
# checks: watched, never run (`check = true`); a slot with no ping `grace` after it is missed
CHECK_KEYS = ("check", "grace")
# retry rules (cronui.retry_rules): lists of exit codes (shell) or statuses (http) worth a retry
RULE_KEYS = ("retry_on_exit", "no_retry_on_exit", "retry_on_status")
# calendars (`[calendars.NAME]` in the config): days whose slots are skipped, or the only days that run
CALENDAR_KEYS = ("skip_calendar", "only_calendar")
# run-time parameters (`[job.params]`): declared here, given by `jobs run --param K=V` (cronui.model.params)
RUN_PARAM_KEYS = ("params",)
JOB_KEYS = (
    "name",
    "description",
    "schedule",
    "timezone",
    "stagger",
    "enabled",
    "shell",
    "cwd",
    "env",
    "http",
    "agent",
    "timeout",
    "retries",
    "retry_delay",
    "overlap",
    "queue_limit",
    "misfire",
    "misfire_grace",
    "pool",
    "node_label",
    "on_success",
    "on_failure",
    "tags",
    *DELIVERY_KEYS,
    *WATCH_KEYS,
    *APPROVAL_KEYS,
    *CHECK_KEYS,
    *RULE_KEYS,
    *CALENDAR_KEYS,
    *WINDOW_KEYS,
    *RUN_PARAM_KEYS,
)
DURATION_KEYS = frozenset(
    {"timeout", "retry_delay", "misfire_grace", "alert_cooldown", "agent.idle_timeout", "stagger", "approval_timeout"}
    | {"alert_late", "alert_overrun", "alert_short", "alert_no_success"}
    | {"grace"}
)
# Keys a view holds that equal these are left out of an export.
EXPORT_DEFAULTS: dict[str, Any] = {
    "description": "",
    "enabled": True,
    "retries": RETRIES,
    "retry_delay": RETRY_DELAY_S,
    "overlap": str(OverlapPolicy.SKIP),
    "queue_limit": QUEUE_LIMIT,
    "misfire": str(MisfirePolicy.RUN_ONCE),
    "deliver_format": DEFAULT_DELIVERY_FORMAT,
    "alert_after": DEFAULT_ALERT_AFTER,
    "alert_cooldown": DEFAULT_ALERT_COOLDOWN_S,
    "notify_retries": False,
    "http.method": HTTP_METHOD,
    "agent.conversation": CONVERSATION,
    "agent.stream": True,
    "agent.fallbacks": [],
    "agent.tools": [],
    "approval": False,
    "approval_timeout": DEFAULT_APPROVAL_TIMEOUT_S,
    "approval_default": REJECT,
    "approval_max_waiting": DEFAULT_APPROVAL_MAX_WAITING,
    "check": False,
}
# Fields as `jobs.validate` names them (the CLI's options) -> the file's key; others only swap - for _.
_FIELD_TO_KEY = {
    "retry-delay": "retry_delay",
    "queue-limit": "queue_limit",
    "misfire-grace": "misfire_grace",
    "tag": "tags",
    "on-success": "on_success",
    "on-failure": "on_failure",
    "when": "on_success",
    "http": "http.url",
    "method": "http.method",
    "header": "http.headers",
    "expect-status": "http.expect_status",
    "agent": "agent.base_url",
    "model": "agent.model",
    "message": "agent.message",
    "api-key-env": "agent.api_key_env",
    "conversation": "agent.conversation",
    "max-tokens": "agent.max_tokens",
    "temperature": "agent.temperature",
    "idle-timeout": "agent.idle_timeout",
    "keep-turns": "agent.keep_turns",
    "agent-headers": "agent.headers",
    "stream": "agent.stream",
    "extra": "agent.extra",
    "fallback": "agent.fallbacks",
    "gate": "agent.gate",
    "max-cost": "agent.max_cost",
    "daily-budget": "agent.daily_budget",
    "tools": "agent.tools",
    "deliver-to": "deliver_to",
    "deliver-format": "deliver_format",
    "alert-to": "alert_to",
    "alert-after": "alert_after",
    "approval-timeout": "approval_timeout",
}
_FIELD_TO_KEY.update({"param": "params", "param-decl": "params"})  # run-time parameters


def file_key(field: str | None) -> str:
    """The file's key for a field named in a `JobError`; "job" for a problem about no single field."""
    if field is None:
        return "job"
    return _FIELD_TO_KEY.get(field, field.replace("-", "_"))


class JobFileError(ValueError):
    """A job file cannot be applied. `problems` holds one line per problem, each naming the file,
    the job and the key, so a user can fix them all in one pass instead of one per run."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{self.problems[0]}{more}" if self.problems else "invalid job file")


@dataclass
class FileJob:
    """One `[[job]]` table, read and validated."""

    job: Job
    index: int  # 1-based position in the file
    line: int | None  # the line of its `[[job]]` header, when known
    explicit: frozenset[str]  # the keys the file wrote (a missing `enabled` leaves the state alone)

    def where(self, display: str) -> str:
        """`file:line` of its `[[job]]` header, or just the file when the line is not known."""
        return f"{display}:{self.line}" if self.line else display


@dataclass
class JobFile:
    display: str  # the path as the user gave it, for messages
    source: str  # "file:" + the absolute path, recorded on every job applied from it
    jobs: list[FileJob]
    now_ms: int = 0  # when it was read: one-shot schedules are judged against it


def source_for(path: str | os.PathLike[str]) -> str:
    """`file:` + the absolute path, not the resolved one: a deploy that swaps a `current` symlink keeps
    its jobs' source stable, so --prune still recognizes them."""
    return SOURCE_PREFIX + os.path.abspath(path)
