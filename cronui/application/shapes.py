"""Jobs, runs and events as JSON: the contract `--json`, the API and every later face print, built here once.
A job is shown with its literal credentials masked (`cronui.masking`); the text is strict JSON (`json_text`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cronui.alert_options import rate_text
from cronui.application.schedule_view import window_json
from cronui.controls import escape_json_text
from cronui.masking import mask_entry, masked_delivery, masked_target
from cronui.model import Job, Run, RunEvent, RunStatus
from cronui.model.params import decls_to_dict
from cronui.model.records import JobHead
from cronui.retry_rules import rules_json
from cronui.schedule.multi import schedule_value
from cronui.targets import to_dict
from cronui.timefmt import iso_utc

if TYPE_CHECKING:
    from cronui.application.runs import RunView

UNKNOWN_OWNER = "unknown"  # the owner shown of a job created before owners were recorded
TIME_KEYS = {"scheduled_for", "not_before", "deadline"}  # an event's data values that are instants


def job_json(job: Job | JobHead, *, full: bool = False, health: str | None = None) -> dict[str, Any]:
    """A job as `jobs list --json` shows it (a JobHead holds all that takes), or `full` as `jobs show --json`:
    every face shows a job so, with its literal credentials masked (cronui.masking). `health` (application.
    watch) is shown when given."""
    out: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "schedule": schedule_value(job.schedule),  # a string, or a list of several
        "timezone": job.timezone,
        "kind": str(job.kind),
        "enabled": job.enabled,
        "next_run_at": iso_utc(job.next_run_at),
        "last_status": str(job.last_status) if job.last_status else None,
        # who created it (`cli:USER@HOST`, `api:TOKEN`, ...); `unknown` for a job older than owners
        "owner": job.owner or UNKNOWN_OWNER,
    }
    if health is not None:
        out["health"] = health
    if full:
        assert isinstance(job, Job), "the full form needs the whole job"
        out.update(
            description=job.description,
            auto_disabled=job.auto_disabled,
            target=masked_target(to_dict(job.target, keep_none=True)),
            overlap=str(job.overlap),
            queue_limit=job.queue_limit,
            misfire=str(job.misfire),
            misfire_grace_s=job.misfire_grace_s,
            pool=job.pool,
            node_label=job.node_label,
            retries=job.max_retries,
            retry_delay_s=job.retry_delay_s,
            timeout_s=job.timeout_s,
            on_success=job.on_success,
            on_failure=job.on_failure,
            delivery=masked_delivery(to_dict(job.delivery)),
            chain_options=job.chain_options_dict(),  # per edge: {"on_success": {"JOB": {"when": "contains:X"}}}
            tags=job.tags,
            source=job.source,
            consecutive_failures=job.consecutive_failures,
            approval=job.approval,
            approval_timeout_s=job.approval_timeout_s,
            approval_default=job.approval_default,
            approval_max_waiting=job.approval_max_waiting,
            alert_late_s=job.alert_late_s,  # the job's own expectations (None: `[alerts]`; see `alerts`)
            alert_overrun_s=job.alert_overrun_s,
            alert_short_s=job.alert_short_s,
            alert_no_success_s=job.alert_no_success_s,
            alert_rate=rate_text(job.alert_rate_pct, job.alert_rate_n),
            alert_on=job.alert_on,
            check=bool(job.is_check),  # watched, never run: pings report its runs
            grace_s=job.check_grace_s,  # a check's slot with no ping this long after it is missed (null: no check)
            delete_after_run=bool(job.delete_after_run),  # removed once a run of it ends for good (a follow-up)
            skip_calendar=list(job.skip_calendar),  # `[calendars.NAME]` names: their days' slots are skipped
            only_calendar=list(job.only_calendar),  # when any: the only days whose slots run
            paused_until=iso_utc(job.paused_until),  # a timed pause: slots before it are skipped (null: none)
            **window_json(job),  # starts / ends: the window its schedule fires in, wall times in its zone
            created_at=iso_utc(job.created_at),
            updated_at=iso_utc(job.updated_at),
        )
        out.update(rules_json(job))  # retry_on_exit, no_retry_on_exit, retry_on_status (null: not set)
        out["params"] = params_decl_json(job)  # run-time parameters: {"env": {"default": "staging", ...}}
    return out


class JobListText:
    """The job list (`job_json` of each head, with its health) as the JSON text of one array, as `json_text`
    writes it without indent. Each job's piece is kept while its head and health are the same, so a list
    asked for again renders only the jobs that changed: at 10,000 jobs building and encoding every object
    was most of an answer. The pieces kept are those of the latest list only (no more than the jobs), and
    they are kept as they are while nothing changed (10,000 new keys kept on every answer would each outlive
    a few garbage collections, and make the full ones, which walk all that lives, come often)."""

    def __init__(self) -> None:
        self._pieces: dict[tuple[Any, ...], str] = {}

    def render(self, heads: Sequence[JobHead], health: Mapping[int, str], default: str) -> str:
        kept = self._pieces
        parts: list[str] = []
        for head in heads:
            piece = kept.get(self._key(head, health, default))
            if piece is None:
                return self._render_anew(heads, health, default)
            parts.append(piece)
        if len(parts) != len(kept):  # a job gone: its piece is not kept on
            return self._render_anew(heads, health, default)
        return "[" + ", ".join(parts) + "]"

    def _render_anew(self, heads: Sequence[JobHead], health: Mapping[int, str], default: str) -> str:
        kept = self._pieces
        pieces: dict[tuple[Any, ...], str] = {}
        for head in heads:
            key = self._key(head, health, default)
            piece = kept.get(key)
            if piece is None:
                piece = json_text(job_json(head, health=key[-1]), indent=None)
            pieces[key] = piece
        self._pieces = pieces
        return "[" + ", ".join(pieces.values()) + "]"

    @staticmethod
    def _key(head: JobHead, health: Mapping[int, str], default: str) -> tuple[Any, ...]:
        shown = health.get(head.id, default) if head.id is not None else default
        return (*vars(head).values(), shown)  # every field a head has, so a field added later counts too


def params_decl_json(job: Job) -> dict[str, Any]:
    """The params a job declares, as a job file writes them; a default that is a credential masked."""
    out = decls_to_dict(job.params)
    for name, decl in out.items():
        if "default" in decl:
            decl["default"] = mask_entry(name, decl["default"])
    return out


def params_json(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """The values a run ran with (null: none recorded), each credential masked (by its name or shape)."""
    return None if values is None else {name: mask_entry(name, value) for name, value in values.items()}


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "job": run.job_name,
        "status": str(run.status),
        "trigger": str(run.trigger),
        "attempt": run.attempt,
        "scheduled_for": iso_utc(run.scheduled_for),
        "queued_at": iso_utc(run.queued_at),
        "started_at": iso_utc(run.started_at),
        "finished_at": iso_utc(run.finished_at),
        "duration_ms": run.duration_ms,
        "exit_code": run.exit_code,
        "signal": run.signal,
        "error": run.error,
        "failure_kind": str(run.failure_kind) if run.failure_kind else None,  # infra | job on a failed run
        "reason": run.reason,
        # slots this row stands for that were passed over: a skipped row's count, none for a run that ran
        "missed_count": run.missed_count if run.status is RunStatus.SKIPPED else 0,
        "output": run.output,
        "stderr": run.stderr,
        "output_bytes": run.output_bytes,
        "stderr_bytes": run.stderr_bytes,
        "milestones": [{"name": m.name, "at": iso_utc(m.at), "data": m.data} for m in run.milestones],
        "node": run.node,
        "retry_of": run.retry_of,
        "triggered_by": run.triggered_by,
        "requested_by": run.requested_by,  # who asked for it (run now), as a job's owner is named; null otherwise
        "http_status": run.http_status,
        "tokens": None
        if run.total_tokens is None
        else {
            "prompt_tokens": run.prompt_tokens,
            "completion_tokens": run.completion_tokens,
            "total_tokens": run.total_tokens,
        },
        "cost_usd": run.cost_usd,
        "cost_source": run.cost_source,
        "model": run.answered_by,
        "models_failed": run.models_failed,
        "tool_calls": run.tool_calls,
        "delivery_status": run.delivery_status,
        "approval": approval_json(run),
        "params": params_json(run.params),  # the values of its job's params it ran with (null: none recorded)
    }


def approval_json(run: Run) -> dict[str, Any] | None:
    """A run's approval: while it waits, its deadline and default; once decided, who decided and when;
    None for a run that never waited for one."""
    asked = next((m for m in run.milestones if m.name == "approval-requested"), None)
    if asked is None and run.approval_deadline is None:
        return None
    decided = next((m for m in reversed(run.milestones) if m.name in ("approved", "rejected")), None)
    return {
        "deadline": iso_utc(run.approval_deadline),
        "default": run.approval_default,
        "notice": run.approval_notice,
        "decision": decided.name if decided else None,
        "decided_by": decided.data.get("by") if decided else None,
        "decided_at": iso_utc(decided.at) if decided else None,
    }


def logs_json(view: RunView) -> dict[str, Any]:
    """A run's output so far (`GET /runs/ID/logs`)."""
    run = view.run
    return {"id": run.id, "job": run.job_name, "status": str(run.status), "stdout": view.stdout, "stderr": view.stderr}


def event_json(ev: RunEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"ts": iso_utc(ev.at), "event": str(ev.kind)}
    if ev.id is not None:
        out["id"] = ev.id
    if ev.job_name:
        out["job"] = ev.job_name
    if ev.run_id is not None:
        out["run"] = ev.run_id
    if ev.name:
        out["name"] = ev.name
    for key, value in ev.data.items():
        out.setdefault(key, data_value(key, value))
    return out


def data_value(key: str, value: Any) -> Any:
    """An event's data value as shown: the instants among them as ISO-8601 text."""
    return iso_utc(value) if key in TIME_KEYS and isinstance(value, int) else value


def json_safe(value: Any) -> Any:
    """`value` with every float that is not finite as None: JSON has no inf or nan (a job stored before
    numbers were checked can hold one), and scripts reading the output must still parse it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def json_text(value: Any, indent: int | None = 2) -> str:
    """Strict JSON: non-finite numbers as null, and C1 controls escaped (json escapes C0)."""
    try:  # the value as it is; walked for non-finite numbers only when it holds one (10,000 jobs' worth is slow)
        text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(json_safe(value), indent=indent, ensure_ascii=False, allow_nan=False)
    return escape_json_text(text)
