"""The job editor's fields as text, and the job they make.

The editor shows every field as text (what a person types); this module turns a job into those texts
and back. Building a job collects a `JobError` for each field it cannot read, naming the field, with the same parsers
the CLI uses (`parse_duration`, `parse_env_pairs`); the full check (`jobs.validate`, chains) comes from the
engine's control (`Control.problems` before saving, and again when the job is saved), exactly as for
`cronui jobs add`.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import shlex
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from cronui import bounds, secrets
from cronui.alert_options import SPANS, parse_kinds, parse_rate, rate_text
from cronui.bounds import OutOfBounds
from cronui.config import Settings
from cronui.jobs import JobError, parse_duration, parse_env_pairs
from cronui.model import (
    DEFAULT_APPROVAL_MAX_WAITING,
    DEFAULT_APPROVAL_TIMEOUT_S,
    REJECT,
    Job,
    MisfirePolicy,
    OverlapPolicy,
    TargetKind,
)
from cronui.schedule import ScheduleError
from cronui.schedule.multi import display, from_field, stagger
from cronui.targets import (
    DEFAULT_DELIVERY_FORMAT,
    TARGET_TYPES,
    AgentTarget,
    Delivery,
    HttpTarget,
    ShellTarget,
    Target,
    retarget,
)
from cronui.timefmt import duration_field
from cronui.ui.param_field import params_text, parse_params
from cronui.ui.window_texts import WINDOW_FIELDS, read_window, window_texts

T = TypeVar("T")

TEXT_FIELDS = (
    "name schedule timezone command cwd env method url headers body expect_status base_url model api_key_env "
    "message system overlap queue_limit retries retry_delay timeout misfire misfire_grace pool on_success "
    "on_failure deliver deliver_to deliver_format alert_to tags description fallbacks gate max_cost stagger node_label"
).split()
TEXT_FIELDS += ["conversation", "when"]  # an agent's conversation (session:NAME); the on-success condition
TEXT_FIELDS += ["expect_body"]  # text an HTTP response must contain
TEXT_FIELDS += ["approval_timeout", "approval_default", "approval_max_waiting"]  # and `approval`, a checkbox
# what the job is expected to do and which kinds of its alerts are sent ('': the config's `[alerts]`)
WATCH_FIELDS = ["alert_late", "alert_overrun", "alert_short", "alert_no_success", "alert_rate", "alert_on"]
TEXT_FIELDS += WATCH_FIELDS
TEXT_FIELDS += ["tools"]  # what an agent job offers its model ("cronui")
TEXT_FIELDS += ["grace"]  # a check's grace ('': the default); `check` itself is a checkbox
TEXT_FIELDS += WINDOW_FIELDS  # the window its schedule fires in: times in its zone ('': no bound)
TEXT_FIELDS += ["params"]  # run-time parameters: `env=staging [staging|prod]; count:int=3` (ui/param_field.py)


def _words(text: str) -> list[str]:
    return [w for w in text.replace(",", " ").split() if w]


def form_from_job(job: Job | None, settings: Settings) -> dict[str, Any]:
    """The editor's initial values: the job's, or the defaults a new job gets from the CLI."""
    if job is None:
        return {
            **dict.fromkeys(TEXT_FIELDS, ""),
            "kind": TargetKind.SHELL,
            "schedule": "0 9 * * *",
            "timezone": settings.timezone,
            "method": "GET",
            "overlap": str(OverlapPolicy.SKIP),
            "queue_limit": "3",
            "retries": "0",
            "retry_delay": "30s",
            "timeout": duration_field(settings.default_timeout),
            "misfire": str(MisfirePolicy.RUN_ONCE),
            "misfire_grace": duration_field(settings.misfire_grace),
            "deliver": "never",
            "deliver_format": DEFAULT_DELIVERY_FORMAT,
            "notify_retries": False,
            "enabled": True,
            "approval": False,
            "approval_timeout": duration_field(DEFAULT_APPROVAL_TIMEOUT_S),
            "approval_default": REJECT,
            "approval_max_waiting": str(DEFAULT_APPROVAL_MAX_WAITING),
            "check": False,
        }
    t = job.target
    d = job.delivery
    shell = t if isinstance(t, ShellTarget) else ShellTarget()
    http = t if isinstance(t, HttpTarget) else HttpTarget()
    agent = t if isinstance(t, AgentTarget) else AgentTarget()
    return {
        "name": job.name,
        "kind": job.kind,
        "schedule": display(job.schedule),  # several schedules separated by ' ; '
        "timezone": job.timezone,
        "command": shell.command,
        "cwd": shell.cwd or "",
        "env": " ".join(shlex.quote(f"{k}={v}") for k, v in shell.env.items()),
        "method": http.method,
        "url": http.url,
        "headers": "; ".join(f"{k}: {v}" for k, v in (http.headers or agent.headers).items()),
        "body": http.body or "",
        "expect_status": str(http.expect_status or ""),
        "expect_body": http.expect_body or "",
        "base_url": agent.base_url,
        "model": agent.model,
        "api_key_env": agent.api_key_env or "",
        "message": agent.message,
        "system": agent.system or "",
        "fallbacks": " ".join(agent.fallbacks),
        "tools": " ".join(agent.tools),
        "gate": agent.gate or "",
        "max_cost": "" if agent.max_cost_usd is None else f"{agent.max_cost_usd:g}",
        "stagger": "",  # the offset a stagger chose is part of the schedule (`0 9 * * * +137s`)
        "node_label": job.node_label or "",
        "overlap": str(job.overlap),
        "queue_limit": str(job.queue_limit),
        "retries": str(job.max_retries),
        "retry_delay": duration_field(job.retry_delay_s),
        "timeout": duration_field(job.timeout_s),
        "misfire": str(job.misfire),
        "misfire_grace": duration_field(job.misfire_grace_s),
        "pool": job.pool or "",
        "on_success": ", ".join(job.on_success),
        "on_failure": ", ".join(job.on_failure),
        "conversation": agent.conversation if isinstance(t, AgentTarget) else "",
        "when": _common_when(job),
        "deliver": d.mode or "never",
        "deliver_to": d.to or "",
        "deliver_format": d.format,
        "alert_to": d.alert_to or "",
        "notify_retries": bool(d.notify_retries),
        "tags": " ".join(job.tags),
        "description": job.description,
        "enabled": job.enabled,
        "approval": job.approval,
        "approval_timeout": duration_field(job.approval_timeout_s),
        "approval_default": job.approval_default,
        "approval_max_waiting": str(job.approval_max_waiting),
        **_watch_texts(job),
        "check": job.is_check,
        "grace": "" if job.grace_s is None else duration_field(job.grace_s),
        **window_texts(job),
        "params": params_text(job.params),
    }


def _watch_texts(job: Job) -> dict[str, str]:
    out = {f"alert_{w}": "" if getattr(job, a) is None else duration_field(getattr(job, a)) for w, a, _ in SPANS}
    out["alert_rate"] = rate_text(job.alert_rate_pct, job.alert_rate_n) or ""
    out["alert_on"] = ", ".join(job.alert_on) if job.alert_on is not None else ""
    return out


def _apply_watch(job: Job, v: Mapping[str, str], p: _Problems) -> None:
    """The expectations from their texts; an empty one is the `[alerts]` default, one that cannot be read
    keeps the job's."""
    for word, attr, _ in SPANS:
        setattr(job, attr, p.read(_span_reader(v[f"alert_{word}"], word), getattr(job, attr)))
    rate: tuple[float | None, int | None] = (job.alert_rate_pct, job.alert_rate_n)
    job.alert_rate_pct, job.alert_rate_n = p.read(lambda: _rate(v["alert_rate"]), rate)
    job.alert_on = p.read(lambda: _kinds(v["alert_on"]), job.alert_on)


