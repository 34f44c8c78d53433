"""The selected job in words, under its runs: what it runs, then why it is off or how it has been doing
(runs, success rate, median and p95 duration), and what it has used (tokens, cost)."""

from __future__ import annotations

from rich.text import Text

from cronui.model import Job
from cronui.model.records import JobStats
from cronui.present import job_target_text
from cronui.timefmt import human_span
from cronui.ui.widgets.run_table import cost_text
from cronui.ui.widgets.table import StatusStyles
from cronui.ui.window_texts import window_words

WEEK_MS = 7 * 86_400_000


def stats_text(stats: JobStats) -> str:
    """How the job has been doing: runs, success rate, median and p95 duration."""
    if not stats.runs:
        return ""
    parts = [f"{stats.runs:,} run{'s' if stats.runs != 1 else ''}"]
    if stats.success_rate is not None:
        parts.append(f"success {stats.success_rate:.0%}")
    if stats.median_ms is not None:
        parts.append(f"median {human_span(stats.median_ms)}")
    if stats.p95_ms is not None:
        parts.append(f"p95 {human_span(stats.p95_ms)}")
    return " · ".join(parts)


def usage_text(stats: JobStats, week: JobStats | None) -> str:
    """What the job has used (agent jobs): tokens and cost, all time and the last 7 days."""
    parts: list[str] = []
    if stats.total_tokens:
        parts.append(f"{stats.total_tokens:,} tokens")
    if stats.cost_usd is not None:
        cost = f"cost {cost_text(stats.cost_usd)}"
        if week is not None and week.cost_usd is not None:
            cost += f" · 7d {cost_text(week.cost_usd)}"
        parts.append(cost)
    return " · ".join(parts)


def job_info_text(job: Job, stats: JobStats | None, styles: StatusStyles, now_ms: int | None = None) -> Text:
    """Two lines: the target; then auto-disabled or disabled (and how to undo it), or the stats."""
    dim = styles.component_style("status--dim")
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{job.kind} ", "bold")
    text.append(job_target_text(job), dim)
    text.append("\n")
    if job.auto_disabled:
        text.append(f"auto-disabled: {job.auto_disabled} — space enables it", styles.status_style("failed"))
    elif not job.enabled:
        text.append("disabled — space enables it", styles.component_style("status--warning"))
    else:
        window = window_words(job, now_ms) if now_ms is not None else None  # "ends in 3 days"
        text.append(" · ".join(filter(None, [window, stats_text(stats) if stats is not None else ""])), dim)
    return text
