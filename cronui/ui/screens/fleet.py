"""The whole fleet at a glance (`:overview`, `o`): every job's success rate, runs and failures over time,
tokens and cost, over the last 24 hours, 7 days or 30 days; the worst jobs first: worst health (failing,
late, ...), then most failures.

One store query (`fleet`: finished runs per job and time bucket) fills it; the table is built off the
numbers alone (`overview_table`), so it is tested without a screen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from cronui.model import Job, RunStatus
from cronui.model.records import FleetBucket
from cronui.ui.catalog import HEALTH_RANK
from cronui.ui.messages import JobsChanged
from cronui.ui.screens.base import CronuiScreen
from cronui.ui.screens.bindings import BACK
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.prompt import Prompt, PromptBar
from cronui.ui.widgets.run_table import cost_text
from cronui.ui.widgets.status import StatusStyles, health_cell, health_mark
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.workers import spawn

HOUR = 3_600_000
SHOWN = 300  # jobs listed at most (the worst first); the rest are counted


@dataclass(frozen=True)
class Window:
    label: str
    span_ms: int
    bucket_ms: int


WINDOWS = (
    Window("24 h", 24 * HOUR, HOUR),
    Window("7 d", 7 * 24 * HOUR, 6 * HOUR),
    Window("30 d", 30 * 24 * HOUR, 24 * HOUR),
)
BARS = "▁▂▃▄▅▆▇█"


@dataclass
class JobLine:
    """One job over the window."""

    job_id: int
    name: str
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    per_bucket: dict[int, FleetBucket] = field(default_factory=dict)
    health: str | None = None  # as last read (None: not known yet)

    @property
    def success_rate(self) -> float | None:
        return None if self.runs == 0 else self.succeeded / self.runs

    def badness(self) -> tuple[int, float, float, str]:
        """Sort key, worst first: worst health (model.alerts.HEALTHS' order), then most failures, then lowest
        success rate; jobs without runs last among their health."""
        rate = self.success_rate
        rank = HEALTH_RANK.get(self.health or "", len(HEALTH_RANK))
        return (rank, -self.failed, 2.0 if rate is None else rate, self.name)


def job_lines(
    buckets: Sequence[FleetBucket], jobs: Mapping[int, Job], health: Mapping[int, str] | None = None
) -> list[JobLine]:
    """Every live job (with or without runs in the window), worst first."""
    health = health or {}
    lines = {job_id: JobLine(job_id, job.name, health=health.get(job_id)) for job_id, job in jobs.items()}
    for b in buckets:
        line = lines.get(b.job_id)
        if line is None:
            continue  # a removed job's history
        line.runs += b.runs
        line.succeeded += b.succeeded
        line.failed += b.failed
        line.tokens += b.tokens
        if b.cost_usd is not None:
            line.cost_usd = (line.cost_usd or 0.0) + b.cost_usd
        line.per_bucket[b.bucket] = b
    return sorted(lines.values(), key=JobLine.badness)


def activity(line: JobLine, starts: Sequence[int], styles: StatusStyles) -> Text:
    """Runs per bucket as bars (height: runs against the job's busiest bucket), red where any failed."""
    peak = max((b.runs for b in line.per_bucket.values()), default=0)
    text = Text(no_wrap=True)
    for start in starts:
        b = line.per_bucket.get(start)
        if b is None or peak == 0:
            text.append("·", styles.status_style(None))
            continue
        bar = BARS[min(len(BARS) - 1, (b.runs * len(BARS) - 1) // peak)]
        text.append(bar, styles.status_style(RunStatus.FAILED if b.failed else RunStatus.SUCCEEDED))
    return text


def bucket_starts(window: Window, now_ms: int) -> list[int]:
    """The window's buckets, aligned to whole buckets (UTC), the last one holding now."""
    count = window.span_ms // window.bucket_ms
    last = (now_ms // window.bucket_ms) * window.bucket_ms
    return [last - (count - 1 - i) * window.bucket_ms for i in range(count)]


OTHER_COLUMNS = 62  # what the columns other than the activity bars take, with a job name of 16
HEALTH_COLUMN = 13  # the health in words, from this many columns more than the others need; else a mark
WORDS_FROM = 100  # the health in a column of its own (in words) from this width; narrower, a mark by the name


def overview_table(
    lines: Sequence[JobLine], window: Window, starts: Sequence[int], styles: StatusStyles, width: int = 200
) -> Table:
    """The table; on a narrow screen the activity shows the newest buckets that fit, and each job's health
    is a mark before its name rather than words in a column."""
    words = width >= WORDS_FROM
    starts = starts[-max(6, width - OTHER_COLUMNS - (HEALTH_COLUMN if words else 2)) :]
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
    table.add_column("Job", no_wrap=True, ratio=3, overflow="ellipsis", min_width=16)
    if words:
        table.add_column("Health", no_wrap=True, min_width=12)
    table.add_column("Success", justify="right", no_wrap=True)
    table.add_column("Runs", justify="right", no_wrap=True)
    table.add_column("Failed", justify="right", no_wrap=True)
    table.add_column(f"Runs per {_bucket_name(window)}", no_wrap=True, min_width=len(starts))
    table.add_column("Tokens", justify="right", no_wrap=True)
    table.add_column("Cost/day", justify="right", no_wrap=True)
    days = window.span_ms / (24 * HOUR)
    for line in lines[:SHOWN]:
        rate = line.success_rate
        rate_text = Text("—" if rate is None else f"{rate:.0%}")
        if rate is not None:
            rate_text.stylize(styles.status_style(RunStatus.SUCCEEDED if rate >= 0.99 else RunStatus.FAILED))
        failed = Text(str(line.failed), styles.status_style(RunStatus.FAILED) if line.failed else "")
        health = health_cell(line.health, styles)
        name = [line.name, health] if words else [health_mark(line.health, styles) + line.name]
        table.add_row(
            *name,
            rate_text,
            f"{line.runs:,}",
            failed,
            activity(line, starts, styles),
            f"{line.tokens:,}" if line.tokens else "—",
            _money(line.cost_usd, days),
        )
    return table


def _money(cost: float | None, days: float) -> str:
    return cost_text(None if cost is None else cost / days)


def summary(lines: Sequence[JobLine], window: Window) -> str:
    runs = sum(line.runs for line in lines)
    failed = sum(line.failed for line in lines)
    costs = [line.cost_usd for line in lines if line.cost_usd is not None]
    text = f"Overview · last {window.label} · {len(lines):,} jobs · {runs:,} runs · {failed:,} failed"
    if costs:
        text += f" · {cost_text(sum(costs))}"
    if len(lines) > SHOWN:
        text += f" · the worst {SHOWN} shown"
    return text


def _bucket_name(window: Window) -> str:
    hours = window.bucket_ms // HOUR
    return "hour" if hours == 1 else ("day" if hours == 24 else f"{hours} h")


class FleetScreen(CronuiScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "window(0)", "Day", id="fleet-24h", tooltip="The last 24 hours, per hour"),
        Binding("2", "window(1)", "Week", id="fleet-7d", tooltip="The last 7 days, per 6 hours"),
        Binding("3", "window(2)", "Month", id="fleet-30d", tooltip="The last 30 days, per day"),
        Binding("r", "reload", "Reload", id="fleet-reload", tooltip="Read the numbers again"),
        BACK,
    ]

    window = WINDOWS[0]

    @property
    def where(self) -> str:
        return "Overview"

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with VerticalScroll(id="fleet-pane", classes="pane"):
            yield StyledStatic("loading…", id="fleet")
        yield KeysFooter()
        yield PromptBar()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#fleet-pane").focus()
        self.action_reload()

    def on_jobs_changed(self, message: JobsChanged) -> None:
        self.action_reload()  # jobs arrived (the first read) or changed

    def action_back(self) -> None:
        prompt = self.query_one(Prompt)
        if prompt.is_open:
            prompt.close()
            self.query_one("#fleet-pane").focus()
            return
        self.app.pop_screen()

    def action_window(self, index: int) -> None:
        self.window = WINDOWS[index]
        self.action_reload()

    def action_reload(self) -> None:
        spawn(self, self._load, "fleet")

    async def _load(self) -> None:
        window = self.window
        starts = bucket_starts(window, self.ctx.now_ms())
        buckets = await self.ctx.client.fleet(starts[0], window.bucket_ms)
        lines = job_lines(buckets, self.ctx.catalog.jobs, self.ctx.catalog.health)
        if window is not self.window:
            return  # another window was asked for meanwhile
        pane = self.query_one("#fleet-pane")
        pane.border_title = summary(lines, window)
        widget = self.query_one("#fleet", StyledStatic)
        width = widget.content_region.width or self.size.width
        widget.update(overview_table(lines, window, starts, widget, width) if lines else "no jobs yet")
