"""The UI's one road to the engine: every read the screens need, every write, and the wake-up.

Screens and the app never touch the store or the engine's internals; they ask an `EngineClient`.
Writes go through the engine's `Control` (the same validation as the CLI), which wakes the process that
schedules once the write is done. Runs and stats are read, and runs decided on, through the application's
use cases (cronui.application.runs, .stats), as every face does; other reads are plain store queries.
Events reach the UI through the bridge (`bridge.py`), which the client builds for the app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from textual.message_pump import MessagePump

from cronui.application import audit, runs, stats, watch
from cronui.application import jobs as job_cases
from cronui.application.caller import local
from cronui.application.context import Cronui
from cronui.application.errors import Ended
from cronui.application.runs import InFlight as InFlightState  # what the live pane starts from
from cronui.application.runs import RunView as RunView  # a run as its detail screen shows it
from cronui.engine.approvals import who
from cronui.engine.clock import Clock
from cronui.engine.control import NotFound
from cronui.engine.engine import Engine
from cronui.jobs import JobError
from cronui.model import Job, Lease, Milestone, Run, RunStatus, TargetKind
from cronui.model.alerts import AlertSend
from cronui.model.audit import AuditEntry
from cronui.model.records import FleetBucket, JobStats, Node, RunFilter
from cronui.store.base import Store
from cronui.ui.bridge import EngineBridge

ENGINE_STOP_S = 5.0  # how long a stopping engine gets to finish its pass


class EngineClient:
    def __init__(self, store: Store, engine: Engine, *, manage: bool = False, execute: bool = False) -> None:
        self._store = store
        self._engine = engine
        self._control = engine.control
        self._app = Cronui(
            engine.settings, store, engine.control, engine.clock, local("tui")
        )  # what the use cases work with
        self.manage = manage  # the client opens and closes the store (the CLI, snapshot tests)
        # In cluster mode a TUI views and controls; it runs jobs only when asked to (a laptop pointed at the
        # servers' database must not start running their shell jobs). With SQLite it schedules when nothing else does.
        self.execute = execute or not store.multi_node
        self._opened_engine = False

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open the store (when managed) and the engine (when the caller has not); StoreError on failure."""
        if self.manage:
            await self._store.open()
        if not self._engine.address:
            await self._engine.open()
            self._opened_engine = True

    def bridge(self, target: MessagePump) -> EngineBridge:
        """The event feed for `target` (the app)."""
        return EngineBridge(target, self._store, self._engine)

    async def run_engine(self, stop: asyncio.Event) -> None:
        """Schedule (or stand by) until `stop` is set. Cancelled (the app is going away): the loop is asked
        to stop and given a moment to finish its pass, rather than being torn down in the middle of one."""
        if not self.execute:
            await stop.wait()  # a viewer: the cluster's nodes schedule
            return
        task = asyncio.ensure_future(self._engine.run(stop, standby=True))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            stop.set()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(ENGINE_STOP_S):  # never asyncio.wait_for: gh-86296, see pacing.py
                    await task
            raise

    async def close(self) -> None:
        """Stop scheduling here (runs in flight are interrupted and recorded, the lease is released), and
        close what `open` opened. Errors on the way out are not the user's business any more."""
        if self._opened_engine:
            with contextlib.suppress(Exception):
                await self._engine.close(grace_s=0)
        if self.manage:
            with contextlib.suppress(Exception):
                await self._store.close()

    # ------------------------------------------------------------ who schedules, and what it can run

    @property
    def clock(self) -> Clock:
        return self._engine.clock

    def now_ms(self) -> int:
        return self._engine.clock.now_ms()

    @property
    def holding(self) -> bool:
        """This process holds the scheduler lease."""
        return self._engine.holding

    @property
    def holder(self) -> Lease | None:
        """Another process that holds a live lease (as last seen), or None."""
        lease = self._engine.holder
        if lease is None or lease.holder == self._engine.node or lease.expires_at <= self.now_ms():
            return None
        return lease

    @property
    def lease_seen(self) -> bool:
        """The engine has looked at the scheduler lease at least once (who schedules is known)."""
        return self._engine.holder is not None

    @property
    def multi_node(self) -> bool:
        """Cluster mode: every node schedules (the header counts them)."""
        return self._store.multi_node

    @property
    def node(self) -> str:
        """This process's node name (as the nodes table has it when it schedules)."""
        return self._engine.node

    async def nodes(self) -> list[Node]:
        """The processes that schedule this database, from their heartbeats."""
        return await self._store.nodes()

    @property
    def running_count(self) -> int:
        """Runs this process executes now: what quitting would interrupt."""
        return self._engine.running_count

    @property
    def kinds(self) -> frozenset[TargetKind]:
        return self._engine.target_kinds

    # ------------------------------------------------------------ reads

    async def jobs(self) -> list[Job]:
        return await job_cases.list_jobs(self._app)

    async def job(self, job_id: int) -> Job | None:
        """The job, or None when it is gone (removed jobs count as gone)."""
        return await job_cases.job_by_id(self._app, job_id)

    async def paused(self) -> bool:
        return await self._control.paused()

    async def in_flight(self, limit: int, with_events: int) -> InFlightState:
        """Jobs, the pause flag and up to `limit` runs pending or running, the first `with_events` of them
        with their logged events."""
        return await runs.in_flight(self._app, limit, with_events)

    async def awaiting_approval(self, limit: int = 1000) -> list[Run]:
        """Runs waiting for approval, oldest first."""
        return await runs.awaiting_approval(self._app, limit)

    async def runs(self, flt: RunFilter) -> list[Run]:
        return await runs.page_of_runs(self._app, flt)

    async def job_stats(self, job_id: int, since: int | None = None) -> JobStats:
        return await stats.job_stats(self._app, job_id, since)

    async def fleet(self, since: int, bucket_ms: int) -> list[FleetBucket]:
        return await stats.fleet(self._app, since, bucket_ms)

    async def recent_statuses(self, job_ids: Sequence[int], per_job: int) -> dict[int, list[RunStatus]]:
        return await stats.recent_statuses(self._app, job_ids, per_job)

    async def healths(self) -> dict[int, str]:
        """Every job's health by its id (one query over all jobs)."""
        return await watch.healths(self._app)

    async def job_history(self, name: str, limit: int) -> list[AuditEntry]:
        """The job's changes from the audit log, newest first (by the name it had at each), secrets masked."""
        return await audit.audit_log(self._app, name, limit)

    async def recent_alerts(self, limit: int = watch.ALERTS_PAGE) -> list[AlertSend]:
        """The latest alerts sent (or being sent), newest first, their channels masked."""
        return await watch.recent_alerts(self._app, limit)

    async def run_view(self, run_id: int) -> RunView | None:
        """The run and what it has said so far; None when it no longer exists."""
        try:
            return await runs.run_view(self._app, run_id)
        except NotFound:
            return None

    # ------------------------------------------------------------ writes (each wakes the scheduler itself)

    async def problems(self, job: Job) -> list[JobError]:
        """Every reason saving `job` would be refused (the checks of add_job / update_job), nothing saved."""
        return await job_cases.job_problems(self._app, job)

    async def test_run(
        self, job: Job, on_milestone: Callable[[Milestone], None], on_output: Callable[[str, str], None]
    ) -> Run:
        """Run `job` once in this process as a test: never stored as a run, recorded as a `test_run` event."""
        return await job_cases.run_as_test(self._engine.dispatcher, job, on_milestone, on_output)

    async def add_job(self, job: Job) -> Job:
        return await job_cases.add_job(self._app, job)

    async def update_job(self, job: Job) -> Job:
        return await job_cases.save_job(self._app, job)

    async def set_enabled(self, name: str, enabled: bool) -> Job:
        return await job_cases.set_enabled(self._app, name, enabled)

    async def remove_job(self, name: str) -> Job:
        return await job_cases.remove_job(self._app, name)

    async def trigger(self, name: str, params: dict[str, Any] | None = None) -> Run:
        return await job_cases.run_now(self._app, name, params=params)

    async def cancel(self, run_id: int) -> Run:
        """Cancel the run; one that had already ended is returned as it ended (nothing to cancel)."""
        try:
            return await runs.cancel(self._app, run_id)
        except Ended as e:
            return e.run

    async def approve(self, run_id: int) -> Run:
        return await runs.approve(self._app, run_id, who())

    async def reject(self, run_id: int, reason: str | None) -> Run:
        return await runs.reject(self._app, run_id, who(), reason)

    async def pause(self) -> None:
        await self._control.pause()

    async def resume(self) -> None:
        await self._control.resume()
