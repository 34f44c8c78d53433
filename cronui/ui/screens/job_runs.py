"""The main screen's runs pane: the selected job's runs, a page at a time, and its stats.

One load runs at a time and the latest wish wins: moving the cursor over fifty jobs costs at most two
loads, and a page that arrives for a job no longer selected is dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.dom import DOMNode

from cronui.model.records import JobStats, RunFilter
from cronui.ui.client import EngineClient
from cronui.ui.screens.job_info import WEEK_MS
from cronui.ui.widgets.run_table import RunTable
from cronui.ui.workers import OneAtATime, spawn

RUNS_PAGE = 100


class JobRuns:
    def __init__(
        self,
        owner: DOMNode,
        client: EngineClient,
        table: Callable[[], RunTable],
        loaded: Callable[[], None],
    ) -> None:
        self._owner = owner  # whose workers do the loading
        self._client = client
        self._table = table
        self._loaded = loaded  # told when the runs or the stats shown changed
        self.job_id: int | None = None  # whose runs the pane shows
        self._wanted: int | None = None
        self._loads = OneAtATime(owner, self._load, "runs")
        self._shown_job: int | None = None
        self._stats: tuple[JobStats, JobStats] | None = None

    def stats(self, job_id: int | None) -> tuple[JobStats, JobStats] | None:
        """(all time, last 7 days) of this job, when those loaded are its."""
        if job_id is None or self._stats is None or self._shown_job != job_id:
            return None
        return self._stats

    def select(self, job_id: int | None) -> None:
        """Show this job's runs (a no-op when they are shown already)."""
        if job_id != self.job_id:
            self.job_id = job_id
            self.reload()

    def reload(self) -> None:
        """Load the selected job's runs; at most one load at a time, the latest wish wins."""
        self._wanted = self.job_id
        self._loads.want()

    async def _load(self) -> None:
        client = self._client
        job_id = self._wanted
        table = self._table()
        if job_id is None:
            table.set_rows([])
            self._stats = None
            self._loaded()
            return
        runs = await client.runs(RunFilter(job_id=job_id, limit=RUNS_PAGE))
        stats = await client.job_stats(job_id)
        week = await client.job_stats(job_id, since=client.now_ms() - WEEK_MS)
        if self._loads.wanted and self._wanted != job_id:  # another job was selected meanwhile
            return
        same = table.rows and self._shown_job == job_id
        table.more = len(runs) == RUNS_PAGE
        table.set_rows(runs, keep_cursor=bool(same))
        self._shown_job = job_id
        self._stats = (stats, week)
        self._loaded()

    def more(self, table: RunTable) -> None:
        """The next page, for a table scrolled to its end."""
        if not table.rows or self.job_id is None:
            return
        job_id = self.job_id
        before = table.oldest_id  # the runs are read newest first, whatever order they are shown in

        async def more() -> None:
            runs = await self._client.runs(RunFilter(job_id=job_id, limit=RUNS_PAGE, before_id=before))
            if self.job_id == job_id:
                table.more = len(runs) == RUNS_PAGE
                table.append_rows(runs)

        spawn(self._owner, more, "runs-more")
