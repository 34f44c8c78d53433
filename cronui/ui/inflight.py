"""What is running right now and where each run is: the model behind the live pane and the header's
running count. Fed by engine events (in this process or read from the log of another), and rebuilt from
the store when the app starts or the scheduler changes hands."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cronui.model import EventKind, Milestone, Run, RunEvent, RunStatus

RECENT_KEPT = 3  # finished runs stay visible in the live pane, newest first, until pushed out
MILESTONES_KEPT = 50
OUTPUT_TAIL_KEPT = 4096  # characters of each stream's live output kept, for the line it is writing now


@dataclass
class LiveRun:
    run_id: int
    job_id: int
    job_name: str
    trigger: str = "schedule"
    attempt: int = 1
    status: RunStatus = RunStatus.PENDING
    queued_at: int = 0
    not_before: int = 0
    started_at: int | None = None
    finished_at: int | None = None
    milestones: list[Milestone] = field(default_factory=list)
    last_line: str = ""  # the last line written so far (a streamed reply: the whole line, not its last token)
    tails: dict[str, str] = field(default_factory=dict)  # stream -> the end of its output so far
    error: str | None = None
    duration_ms: int | None = None


class InFlight:
    def __init__(self, job_name: Callable[[int | None], str]) -> None:
        self._job_name = job_name
        self.runs: dict[int, LiveRun] = {}
        self.recent: deque[LiveRun] = deque(maxlen=RECENT_KEPT)

    @property
    def running(self) -> int:
        return sum(1 for r in self.runs.values() if r.status is RunStatus.RUNNING)

    def ordered(self) -> list[LiveRun]:
        """Running first (oldest start first), then waiting runs by when they may start."""
        running = sorted(
            (r for r in self.runs.values() if r.status is RunStatus.RUNNING),
            key=lambda r: (r.started_at or 0, r.run_id),
        )
        waiting = sorted(
            (r for r in self.runs.values() if r.status is not RunStatus.RUNNING), key=lambda r: (r.not_before, r.run_id)
        )
        return running + waiting

    def load(self, runs: Iterable[Run], events: dict[int, list[RunEvent]]) -> None:
        """Start over from the store: runs pending or running, with their logged events."""
        self.runs.clear()
        for run in runs:
            assert run.id is not None
            live = LiveRun(
                run.id,
                run.job_id,
                run.job_name or self._job_name(run.job_id),
                str(run.trigger),
                run.attempt,
                run.status,
                run.queued_at,
                run.not_before,
                run.started_at,
            )
            self.runs[run.id] = live
            for ev in events.get(run.id, []):
                self._apply_detail(live, ev)

    def apply(self, events: Iterable[RunEvent]) -> bool:
        """Fold a batch of events in; returns whether anything shown changed."""
        changed = False
        for ev in events:
            if ev.run_id is None:
                continue
            changed |= self._apply(ev)
        return changed

    def _apply(self, ev: RunEvent) -> bool:
        assert ev.run_id is not None
        live = self.runs.get(ev.run_id)
        d = ev.data
        if ev.kind in (EventKind.QUEUED, EventKind.RETRY_SCHEDULED, EventKind.STARTED) and live is None:
            live = LiveRun(ev.run_id, ev.job_id or 0, ev.job_name or self._job_name(ev.job_id))
            live.queued_at = ev.at
            live.not_before = int(d.get("not_before") or ev.at)
            live.trigger = str(d.get("trigger") or ("retry" if ev.kind is EventKind.RETRY_SCHEDULED else "schedule"))
            live.attempt = int(d.get("attempt") or 1)
            self.runs[ev.run_id] = live
        if live is None:
            return False
        if ev.kind is EventKind.QUEUED and d.get("status") in (RunStatus.PENDING, RunStatus.AWAITING_APPROVAL):
            live.status = RunStatus(str(d["status"]))  # waiting for approval, or approved
            live.not_before = int(d.get("not_before") or live.not_before)
            return True
        if ev.kind is EventKind.FINISHED:
            live.status = RunStatus(str(d.get("status", "succeeded")))
            live.finished_at = ev.at
            live.error = d.get("error") or d.get("reason")
            live.duration_ms = d.get("duration_ms")
            del self.runs[ev.run_id]
            if live.started_at is not None:  # a slot skipped before it started was never in flight
                self.recent.appendleft(live)
            return True
        return self._apply_detail(live, ev)

    def _apply_detail(self, live: LiveRun, ev: RunEvent) -> bool:
        d = ev.data
        if ev.kind is EventKind.STARTED:
            live.status = RunStatus.RUNNING
            live.started_at = ev.at
            live.trigger = str(d.get("trigger") or live.trigger)
            live.attempt = int(d.get("attempt") or live.attempt)
        elif ev.kind is EventKind.MILESTONE:
            live.milestones.append(Milestone(ev.name or "", ev.at, dict(d)))
            del live.milestones[:-MILESTONES_KEPT]
        elif ev.kind is EventKind.OUTPUT:
            stream = ev.name or "stdout"
            tail = (live.tails.get(stream, "") + str(d.get("text", "")))[-OUTPUT_TAIL_KEPT:]
            live.tails[stream] = tail
            lines = [line for line in tail.splitlines() if line.strip()]
            if lines:
                live.last_line = lines[-1][-300:]  # its end: what was written last
        else:
            return False
        return True
