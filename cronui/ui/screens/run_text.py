"""A run put into words for its detail screen: the head (status, timing, lateness), the output pane's
titles and the facts (result, error, request, tokens, tools, delivery); the milestone timeline is
`cronui.ui.widgets.timeline`. Pure functions of the run; colours come from the widget the text is for
(`StatusStyles`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

from rich.style import Style
from rich.text import Text

from cronui.cost import context_text
from cronui.model import REASON_GATE, FailureKind, Job, Milestone, Run, RunStatus, TargetKind
from cronui.present import error_summary, params_text
from cronui.timefmt import human_span
from cronui.ui.times import clock_span, full_time, lateness, same_day_time
from cronui.ui.widgets.run_table import cost_text, trigger_text
from cronui.ui.widgets.table import MARK, StatusStyles

DIM = "status--dim"
DELIVERY_STATUS = {"delivered": RunStatus.SUCCEEDED, "failed": RunStatus.FAILED}
LABEL_WIDTH = 9


def bytes_text(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


def head_text(run: Run, job: Job | None, now: int, zone: str, styles: StatusStyles, width: int = 0) -> Text:
    """The job, the run and its status with its clock; then trigger, attempt and times, wrapped to `width`
    between its parts, never inside one ("(late 21" / "ms)"). Start and end on the scheduled day show
    their time alone: the date and zone are the scheduled time's."""
    style = styles.status_style(run.status)
    dim = styles.component_style(DIM)
    line1 = Text(no_wrap=True, overflow="ellipsis")
    line1.append(run.job_name or f"job {run.job_id}", "bold")
    line1.append(f" › run #{run.id}   ", dim)
    line1.append(f"{MARK[run.status]} {run.status}", style + Style(bold=True))
    if run.status is RunStatus.RUNNING and run.started_at is not None:
        line1.append(f" {clock_span(now - run.started_at)}", style)
    elif run.duration_ms is not None:
        line1.append(f" in {human_span(run.duration_ms)}", style)
    parts = [f"trigger {trigger_text(run, None) if run.attempt > 1 else run.trigger}"]
    if run.requested_by:
        parts.append(f"requested by {run.requested_by}")
    if run.params:
        parts.append(f"params {params_text(run.params)}")
    attempts = (job.max_retries + 1) if job else None
    parts.append(f"attempt {run.attempt}/{attempts}" if attempts else f"attempt {run.attempt}")
    parts.append(f"scheduled {full_time(run.scheduled_for, zone)}")
    if run.started_at is not None:
        late = lateness(run.scheduled_for, run.started_at)
        started = same_day_time(run.started_at, run.scheduled_for, zone)
        parts.append(f"started {started}" + (f" ({late})" if late else ""))
    if run.finished_at is not None:
        parts.append(f"finished {same_day_time(run.finished_at, run.scheduled_for, zone)}")
    if run.node:
        parts.append(f"node {run.node}")
    lines = [Text(line, dim, no_wrap=True, overflow="ellipsis") for line in packed(parts, " · ", width)]
    return Text("\n").join([line1, *lines])


def packed(parts: list[str], sep: str, width: int) -> list[str]:
    """The parts joined by `sep` into lines no wider than `width` (0: one line), a part never split."""
    lines: list[str] = []
    for part in parts:
        if lines and (not width or len(lines[-1]) + len(sep) + len(part) <= width):
            lines[-1] += sep + part
        else:
            lines.append(part)
    return lines


def output_titles(run: Run, job: Job | None, *, following: bool, search: str, matches: int) -> tuple[str, str]:
    """The output pane's title (what it holds, whether it follows) and subtitle (cut output, or search)."""
    noun = "Reply" if job is not None and job.kind is TargetKind.AGENT else "Output"
    if following:
        title = f"{noun} (following — l to stop)"
    elif not run.status.is_final:
        title = f"{noun} (l to follow)"
    else:
        title = noun
    if run.output_bytes > len(run.output.encode()) or run.stderr_bytes > len(run.stderr.encode()):
        subtitle = f"{bytes_text(run.output_bytes)} stdout · {bytes_text(run.stderr_bytes)} stderr, head and tail kept"
    elif search:
        subtitle = f"/{search}: {matches} match{'es' if matches != 1 else ''}"
    else:
        subtitle = ""
    return title, subtitle


def _request_text(req: Mapping[str, object]) -> str:
    desc = " ".join(str(req[k]) for k in ("method", "url") if req.get(k)) or json.dumps(req, ensure_ascii=False)[:200]
    body = req.get("body")
    model = req.get("model") or (body.get("model") if isinstance(body, Mapping) else None)
    if model:
        desc += f"  model {model}"
    return desc


