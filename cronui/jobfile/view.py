"""A job in file terms: flat `key -> value` pairs with every default filled in (what plans compare and
export writes), and those values shown in file notation with literal secrets masked."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from cronui.alert_options import SPANS, rate_text
from cronui.jobfile.params import params_view
from cronui.jobfile.schema import AGENT_KEYS, DELIVERY_KEYS, DURATION_KEYS, HTTP_KEYS, RULE_KEYS, SHELL_KEYS
from cronui.jobfile.windows import schedule_view
from cronui.masking import mask_entry, mask_text, mask_webhook
from cronui.model import Job
from cronui.secrets import MASK, REF
from cronui.targets import AgentTarget, Delivery, HttpTarget, ShellTarget, to_dict
from cronui.timefmt import duration_spec

_CHOICES = {"method", "overlap", "misfire", "deliver", "delivery.format", "conversation", "schedule", "timezone"}


def _norm_table(
    target: Mapping[str, Any], keys: Mapping[str, tuple[str, Any]], prefix: str, unknown_prefix: str | None = None
) -> dict[str, Any]:
    """A target in file terms with defaults filled in and unset values left out, so a sparse target
    saved by the CLI and a full one read from a file compare equal."""
    out: dict[str, Any] = {}
    known = set()
    for file_key, (target_key, default) in keys.items():
        known.add(target_key)
        value = target.get(target_key)
        if value is None:
            value = copy.deepcopy(default)
        if value is None or value == {}:
            continue
        if isinstance(value, dict):
            for k in sorted(value):
                if value[k] is not None:
                    out[f"{prefix}{file_key}.{k}"] = value[k]
        else:
            out[f"{prefix}{file_key}"] = value
    for key in sorted(set(target) - known):  # fields this format does not know yet: kept visible
        if target[key] is not None:
            out[f"{unknown_prefix if unknown_prefix is not None else prefix}{key}"] = target[key]
    return out


def _delivery_view(d: Delivery) -> dict[str, Any]:
    if d == Delivery():  # none set: no delivery keys at all
        return {}
    out = _norm_table(to_dict(d), DELIVERY_KEYS, "", "delivery.")
    out["deliver"] = d.mode or "never"
    return out


def _edge_view(job: Job, chain: str, name: str) -> str | dict[str, Any]:
    edge = job.edge(chain, name)
    return name if edge.is_plain else {"job": name, **edge.to_dict()}


def view(job: Job) -> dict[str, Any]:
    """A job as flat `key -> value` pairs in file terms (dotted keys for tables), defaults filled in:
    two jobs with equal views behave the same, whatever shape their dicts were saved in."""
    out: dict[str, Any] = {
        "name": job.name,
        "description": job.description,
        **schedule_view(job),  # schedule (a string, or a list of several), starts, ends
        "timezone": job.timezone,
        "enabled": job.enabled,
    }
    target = job.target
    if isinstance(target, ShellTarget):
        out.update(_norm_table(to_dict(target), SHELL_KEYS, "", "shell."))
    elif isinstance(target, HttpTarget):
        t = to_dict(target)
        if isinstance(t.get("method"), str):
            t["method"] = t["method"].upper()
        out.update(_norm_table(t, HTTP_KEYS, "http."))
        out.setdefault("http.url", "")  # marks the kind even for a malformed stored target
    elif isinstance(target, AgentTarget):
        out.update(_norm_table(to_dict(target), AGENT_KEYS, "agent."))
        out.setdefault("agent.base_url", "")
    out.update(
        {
            "timeout": float(job.timeout_s),
            "retries": job.max_retries,
            "retry_delay": float(job.retry_delay_s),
            "overlap": str(job.overlap),
            "queue_limit": job.queue_limit,
            "misfire": str(job.misfire),
            "misfire_grace": float(job.misfire_grace_s),
        }
    )
    if job.pool:
        out["pool"] = job.pool
    if job.node_label:
        out["node_label"] = job.node_label
    for key in ("on_success", "on_failure"):  # an edge with options is a table: { job = "x", when = "..." }
        if getattr(job, key):
            out[key] = [_edge_view(job, key, name) for name in getattr(job, key)]
    if job.tags:
        out["tags"] = list(job.tags)
    out.update(_delivery_view(job.delivery))
    out.update(watch_view(job))
    out.update(
        {
            "approval": job.approval,
            "approval_timeout": float(job.approval_timeout_s),
            "approval_default": job.approval_default,
            "approval_max_waiting": job.approval_max_waiting,
            "check": job.is_check,
        }
    )
    if job.grace_s is not None:
        out["grace"] = float(job.grace_s)
    out.update({rule: list(getattr(job, rule)) for rule in RULE_KEYS if getattr(job, rule) is not None})
    for key in ("skip_calendar", "only_calendar"):
        if getattr(job, key):
            out[key] = list(getattr(job, key))
    out.update(params_view(job))
    return out


def watch_view(job: Job) -> dict[str, Any]:
    """The expectations and alert kinds the job sets itself (an unset one is the `[alerts]` default, and an
    export leaves it out, so the job keeps following the config)."""
    out: dict[str, Any] = {}
    for word, attr, _ in SPANS:
        if getattr(job, attr) is not None:
            out[f"alert_{word}"] = float(getattr(job, attr))
    if (rate := rate_text(job.alert_rate_pct, job.alert_rate_n)) is not None:
        out["alert_rate"] = rate
    if job.alert_on is not None:
        out["alert_on"] = list(job.alert_on)
    return out


def show_value(key: str, value: Any) -> str:
    """A value in file notation for the diff: strings quoted (newlines escaped, so one change is one
    line), durations as 10m. Literal credentials are masked as every face masks them (cronui.masking), since
    diffs end up in CI logs: header and env values that are credentials by name or by shape, the secret
    parts of other texts (a URL's password, a token), and the path of webhook URLs (a Slack or Discord
    webhook URL is itself the secret). `${env:NAME}` references are shown: they hold no secret."""
    if value is None:
        return "(unset)"
    if key in DURATION_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
        shown = duration_spec(float(value))
        return shown if isinstance(shown, str) else f"{shown}s"
    if isinstance(value, str) and not REF.fullmatch(value.strip()):
        parts = key.split(".")
        if (len(parts) == 3 and parts[1] == "headers") or (len(parts) == 2 and parts[0] == "env"):
            value = mask_entry(parts[-1], value)
        elif key in ("deliver_to", "alert_to"):
            value = mask_webhook(value)
        elif key not in _CHOICES:
            value = mask_text(value)
        if value == MASK:
            return MASK
    return json.dumps(value, ensure_ascii=False)


def json_value(key: str, value: Any) -> Any:
    """A value for `--json` output: durations as in a file, literal secrets masked as in the diff."""
    if key in DURATION_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
        return duration_spec(float(value))
    if isinstance(value, str):
        shown = show_value(key, value)
        return MASK if shown == MASK else json.loads(shown)
    return value
