"""How jobs and runs are shown outside the engine: the JSON contract and short human texts."""

from __future__ import annotations

import html
import re
from typing import Any

from cronui.controls import neutralise
from cronui.masking import mask_text, masked_delivery, masked_target
from cronui.model import EventKind, Job, Run, RunEvent, RunStatus
from cronui.model.records import JobHead
from cronui.targets import to_dict
from cronui.timefmt import human_span, iso_utc


def job_state(job: Job, paused: bool = False) -> str:
    """Why a job is (not) running, in a word or a phrase."""
    if job.auto_disabled:
        return f"auto-disabled: {job.auto_disabled}"
    if not job.enabled:
        return "disabled"
    if paused:
        return "paused"
    if job.next_run_at is None:
        return "done"
    return "enabled"


JOB_LINE_HEADER = f"{'NAME':<24} {'SCHEDULE':<18} {'ZONE':<18} {'KIND':<6} {'STATE':<10} {'LAST':<11} NEXT (UTC)"


def job_line(job: Job, paused: bool) -> str:
    """One row of `cronui jobs list`, under JOB_LINE_HEADER."""
    nxt = iso_utc(job.next_run_at) or "—"
    last = str(job.last_status) if job.last_status else "—"
    state = job_state(job, paused)
    return f"{job.name:<24} {job.schedule:<18} {job.timezone:<18} {job.kind!s:<6} {state:<10} {last:<11} {nxt}"


SUMMARY_CAP = 120  # characters of an error's summary
_HTTP_HEAD = re.compile(r"HTTP \d{3}\b")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def error_summary(error: str | None) -> str:
    """An error in one short line: its first line; of an HTTP error that quotes the response body, the
    status and the body's first line of text (an HTML page's title). The whole error stays on the run."""
    if not error or not error.strip():
        return ""
    head, sep, body = error.partition(": ")
    if sep and _HTTP_HEAD.match(head):
        body = body.strip()
        if body.startswith("<"):
            title = _TITLE.search(body)
            body = html.unescape(" ".join(_TAG.sub(" ", title.group(1) if title else body).split()))
        first = next((line.strip() for line in body.splitlines() if line.strip()), "")
        line = f"{head}: {first}" if first else head
    else:
        line = next(line.strip() for line in error.splitlines() if line.strip())
    return line if len(line) <= SUMMARY_CAP else line[: SUMMARY_CAP - 1] + "…"


RUN_LINE_HEADER = (
    f"{'RUN':<8} {'JOB':<24} {'STATUS':<17} {'TRIGGER':<9} {'#':>2} {'STARTED (UTC)':<25} {'DURATION':>8}  NOTE"
)


def run_line(run: Run) -> str:
    """One line for a run, as `cronui runs list` prints it (under RUN_LINE_HEADER)."""
    started = iso_utc(run.started_at or run.scheduled_for) or ""
    extra = error_summary(run.error) or run.reason or ""
    return (
        f"#{run.id:<7} {run.job_name:<24} {run.status!s:<17} {run.trigger!s:<9} {run.attempt:>2} "
        f"{started:<25} {human_span(run.duration_ms):>8}  {extra}"
    ).rstrip()


def usage_line(run: Run) -> str | None:
    """An agent run's tokens and cost (`cost unknown` when no price is known, never $0), or None."""
    if run.total_tokens is None and run.cost_usd is None:
        return None
    cost = "unknown" if run.cost_usd is None else f"${run.cost_usd:.6f}"
    if run.cost_usd is not None and run.cost_source:
        cost += f" ({run.cost_source})"
    return f"tokens in {run.prompt_tokens} · out {run.completion_tokens} · total {run.total_tokens} · cost {cost}"


def delivery_line(run: Run) -> str | None:
    """Where the result went: delivered, failed (with why) or suppressed; None when the job delivers nothing."""
    if not run.delivery_status:
        return None
    return f"delivery {run.delivery_status}" + (f": {run.delivery_reason}" if run.delivery_reason else "")


def job_target_text(job: Job) -> str:
    """What a job runs, in a line, with literal credentials masked (a URL's password, a token)."""
    return mask_text(job.target.summary())


def job_json(job: Job | JobHead, *, full: bool = False) -> dict[str, Any]:
    """A job as `jobs list --json` shows it (a JobHead holds all that takes), or `full` as `jobs show --json`:
    every face shows a job so, with its literal credentials masked (cronui.masking)."""
    out: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "schedule": job.schedule,
        "timezone": job.timezone,
        "kind": str(job.kind),
        "enabled": job.enabled,
        "next_run_at": iso_utc(job.next_run_at),
        "last_status": str(job.last_status) if job.last_status else None,
    }
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
            created_at=iso_utc(job.created_at),
            updated_at=iso_utc(job.updated_at),
        )
    return out


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


STATUS_MARK = {
    RunStatus.PENDING: "…",
    RunStatus.RUNNING: "▶",
    RunStatus.SUCCEEDED: "✔",
    RunStatus.FAILED: "✖",
    RunStatus.TIMED_OUT: "⏱",
    RunStatus.SKIPPED: "»",  # passed over (an arrow that turns back would read as "retrying")
    RunStatus.CANCELLED: "⊘",
    RunStatus.INTERRUPTED: "↯",
    RunStatus.AWAITING_APPROVAL: "⚑",  # a flag up: someone has to say yes or no
}


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
        out.setdefault(key, _data_value(key, value))
    return out


_TIME_KEYS = {"scheduled_for", "not_before", "deadline"}


def milestone_data_text(data: dict[str, Any]) -> str:
    """A milestone's data as `key=value` words on one line; nested values (the request as sent) are left
    to the JSON forms and the run's detail."""
    return " ".join(
        f"{k}={' '.join(str(_data_value(k, v)).split())}" for k, v in data.items() if not isinstance(v, dict | list)
    )


def _data_value(key: str, value: Any) -> Any:
    """An event's data value as shown: the instants among them as ISO-8601 text."""
    return iso_utc(value) if key in _TIME_KEYS and isinstance(value, int) else value


def event_text(ev: RunEvent) -> str:
    """One human line for an event, for `--log-format text` and `runs tail`."""
    ts = iso_utc(ev.at)
    who = ev.job_name + (f" #{ev.run_id}" if ev.run_id is not None else "")
    d = ev.data
    kind = str(ev.kind)
    if ev.kind is EventKind.MILESTONE:
        extra = milestone_data_text(d)
        detail = f"{ev.name} {extra}".strip()
    elif ev.kind is EventKind.OUTPUT:
        text = str(d.get("text", "")).rstrip("\n")
        detail = f"[{ev.name}] " + text.replace("\n", "\n" + " " * 28 + "| ")
    elif ev.kind is EventKind.FINISHED:
        parts = [str(d.get("status", ""))]
        if d.get("duration_ms") is not None:
            parts.append(human_span(d["duration_ms"]))
        if d.get("reason"):
            parts.append(str(d["reason"]))
        if d.get("error"):
            parts.append(str(d["error"]))
        detail = " · ".join(parts)
    elif ev.kind is EventKind.RETRY_SCHEDULED:
        detail = f"attempt {d.get('attempt')} at {iso_utc(d.get('not_before'))}"
    else:
        detail = " ".join(f"{k}={_data_value(k, v)}" for k, v in d.items())
    # job output and errors may hold escape sequences: shown visibly, never acted on by a terminal
    return neutralise(f"{ts}  {kind:<16} {who}  {detail}".rstrip())