# where a run's cost came from (the usage-calculated milestone's cost_source), as the facts say it
COST_SOURCES = {"prices": "from [prices]", "gateway": "from the gateway", "table": "from the price table"}
# why a run was skipped, said plainly where the reason word alone does not
REASONS = {
    REASON_GATE: "gate: the check found nothing to do (exit 1), no model was asked",
    "budget": "budget: the daily budget is spent, no model was asked",
}


def _tokens_text(run: Run, context: int | None) -> str:
    """In, out and total; against the model's context window when it is known."""
    text = f"in {run.prompt_tokens or 0:,} · out {run.completion_tokens or 0:,} · total {run.total_tokens or 0:,}"
    return text + (f" {context_text(run.total_tokens or 0, context)}" if context else "")


def _cost_text(run: Run) -> str:
    """The run's cost and where it came from; "unknown" (never $0) when nothing priced it."""
    if run.cost_usd is None:
        return "unknown"
    source = COST_SOURCES.get(run.cost_source or "")
    return cost_text(run.cost_usd) + (f" ({source})" if source else "")


def _model_rows(run: Run, styles: StatusStyles) -> list[tuple[str, Text | str]]:
    """Which model answered, and each model that failed before it with its error (fallbacks)."""
    rows: list[tuple[str, Text | str]] = []
    failed = run.models_failed
    if run.answered_by and (failed or run.cost_source):
        rows.append(("model", f"answered by {run.answered_by}" + (" (a fallback)" if failed else "")))
    for f in failed:
        error = error_summary(str(f.get("error") or "no error recorded"))
        rows.append(("failed", Text(f"{f.get('model') or '?'}: {error}", styles.status_style(RunStatus.FAILED))))
    return rows


def _session_and_chain_rows(run: Run, styles: StatusStyles) -> list[tuple[str, Text | str]]:
    """The shared conversation the run talked in (`session:NAME`, with the messages it sent), and each
    chain its condition held back, with why."""
    rows: list[tuple[str, Text | str]] = []
    setup = run.milestone_data("setup-completed")
    conversation = str(setup.get("conversation") or "")
    if conversation.startswith("session:"):
        sent = setup.get("messages")
        rows.append(("session", conversation.removeprefix("session:") + (f" · {sent} messages sent" if sent else "")))
    for m in run.milestones:
        if m.name == "chain-not-fired":
            why = f"{m.data.get('job', '?')} not started: {m.data.get('reason') or 'its condition did not match'}"
            rows.append(("chain", Text(why, styles.status_style(RunStatus.SKIPPED))))
    return rows


def fact_rows(
    run: Run, styles: StatusStyles, milestones: list[Milestone] | None = None, context: int | None = None
) -> list[tuple[str, Text | str]]:
    """(label, value) for each fact the run has; `milestones` are what it said so far while it runs
    (a finished run carries its own); `context`: the answering model's context window, when known."""
    if milestones is not None and not run.milestones:
        run = replace(run, milestones=milestones)
    rows: list[tuple[str, Text | str]] = []
    outcome: list[str] = []
    if run.exit_code is not None:
        outcome.append(f"exit code {run.exit_code}")
    if run.signal is not None:
        outcome.append(f"signal {run.signal}")
    if run.http_status is not None:
        outcome.append(f"HTTP {run.http_status}")
    if outcome:
        rows.append(("result", " · ".join(outcome)))
    if run.error:
        summary = error_summary(run.error)
        more = " (v: in full)" if summary != run.error.strip() else ""
        rows.append(("error", Text(summary + more, styles.status_style(RunStatus.FAILED))))
        if run.failure_kind is FailureKind.INFRA:  # the endpoint was down, not the job: said apart
            rows.append(("failure", "infra: its endpoint could not be reached (not counted against the job)"))
    elif run.reason:
        rows.append(("reason", Text(REASONS.get(run.reason, run.reason), styles.component_style(DIM))))
    if run.request:
        rows.append(("request", _request_text(run.request)))
    rows += _model_rows(run, styles)
    rows += _session_and_chain_rows(run, styles)
    if run.total_tokens is not None:  # a row each: together they did not fit 80 columns
        rows.append(("tokens", _tokens_text(run, context)))
    if run.total_tokens is not None or run.cost_usd is not None:
        rows.append(("cost", _cost_text(run)))
    if run.tool_calls:
        calls = [
            f"{c.get('name', '?')} {json.dumps(c.get('arguments', ''), ensure_ascii=False)[:60]}"
            for c in run.tool_calls
        ]
        rows.append(("tools", f"{len(calls)}: " + " · ".join(calls)))
    if run.delivery_status:
        st = run.delivery_status
        style = styles.status_style(DELIVERY_STATUS.get(st, RunStatus.SKIPPED))
        rows.append(("delivery", Text(st + (f" — {run.delivery_reason}" if run.delivery_reason else ""), style)))
    if run.summary:
        rows.append(("summary", run.summary))
    return rows