def _span_reader(text: str, word: str) -> Callable[[], float | None]:
    label = f"alert {word.replace('_', ' ')}"
    return lambda: parse_duration(text, label, bounds.POSITIVE_DURATION) if text else None


def _rate(text: str) -> tuple[float | None, int | None]:
    if not text:
        return None, None
    try:
        return parse_rate(text)
    except ValueError as e:
        raise JobError("alert rate", str(e)) from None


def _kinds(text: str) -> list[str] | None:
    try:
        return parse_kinds(text) if text else None
    except ValueError as e:
        raise JobError("alert on", str(e)) from None


def _common_when(job: Job | None) -> str:
    """The condition of the job's on-success chain, when its edges share one; '' when they have none or
    differ (a job file gave each edge its own: the field then leaves them as they are)."""
    if job is None:
        return ""
    conditions = {job.edge("on_success", name).when for name in job.on_success}
    return (conditions.pop() or "") if len(conditions) == 1 else ""


def _apply_when(job: Job, text: str, before: str) -> None:
    """The form's condition onto every edge of the on-success chain; an untouched field keeps each edge's
    own options. Edges the chain no longer names lose theirs."""
    if text != before:
        for name in job.on_success:
            job.set_edge("on_success", name, dataclasses.replace(job.edge("on_success", name), when=text or None))
    job.prune_edges()


