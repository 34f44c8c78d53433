"""The top line: which database, who schedules (this process, a daemon elsewhere, nobody), how many jobs,
how many running, what fires next, and where you are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from cronui.ui.widgets.status import StatusStyles, status_css


@dataclass
class HeaderState:
    db: str = ""
    scheduler: str = "starting…"
    scheduler_kind: str = "none"  # owning | attached | none
    paused: bool = False
    jobs: int = 0
    running: int = 0
    next_text: str = ""
    where: str = "Jobs"
    nodes: int | None = None  # cluster mode: the live nodes


class StatusHeader(StatusStyles, Widget):
    DEFAULT_CSS = """
    StatusHeader {
        height: 1;
        background: $panel;
        color: $foreground;
        & > .header--title { text-style: bold; color: $primary; }
        & > .header--owning { color: $run-succeeded; text-style: bold; }
        & > .header--attached { color: $run-running; text-style: bold; }
        & > .header--none { color: $warning; text-style: bold; }
        & > .header--paused { color: $warning; text-style: bold reverse; }
        & > .header--where { color: $accent; text-style: bold; }
    }
    """ + status_css("StatusHeader")
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--title",
        "header--owning",
        "header--attached",
        "header--none",
        "header--paused",
        "header--where",
        *StatusStyles.COMPONENT_CLASSES,
    }

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.state = HeaderState()

    def show(self, state: HeaderState) -> None:
        if state != self.state:
            self.state = state
            self.refresh()

    def render(self) -> Text:
        s = self.state
        width = self.size.width or 120
        dim = self.component_style("status--dim")
        marks = {"owning": "●", "attached": "◌", "none": "○"}
        sched = Text(
            f"{marks.get(s.scheduler_kind, '○')} {s.scheduler}", self.component_style(f"header--{s.scheduler_kind}")
        )
        if s.paused:
            sched.append("  ")
            sched.append(" ‖ paused ", self.component_style("header--paused"))
        jobs = f"{s.jobs:,} job{'s' if s.jobs != 1 else ''}"
        nxt = f" · next {s.next_text}" if s.next_text else ""
        where = Text(s.where, self.component_style("header--where"))
        title = Text(" cronui", self.component_style("header--title"))
        db = Text(f"  {s.db}", dim)
        # The widest that fits: the database goes first, then words, and what fires next goes last.
        for parts in (
            [title, db, Text("   "), sched, Text("   "), Text(f"{jobs} · {s.running} running{nxt}")],
            [title, Text("   "), sched, Text("   "), Text(f"{jobs} · {s.running} running{nxt}")],
            [title, Text("  "), sched, Text("  "), Text(f"{jobs} · {s.running} run{nxt}")],
            [title, Text("  "), sched, Text("  "), Text(f"{jobs} · {s.running} run")],
        ):
            if sum(p.cell_len for p in parts) + where.cell_len + 2 <= width:
                break
        line = Text(no_wrap=True, overflow="ellipsis")
        for p in parts:
            line.append_text(p)
        gap = max(1, width - line.cell_len - where.cell_len - 1)
        line.append(" " * gap)
        line.append_text(where)
        line.append(" ")
        return line