def facts_text(
    run: Run, styles: StatusStyles, milestones: list[Milestone] | None = None, context: int | None = None
) -> Text:
    """The facts, one labelled line each (empty when there are none)."""
    lines: list[Text] = []
    for label, value in fact_rows(run, styles, milestones, context):
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{label:<{LABEL_WIDTH}}", "bold")
        line.append_text(value if isinstance(value, Text) else Text(value))
        lines.append(line)
    return Text("\n").join(lines)


# ---------------------------------------------------------------- the details view (`v`)

SETTINGS_SKIPPED = {"model", "messages", "stream", "stream_options", "url"}
INDENT = "  "


def sent_request(run: Run, milestones: list[Milestone]) -> dict[str, object] | None:
    """The request as sent, in one shape (method, url, headers, body): the run's own record once it has
    ended, else what its setup-completed / request-sent milestone carried (texts cut there)."""
    if run.request:
        return dict(run.request)
    for m in reversed(milestones):
        req = m.data.get("request")
        if not isinstance(req, dict):
            continue
        if "command" in req:  # a shell run's: the command, where it ran, the variables the job set
            return dict(req)
        if "messages" in req:  # an agent's: the body itself, with the URL it went to
            body = {k: v for k, v in req.items() if k != "url"}
            return {"method": "POST", "url": req.get("url", ""), "headers": {}, "body": body}
        return {"method": m.data.get("method", ""), "url": m.data.get("url", ""), **req}
    return None


def _indented(text: str, depth: int = 1) -> list[str]:
    pad = INDENT * depth
    return [pad + line for line in text.splitlines()] or [pad]


def _pretty(value: object) -> str:
    """A body or arguments as read best: JSON indented, other text as it came."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if not isinstance(parsed, dict | list):
            return value
        value = parsed
    return json.dumps(value, indent=2, ensure_ascii=False)


def _agent_body(body: Mapping[str, object]) -> list[str]:
    lines = [f"model     {body.get('model', '?')}"]
    settings = [f"{k} {v}" for k, v in body.items() if k not in SETTINGS_SKIPPED]
    lines.append("settings  " + (" · ".join(settings) if settings else "the server's defaults"))
    messages = body.get("messages")
    if isinstance(messages, list):
        lines += ["", f"MESSAGES ({len(messages)}, as rendered)"]
        for msg in messages:
            if isinstance(msg, dict):
                lines.append(f"── {msg.get('role', '?')} ──")
                content = msg.get("content")
                lines += _indented(content if isinstance(content, str) else _pretty(content))
    return lines


def details_text(run: Run, milestones: list[Milestone], context: int | None = None) -> str:
    """What the `v` view shows: the request as sent (agent: model, settings, the messages as rendered;
    HTTP: method, URL, headers, body), the reply's tool calls with their arguments, tokens and the whole
    error. Secrets were masked before any of it was recorded."""
    lines: list[str] = []
    req = sent_request(run, milestones)
    if req is None:
        lines += ["REQUEST", "  nothing recorded (none was sent, or not yet)"]
    elif "command" in req:
        lines += ["COMMAND (run with /bin/sh -c)", *_indented(str(req["command"]))]
        lines.append(f"cwd       {req.get('cwd', '')}")
        env = req.get("env")
        lines.append(
            "env       " + (" ".join(map(str, env)) if isinstance(env, list) and env else "none set by the job")
        )
    else:
        lines += ["REQUEST", f"{req.get('method', '')} {req.get('url', '')}".strip()]
        headers = req.get("headers")
        if isinstance(headers, dict) and headers:
            lines.append("headers")
            lines += [f"{INDENT}{k}: {v}" for k, v in headers.items()]
        body = req.get("body")
        if isinstance(body, dict) and "messages" in body:
            lines += _agent_body(body)
        elif body not in (None, ""):
            lines.append("body")
            lines += _indented(_pretty(body))
        answered = req.get("response_headers")
        if isinstance(answered, dict) and answered:
            lines.append("response headers")
            lines += [f"{INDENT}{k}: {v}" for k, v in answered.items()]
    if run.tool_calls:
        lines += ["", f"TOOL CALLS ({len(run.tool_calls)})"]
        for call in run.tool_calls:
            lines.append(f"── {call.get('name', '?')} ──")
            lines += _indented(_pretty(call.get("arguments", "")))
    if run.total_tokens is not None or run.prompt_tokens is not None:
        lines += ["", "TOKENS"]
        lines.append(
            _tokens_text(run, context) + (f" · cost {cost_text(run.cost_usd)}" if run.cost_usd is not None else "")
        )
    if run.error:
        lines += ["", "ERROR", *run.error.splitlines()]
    return "\n".join(lines)