def _int(text: str, field: str, lo: int, hi: int) -> int:
    try:
        n = int(text.strip() or "0")
    except ValueError:
        raise JobError(field, f"expected a whole number, got {text!r}") from None
    if not lo <= n <= hi:
        raise JobError(field, f"expected {lo} to {hi}, got {n}")
    return n


def _usd(text: str, field: str) -> float:
    try:
        return bounds.MAX_COST.parse(text)
    except OutOfBounds as e:
        raise JobError(field, str(e)) from None


def _staggered(schedule: str, name: str, text: str) -> str:
    """The schedule moved by the stagger window's offset for this name (`0s` removes an offset)."""
    try:
        return stagger(schedule, name, parse_duration(text, "stagger"))
    except ScheduleError as e:
        raise JobError("stagger", str(e)) from None


def _headers(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition(":")
        if not sep or not key.strip():
            raise JobError("headers", f"expected 'Name: value; Other: value', got {part.strip()!r}")
        out[key.strip()] = value.strip()
    return out


def _env(text: str) -> dict[str, str]:
    try:
        words = shlex.split(text)
    except ValueError as e:  # an unclosed quote
        raise JobError("env", str(e)) from None
    return parse_env_pairs(words, "env")


class _Problems:
    """The problems met while reading the form: each field that cannot be read keeps its old value and
    adds its JobError here, so every field is read and every problem reported at once."""

    def __init__(self) -> None:
        self.errors: list[JobError] = []

    def read(self, parse: Callable[[], T], default: T) -> T:
        try:
            return parse()
        except JobError as e:
            self.errors.append(e)
            return default

    def need(self, v: Mapping[str, str], key: str, problem: str) -> None:
        if not v[key]:
            self.errors.append(JobError(key.replace("_", " "), problem))


def _target(
    kind: TargetKind, v: Mapping[str, str], values: Mapping[str, Any], old: Target | None, p: _Problems
) -> Target:
    """The kind's target from the texts; fields the editor does not show are kept from `old` (same kind)."""
    if kind is TargetKind.SHELL:
        env: dict[str, str] = p.read(lambda: _env(v["env"]), {})
        return retarget(old, kind, command=str(values.get("command", "")), cwd=v["cwd"] or None, env=env)
    if kind is TargetKind.HTTP:
        p.need(v, "url", "say which URL to call")
        headers: dict[str, str] = p.read(lambda: _headers(v["headers"]), {})
        expect = None
        if v["expect_status"]:
            expect = p.read(lambda: _int(v["expect_status"], "expect status", 100, 599), None)
        return retarget(
            old,
            kind,
            method=(v["method"] or "GET").upper(),
            url=v["url"],
            headers=headers,
            body=v["body"] or None,
            expect_status=expect,
            expect_body=str(values.get("expect_body", "")) or None,
        )
    for key in ("base_url", "model", "message"):
        p.need(v, key, "needed for an agent job")
    max_cost = None
    if v["max_cost"]:
        max_cost = p.read(lambda: _usd(v["max_cost"], "max cost"), None)
    return retarget(
        old,
        kind,
        base_url=v["base_url"],
        model=v["model"],
        message=v["message"],
        api_key_env=v["api_key_env"] or None,
        system=v["system"] or None,
        fallbacks=_words(v["fallbacks"]),
        tools=_words(v["tools"]),
        gate=v["gate"] or None,
        max_cost_usd=max_cost,
        conversation=v["conversation"] or AgentTarget.conversation,
    )


def _delivery(v: Mapping[str, str], old: Delivery) -> Delivery:
    """The delivery settings from the texts; the alert thresholds the editor does not show are kept."""
    mode = v["deliver"] or "never"
    if mode == "never" and not v["deliver_to"] and not v["alert_to"]:
        return Delivery()
    if mode != "never" and not v["deliver_to"]:
        raise JobError("deliver to", "say where to post results (a webhook URL or ${env:NAME})")
    return dataclasses.replace(
        old,
        mode=mode,
        to=v["deliver_to"] or None,
        format=v["deliver_format"] or DEFAULT_DELIVERY_FORMAT,
        alert_to=v["alert_to"] or None,
    )


def form_job(values: Mapping[str, Any], base: Job | None) -> tuple[Job, list[JobError]]:
    """A job from the editor's texts (a copy of `base` when editing), and every field that could not be
    read, one JobError each, naming the field; such a field keeps its old value in the job."""
    p = _Problems()
    kind = TargetKind(values["kind"])
    job = (
        copy.deepcopy(base)
        if base is not None
        else Job(name="", schedule="", timezone="UTC", kind=kind, target=TARGET_TYPES[kind]())
    )
    job.name = str(values["name"]).strip()
    job.schedule = from_field(str(values["schedule"]))  # several separated by ';'
    job.timezone = str(values["timezone"]).strip()
    v = {k: str(values.get(k, "")).strip() for k in TEXT_FIELDS}
    job.target = _target(kind, v, values, job.target if job.kind is kind else None, p)
    job.kind = kind
    job.overlap = OverlapPolicy(v["overlap"] or "skip")
    job.queue_limit = p.read(lambda: _int(v["queue_limit"] or "3", "queue limit", 1, 10_000), job.queue_limit)
    job.max_retries = p.read(lambda: _int(v["retries"] or "0", "retries", 0, 100), job.max_retries)
    job.retry_delay_s = p.read(lambda: parse_duration(v["retry_delay"] or "30s", "retry delay"), job.retry_delay_s)
    job.timeout_s = p.read(lambda: parse_duration(v["timeout"] or "10m", "timeout"), job.timeout_s)
    job.misfire = MisfirePolicy(v["misfire"] or "run_once")
    job.misfire_grace_s = p.read(
        lambda: parse_duration(v["misfire_grace"] or "5m", "misfire grace"), job.misfire_grace_s
    )
    job.pool = v["pool"] or None
    job.node_label = v["node_label"] or None
    if v["stagger"]:
        job.schedule = p.read(lambda: _staggered(job.schedule, job.name, v["stagger"]), job.schedule)
    job.on_success = _words(v["on_success"])
    job.on_failure = _words(v["on_failure"])
    _apply_when(job, v["when"], _common_when(base))
    job.tags = _words(v["tags"])
    job.description = v["description"]
    job.delivery = p.read(lambda: _delivery(v, job.delivery), job.delivery)
    job.delivery = dataclasses.replace(job.delivery, notify_retries=bool(values.get("notify_retries")) or None)
    job.approval = bool(values.get("approval"))
    job.approval_timeout_s = p.read(
        lambda: parse_duration(v["approval_timeout"] or "1h", "approval timeout", bounds.POSITIVE_DURATION),
        job.approval_timeout_s,
    )
    job.approval_default = v["approval_default"] or REJECT
    job.approval_max_waiting = p.read(
        lambda: _int(
            v["approval_max_waiting"] or str(DEFAULT_APPROVAL_MAX_WAITING),
            "approval max waiting",
            bounds.APPROVAL_MAX_WAITING.lo,
            bounds.APPROVAL_MAX_WAITING.hi,
        ),
        job.approval_max_waiting,
    )
    _apply_watch(job, v, p)
    job.is_check = bool(values.get("check"))
    job.grace_s = p.read(
        lambda: parse_duration(v["grace"], "grace", bounds.POSITIVE_DURATION) if v["grace"] else None, job.grace_s
    )
    job.params = p.read(lambda: parse_params(v["params"]), job.params)
    enabled = bool(values.get("enabled", True))
    if base is None or enabled != base.enabled:
        job.enabled = enabled
    job.source = "tui" if base is None else job.source
    p.errors += read_window(job, v)
    return job, p.errors


def job_from_form(values: Mapping[str, Any], base: Job | None) -> Job:
    """A job from the editor's texts (a copy of `base` when editing); raises JobError naming the first
    field that cannot be read (`form_job` reports them all)."""
    job, errors = form_job(values, base)
    if errors:
        raise errors[0]
    return job


def missing_env(values: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[str]:
    """Variables the job refers to (`${env:NAME}`, the agent's API key variable) that this environment lacks."""
    env = os.environ if env is None else env
    kind = TargetKind(values["kind"])
    fields = {
        TargetKind.SHELL: ("command", "cwd", "env"),
        TargetKind.HTTP: ("url", "headers", "body"),
        TargetKind.AGENT: ("base_url", "message", "system"),
    }[kind]
    texts = [str(values.get(k, "")) for k in (*fields, "deliver_to", "alert_to")]
    out = secrets.missing(texts, env)
    key_var = str(values.get("api_key_env", "")).strip()
    if kind is TargetKind.AGENT and key_var and key_var not in env and key_var not in out:
        out.append(key_var)
    return out
