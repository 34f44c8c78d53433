"""Claiming pending runs and executing them: concurrency caps, pools, overlap, timeouts, cancellation.

The dispatcher only ever starts runs that exist as `pending` rows. Whatever happens inside an executor —
an exception, a hang, a flood of output — ends as a recorded outcome of that one run; what that outcome
leads to (a retry, chains, the job's state, delivery) is `finishing.py`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from cronui.config import Settings
from cronui.engine.clock import Clock
from cronui.engine.events import EventBus
from cronui.engine.executors import agent, http, redirects, shell
from cronui.engine.executors.agent import CONVERSATION_KEY, SESSION_UNREAD
from cronui.engine.executors.agent.tools import Toolbox
from cronui.engine.executors.base import MILESTONES_DROPPED, Outcome, RunContext, permanent_failure
from cronui.engine.finishing import Finisher, apply_outcome
from cronui.model import (
    REASON_BUDGET,
    EventKind,
    Job,
    Milestone,
    Run,
    RunEvent,
    RunStatus,
    TargetKind,
    Trigger,
    params,
)
from cronui.model.records import ClaimLimits, RunFilter
from cronui.store.base import Store
from cronui.targets import AgentTarget

log = logging.getLogger(__name__)

Executor = Callable[[RunContext], Awaitable[Outcome]]

OUTPUT_EVENT_INTERVAL_S = 0.2  # live output is sent to viewers at most this often per run
OUTPUT_EVENT_CAP = 256 * 1024  # and at most this much of it per run (the run row keeps head and tail)
OUTPUT_EVENTS_MAX = 4096  # in at most this many events per run
OUTPUT_EVENT_PIECE = 16 * 1024  # each event holding at most this many characters of it
STOP_RETRY_S = 0.1  # an executor that swallowed its cancellation is cancelled again this often
STOP_RETRIES_S = 5.0  # for this long
OUTPUT_CAPPED_NOTE = "\n… [live output stops here: the run's output is kept (head and tail) when it ends] …\n"


CHECK_NEVER_RUNS = "a check job: cronui watches it but never runs it (its runs are reported by pings)"


def default_executors() -> dict[TargetKind, Executor]:
    return {TargetKind.SHELL: shell.run, TargetKind.HTTP: http.run, TargetKind.AGENT: agent.run}


@dataclass
class _Active:
    run: Run
    job: Job
    task: asyncio.Task[None]
    cancel_reason: str | None = None  # set when we cancel it ourselves
    cancel_status: RunStatus = RunStatus.CANCELLED
    milestones: list[Milestone] = field(default_factory=list)
    ending: bool = False  # its outcome is being recorded: nothing to cancel any more
    started: bool = False  # its task has begun (a task cancelled before that would never record its run)


class Dispatcher:
    """Starts the pending runs that may start now and executes each in its own task; `active` holds the
    runs in flight on this node."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        settings: Settings,
        clock: Clock,
        node: str,
        executors: Mapping[TargetKind, Executor] | None = None,
        rng: random.Random | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.node = node
        self.executors = dict(executors) if executors is not None else default_executors()
        self.active: dict[int, _Active] = {}
        self.on_finished = on_finished
        self.only_roots: set[int] | None = None  # in-process `jobs run`: execute just these runs and retries
        self._http: httpx.AsyncClient | None = None
        self.toolbox: Toolbox | None = None  # an agent's tools (the program hands its own; none: refused)
        self._left_behind: set[asyncio.Task[Outcome]] = set()  # executors that would not stop (logged)
        self.finisher = Finisher(
            store, bus, settings, clock, rng or random.Random(), lambda: self.http, self._retry_queued
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """One client for every HTTP, agent and delivery request: pooled connections, timeouts always set."""
        if self._http is None:
            # the client's own INFO lines print resolved URLs (secrets in them): only its warnings are logged
            logging.getLogger("httpx").setLevel(logging.WARNING)
            logging.getLogger("httpcore").setLevel(logging.WARNING)
            self._http = redirects.client(
                timeout=httpx.Timeout(30.0, connect=10.0),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ------------------------------------------------------------ dispatching

    async def dispatch(self, paused: bool) -> int:
        """Start what the store says may start now; publish what it turned away. Returns how many started."""
        await self._apply_cancel_requests()
        if paused:
            return 0
        limits = ClaimLimits(
            capacity=self.settings.max_concurrent - len(self.active),
            pools=self.settings.pools,
            only_roots=self.only_roots,
            max_running=self.settings.cluster.max_running,
            labels=self.settings.node.labels,
            daily_budget_usd=self.settings.budget.daily_usd,
            owner_daily_usd=self.settings.policy.daily_budget_usd,
        )
        lease_ms = int(self.settings.lease.ttl * 1000)
        claim = await self.store.claim(self.node, self.clock.now_ms(), lease_ms, limits)
        for run in claim.skipped:
            self.bus.publish(
                RunEvent(
                    EventKind.FINISHED,
                    run.finished_at or self.clock.now_ms(),
                    run.id,
                    run.job_id,
                    run.job_name,
                    data={"status": str(run.status), "reason": run.reason, "trigger": str(run.trigger)},
                )
            )
        await self.finisher.budget_alerts([r for r in claim.skipped if (r.reason or "").startswith(REASON_BUDGET)])
        for run, job in claim.started:
            self._start(run, job)
        return len(claim.started)

    def _start(self, run: Run, job: Job) -> None:
        assert run.id is not None
        holder: dict[str, _Active] = {}
        task = asyncio.create_task(self._execute(run, job, holder), name=f"cronui-run-{run.id}")
        holder["a"] = self.active[run.id] = _Active(run, job, task)
        # a task cancelled from outside before its first step never runs its body (nor its `finally`):
        # its slot is freed all the same
        task.add_done_callback(lambda _: self._forget(holder["a"]))

    def _forget(self, active: _Active) -> None:
        assert active.run.id is not None
        if self.active.get(active.run.id) is active:
            self.active.pop(active.run.id)

    async def _apply_cancel_requests(self) -> None:
        for run_id in await self.store.cancel_requested(list(self.active)):
            self.cancel(run_id, "cancelled by request")

    def cancel(self, run_id: int, reason: str, status: RunStatus = RunStatus.CANCELLED) -> bool:
        active = self.active.get(run_id)
        if active is None or active.task.done() or active.ending:
            return False
        if active.cancel_reason is None:
            active.cancel_reason = reason
            active.cancel_status = status
            if active.started:  # one not started yet sees its cancel_reason as it starts (see _execute)
                active.task.cancel()
        return True

    async def drain(self, grace_s: float, hurry: asyncio.Event | None = None) -> None:
        """Let running runs finish within grace_s (or until `hurry` is set), then cancel them as `interrupted`."""
        tasks = [a.task for a in self.active.values()]
        if tasks:
            still = await _wait_all(tasks, grace_s, hurry)
            for rid in list(self.active):
                self.cancel(rid, "the scheduler stopped before the run finished", RunStatus.INTERRUPTED)
            if still:
                await asyncio.wait(still)
        await self.finisher.writes.close()
        if tasks:
            await self.finisher.drain_deliveries(grace_s)

    async def wait_deliveries(self) -> None:
        await self.finisher.wait_deliveries()

    async def wait_idle(self) -> None:
        while tasks := [a.task for a in self.active.values() if not a.task.done()]:
            await asyncio.wait(tasks)

    # ------------------------------------------------------------ executing one run

    async def _execute(self, run: Run, job: Job, holder: dict[str, _Active]) -> None:
        """Run one claimed run to its recorded outcome. Whenever a cancel arrives (before the executor,
        while an agent's history loads, or during the run), the run is recorded with the cancel's status and
        its slot freed."""
        assert run.id is not None
        active = holder["a"]
        active.started = True
        try:
            await self._execute_started(run, job, active)
        finally:
            self.active.pop(run.id, None)
            if self.on_finished:
                self.on_finished()

    async def _execute_started(self, run: Run, job: Job, active: _Active) -> None:
        assert run.id is not None and job.id is not None
        started = run.started_at or self.clock.now_ms()
        self.bus.publish(
            RunEvent(
                EventKind.STARTED,
                started,
                run.id,
                job.id,
                job.name,
                data={"trigger": str(run.trigger), "attempt": run.attempt, "scheduled_for": run.scheduled_for},
            )
        )
        # The run's events are made here, from what its RunContext hands on: masked, and capped (live output
        # in bytes and events; the milestones its output reports in number, see RunContext).
        last_output = [0.0]
        out_buf: dict[str, list[str]] = {}
        out_sent = [0, 0]  # characters, events
        out_open = [True]  # False once the live output has reached its cap

        def flush_output() -> None:
            for stream, parts in out_buf.items():
                text = "".join(parts)
                # in pieces of at most OUTPUT_EVENT_PIECE: each viewer's stream encodes one event at a time
                for at in range(0, len(text), OUTPUT_EVENT_PIECE):
                    if not out_open[0]:
                        break
                    piece = text[at : at + OUTPUT_EVENT_PIECE]
                    if out_sent[0] + len(piece) > OUTPUT_EVENT_CAP or out_sent[1] + 1 >= OUTPUT_EVENTS_MAX:
                        piece = piece[: max(0, OUTPUT_EVENT_CAP - out_sent[0])] + OUTPUT_CAPPED_NOTE
                        out_open[0] = False
                    out_sent[0] += len(piece)
                    out_sent[1] += 1
                    self.bus.publish(
                        RunEvent(
                            EventKind.OUTPUT, self.clock.now_ms(), run.id, job.id, job.name, stream, {"text": piece}
                        )
                    )
            out_buf.clear()

        def on_output(stream: str, text: str) -> None:
            if not out_open[0]:
                return
            out_buf.setdefault(stream, []).append(text)
            t = time.monotonic()
            if t - last_output[0] >= OUTPUT_EVENT_INTERVAL_S:
                last_output[0] = t
                flush_output()

        def on_milestone(name: str, data: dict[str, Any]) -> None:
            flush_output()
            m = Milestone(name, self.clock.now_ms(), data)
            active.milestones.append(m)
            self.bus.publish(RunEvent(EventKind.MILESTONE, m.at, run.id, job.id, job.name, name, data))

        ctx = self._context(run, job, on_milestone, on_output)
        try:
            if active.cancel_reason is not None:  # cancelled before its task began
                raise asyncio.CancelledError
            await asyncio.sleep(0)
            if job.kind is TargetKind.AGENT:
                await self._load_carried(ctx, job)
            outcome = await self._outcome(ctx)
        except asyncio.CancelledError:
            if active.cancel_reason is None:  # not ours: the event loop is going away
                raise
            outcome = Outcome(active.cancel_status, error=active.cancel_reason)
        ctx.end_output()
        flush_output()
        if ctx.milestones_dropped:
            on_milestone(MILESTONES_DROPPED, {"dropped": ctx.milestones_dropped, "kept": ctx.milestones_reported})
        outcome = ctx.masked_outcome(outcome)
        active.ending = True
        try:
            await self.finisher.record(run, job, ctx, outcome, active.milestones)
        except Exception:
            log.exception("could not record the outcome of run #%s", run.id)

    def _context(
        self,
        run: Run,
        job: Job,
        on_milestone: Callable[[str, dict[str, Any]], None],
        on_output: Callable[[str, str], None],
    ) -> RunContext:
        ctx = RunContext(
            job=job,
            run=run,
            output_cap=self.settings.output_cap,
            on_milestone=on_milestone,
            on_output=on_output,
            kill_grace_s=self.settings.kill_grace,
            prices=self.settings.prices,
        )
        if job.kind is not TargetKind.SHELL:
            ctx.http = self.http
            ctx.toolbox = self.toolbox
        return ctx

    async def _outcome(self, ctx: RunContext) -> Outcome:
        """The executor's outcome within the job's timeout; a crash is the run's failure, never the caller's.

        The executor runs in a task of its own, so its timeout, a cancel and a stop end it from outside
        whatever it does: one that swallows the cancellation (on Python 3.11 `asyncio.wait_for` can,
        CPython gh-86296) is cancelled again until it ends (see `_stop_executor`)."""
        job = ctx.job
        if job.is_check:  # a chained run of a check, or one queued before it became one: nothing to run
            return Outcome(RunStatus.SKIPPED, error=CHECK_NEVER_RUNS, transient=False)
        if job.params:  # the values it was asked with, else the defaults: recorded with its end
            ctx.run.params, missing = params.filled(job.params, ctx.run.params)
            if missing:
                return permanent_failure(missing)
        executor = self.executors.get(job.kind)
        if executor is None:
            return permanent_failure(f"no executor for {job.kind} jobs")
        task = asyncio.create_task(self._guarded(executor, ctx), name=f"cronui-executor-{ctx.run.id}")
        try:
            done, _ = await asyncio.wait({task}, timeout=job.timeout_s)
        except asyncio.CancelledError:  # cancelled from outside: a cancel, a stop, a lost lease
            await self._stop_executor(task, ctx)
            raise
        if not done:
            await self._stop_executor(task, ctx)
            return Outcome(RunStatus.TIMED_OUT, error=f"timed out after {job.timeout_s:g}s")
        return task.result()

    async def _guarded(self, executor: Executor, ctx: RunContext) -> Outcome:
        try:
            return await executor(ctx)
        except Exception as e:  # an executor bug is this run's failure, never the scheduler's
            run, job = ctx.run, ctx.job
            log.error("run #%s of %s crashed\n%s", run.id, job.name, ctx.mask(traceback.format_exc()).rstrip())
            return Outcome(RunStatus.FAILED, error=f"{type(e).__name__}: {e}")

    async def _stop_executor(self, task: asyncio.Task[Outcome], ctx: RunContext) -> None:
        """Cancel a run's executor and wait until it has ended. It gets the kill grace and a second more (a
        shell run's processes are stopped by then); one still running after that swallowed the cancellation
        and is cancelled again every STOP_RETRY_S, for STOP_RETRIES_S more. One that outlasts even that (it
        never hands the event loop back for long) is logged and left behind: its run is recorded anyway."""
        loop = asyncio.get_running_loop()
        task.cancel()
        await asyncio.wait({task}, timeout=ctx.kill_grace_s + 1.0)
        give_up = loop.time() + STOP_RETRIES_S
        while not task.done() and loop.time() < give_up:
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_RETRY_S)
        if not task.done():
            log.error(
                "run #%s of %s: its executor does not stop; its run is recorded without it", ctx.run.id, ctx.job.name
            )
            self._left_behind.add(task)
            task.add_done_callback(self._left_behind.discard)
        elif not task.cancelled():
            task.exception()  # an outcome no one waits for any more (never "exception was never retrieved")

    async def test_run(
        self,
        job: Job,
        on_milestone: Callable[[Milestone], None],
        on_output: Callable[[str, str], None],
    ) -> Run:
        """Run `job` once, here and now, as a test (a job being edited, perhaps never saved): the executor,
        timeout, masking and output caps of a real run, but no run row, no retry, chain, delivery or
        change to the job. The run returned was never stored (its id is None); what is recorded is one
        `test_run` event (job name, status, duration), so the event log shows that a test ran.
        Cancelling the caller stops the run (a shell run's processes with it)."""
        now = self.clock.now_ms()
        run = Run(
            job_id=job.id or 0,
            trigger=Trigger.MANUAL,
            scheduled_for=now,
            job_name=job.name,
            queued_at=now,
            not_before=now,
            started_at=now,
            node=self.node,
            status=RunStatus.RUNNING,
        )
        milestones: list[Milestone] = []

        def milestone(name: str, data: dict[str, Any]) -> None:
            milestones.append(Milestone(name, self.clock.now_ms(), data))
            on_milestone(milestones[-1])

        ctx = self._context(run, job, milestone, on_output)
        try:
            outcome = await self._outcome(ctx)
        except asyncio.CancelledError:
            outcome = Outcome(RunStatus.CANCELLED, error="the test run was stopped")
            self._record_test(run, ctx, outcome, milestones)
            raise
        ctx.end_output()
        self._record_test(run, ctx, ctx.masked_outcome(outcome), milestones)
        return run

    def _record_test(self, run: Run, ctx: RunContext, outcome: Outcome, milestones: list[Milestone]) -> None:
        apply_outcome(run, ctx, outcome, milestones, self.clock.now_ms())
        data: dict[str, Any] = {
            "job": run.job_name,  # a job never saved has no id for the event log to name it by
            "kind": str(ctx.job.kind),
            "status": str(run.status),
            "duration_ms": run.duration_ms,
        }
        for key in ("exit_code", "http_status", "error"):
            if getattr(run, key) is not None:
                data[key] = getattr(run, key)
        job_id = ctx.job.id
        self.bus.publish(RunEvent(EventKind.TEST_RUN, run.finished_at or 0, None, job_id, run.job_name, data=data))

    async def _load_carried(self, ctx: RunContext, job: Job) -> None:
        """What an agent job carries from earlier runs: its conversation (its own, or its session's), the
        last successful output."""
        assert job.id is not None
        spec = job.target
        if not isinstance(spec, AgentTarget):
            return
        if spec.session is not None:  # shared: its runs take turns (the claim), so this is the latest
            try:
                ctx.memory[CONVERSATION_KEY] = await self.store.get_session(spec.session)
            except Exception:
                log.exception("could not read session %s for %s: it runs without it", spec.session, job.name)
                ctx.memory[SESSION_UNREAD] = True  # so its reply does not replace the history it never saw
        try:
            if spec.session is None and spec.conversation == "persistent":
                ctx.memory[CONVERSATION_KEY] = await self.store.get_memory(job.id, CONVERSATION_KEY)
            if "{last_output}" in spec.message:
                prev = await self.store.list_runs(RunFilter(job_id=job.id, statuses=[RunStatus.SUCCEEDED], limit=1))
                ctx.last_output = prev[0].output if prev else ""
        except Exception:
            log.exception("could not load what job %s carries from earlier runs", job.name)

    # ------------------------------------------------------------ what follows a run's end

    async def finish(self, run: Run, job: Job) -> None:
        """Record a run that ended without an executor's outcome (one a gone scheduler left running),
        with what follows from it (see `Finisher.finish`)."""
        await self.finisher.finish(run, job)

    def _retry_queued(self, root: int) -> None:
        if self.only_roots is not None:
            self.only_roots.add(root)


async def _wait_all(
    tasks: list[asyncio.Task[None]], timeout: float, hurry: asyncio.Event | None
) -> set[asyncio.Task[None]]:
    """Wait until every task is done, `timeout` has passed or `hurry` is set; the tasks still running."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    pending: set[asyncio.Task[None]] = set(tasks)
    hurried = asyncio.ensure_future(hurry.wait() if hurry is not None else asyncio.Event().wait())
    try:
        while pending and not hurried.done() and (left := end - loop.time()) > 0:
            await asyncio.wait({*pending, hurried}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            pending = {t for t in pending if not t.done()}
        return pending
    finally:
        hurried.cancel()
