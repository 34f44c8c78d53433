"""Short human texts for jobs, runs and events, shared by the faces that show text (the CLI, the TUI, the
daemon's log). Their JSON shapes are the application layer's (`cronui.application.shapes`)."""

from __future__ import annotations

import html
import re
from typing import Any

from cronui.application.shapes import data_value, params_decl_json, params_json
from cronui.controls import neutralise
from cronui.masking import mask_text
from cronui.model import EventKind, Job, Run, RunEvent, RunStatus, params
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


JOB_LINE_HEADER = (
    f"{'NAME':<24} {'SCHEDULE':<18} {'ZONE':<18} {'KIND':<6} {'STATE':<10} {'LAST':<11} {'HEALTH':<10} NEXT (UTC)"
)


def job_line(job: Job, paused: bool, health: str) -> str:
    """One row of `cronui jobs list`, under JOB_LINE_HEADER (`health`: see application.watch)."""
    nxt = iso_utc(job.next_run_at) or "—"
    last = str(job.last_status) if job.last_status else "—"
    state = job_state(job, paused)
    head = f"{job.name:<24} {job.schedule:<18} {job.timezone:<18} {job.kind!s:<6} {state:<10} {last:<11}"
    return f"{head} {health:<10} {nxt}"


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


def milestone_data_text(data: dict[str, Any]) -> str:
    """A milestone's data as `key=value` words on one line; nested values (the request as sent) are left
    to the JSON forms and the run's detail."""
    return " ".join(
        f"{k}={' '.join(str(data_value(k, v)).split())}" for k, v in data.items() if not isinstance(v, dict | list)
    )


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
        detail = " ".join(f"{k}={data_value(k, v)}" for k, v in d.items())
    # job output and errors may hold escape sequences: shown visibly, never acted on by a terminal
    return neutralise(f"{ts}  {kind:<16} {who}  {detail}".rstrip())


def params_text(values: dict[str, Any] | None) -> str:
    """The values of a run's params in one line (`env=prod · count=5`), credentials masked; '' for none."""
    shown = params_json(values) or {}
    return " · ".join(f"{name}={neutralise(params.text(value))}" for name, value in shown.items())


def declared_text(job: Job) -> str:
    """The params a job declares in one line: `env=staging (staging|prod) · count:int (required)`."""
    parts = []
    for name, decl in params_decl_json(job).items():
        kind = decl.get("type", "str")
        part = name if kind == "str" else f"{name}:{kind}"
        if "default" in decl:
            part += f"={params.text(decl['default'])}"
        if "choices" in decl:
            part += f" ({'|'.join(params.text(c) for c in decl['choices'])})"
        parts.append(neutralise(part + (" (required)" if "default" not in decl else "")))
    return " · ".join(parts)
