"""Claiming pending runs and executing them: concurrency caps, pools, overlap, timeouts, retries, chains.

The dispatcher only ever starts runs that exist as `pending` rows. Whatever happens inside an executor —
an exception, a hang, a flood of output — ends as a recorded outcome of that one run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from cronui.config import Settings
from cronui.engine import delivery
from cronui.engine.clock import Clock
from cronui.engine.events import EventBus
from cronui.engine.executors.base import Outcome, RunContext
from cronui.model import (
    REASON_OVERLAP,
    REASON_QUEUE_FULL,
    EventKind,
    Job,
    Milestone,
    OverlapPolicy,
    Run,
    RunEvent,
    RunStatus,
    TargetKind,
    Trigger,
)
from cronui.store.base import RunFilter, Store

log = logging.getLogger(__name__)

Executor = Callable[[RunContext], Awaitable[Outcome]]

RETRYABLE = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)
COUNTS_AS_FAILURE = (RunStatus.FAILED, RunStatus.TIMED_OUT)
OUTPUT_EVENT_INTERVAL_S = 0.2  # live output is sent to viewers at most this often per run
OUTPUT_EVENT_CAP = 256 * 1024  # and at most this much of it per run (the run row keeps head and tail)


def default_executors() -> dict[TargetKind, Executor]:
    from cronui.engine.executors import agent, http, shell

    return {TargetKind.SHELL: shell.run, TargetKind.HTTP: http.run, TargetKind.AGENT: agent.run}


def retry_delay_ms(job: Job, attempt: int, rng: random.Random, retry_after_s: float | None = None) -> int:
    """Exponential backoff with jitter: base * 2^(attempt-1), scaled by a random factor in [0.5, 1.0]."""
    base = job.retry_delay_s * (2 ** (attempt - 1))
    delay = base * (0.5 + rng.random() / 2)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return int(min(delay, 86_400) * 1000)


@dataclass
class _Active:
    run: Run
    job: Job
    task: asyncio.Task[None]
    cancel_reason: str | None = None  # set when we cancel it ourselves
    cancel_status: RunStatus = RunStatus.CANCELLED
    milestones: list[Milestone] = field(default_factory=list)


class Dispatcher:
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
        self.rng = rng or random.Random()
        self.active: dict[int, _Active] = {}
        self.on_finished = on_finished
        self.only_roots: set[int] | None = None  # in-process `jobs run`: execute just these runs and retries
        self.deliveries: set[asyncio.Task[None]] = set()
        self.delivery_backoff_s = 1.0  # first pause between delivery attempts (then doubling)
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """One client for every HTTP, agent and delivery request: pooled connections, timeouts always set."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(30.0, connect=10.0),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                follow_redirects=True,
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ------------------------------------------------------------ dispatching

    async def dispatch(self, paused: bool) -> int:
        """Start what may start now; record overlap skips. Returns how many runs started."""
        now = self.clock.now_ms()
        await self._apply_cancel_requests()
        if paused:
            return 0
        waiting: dict[int, int] = {}
        jobs: dict[int, Job | None] = {}
        busy: dict[int, list[int]] = {}  # job id -> runs running or claimed in this pass
        pool_use: dict[str, int] = {}
        catching_up: set[int] = set()
        for a in self.active.values():
            busy.setdefault(a.run.job_id, []).append(a.run.id or 0)
            if a.job.pool is not None:
                pool_use[a.job.pool] = pool_use.get(a.job.pool, 0) + 1
            if a.run.trigger is Trigger.CATCHUP:
                catching_up.add(a.run.job_id)
        total = len(self.active)
        chosen: dict[int, Job] = {}
        for run in await self.store.pending_runs(now):
            assert run.id is not None
            if self.only_roots is not None and (run.retry_of or run.id) not in self.only_roots:
                continue
            if run.job_id not in jobs:
                jobs[run.job_id] = await self.store.get_job(run.job_id)
            job = jobs[run.job_id]
            if job is None or job.deleted_at is not None:
                await self.store.skip_pending(run.id, RunStatus.CANCELLED, "job removed", now)
                continue
            running = busy.get(run.job_id)
            if run.trigger is Trigger.CATCHUP:
                catching_up.add(run.job_id)
            if running and run.trigger is not Trigger.RETRY and job.overlap is not OverlapPolicy.ALLOW:
                if run.job_id in catching_up:
                    # catch-up runs go one after another, and new slots wait behind them
                    continue
                if job.overlap is OverlapPolicy.SKIP:
                    await self._skip(run, job, f"{REASON_OVERLAP}: run #{min(running)} still running", now)
                    continue
                waiting[run.job_id] = waiting.get(run.job_id, 0) + 1
                if waiting[run.job_id] > job.queue_limit:
                    await self._skip(run, job, f"{REASON_QUEUE_FULL} (limit {job.queue_limit})", now)
                continue
            if total >= self.settings.max_concurrent:
                break  # the rest waits for a free slot; a finishing run wakes the loop
            if job.pool is not None:
                if pool_use.get(job.pool, 0) >= self.settings.pools.get(job.pool, 1):
                    continue
                pool_use[job.pool] = pool_use.get(job.pool, 0) + 1
            total += 1
            busy.setdefault(run.job_id, []).append(run.id)
            chosen[run.id] = job
        if not chosen:
            return 0
        lease_ms = int(self.settings.lease.ttl * 1000)
        claimed = await self.store.claim_runs(list(chosen), self.node, self.clock.now_ms(), lease_ms)
        for run in claimed:
            assert run.id is not None
            self._start(run, chosen[run.id])
        return len(claimed)

    async def _skip(self, run: Run, job: Job, reason: str, now: int) -> None:
        assert run.id is not None
        if await self.store.skip_pending(run.id, RunStatus.SKIPPED, reason, now):
            self.bus.publish(
                RunEvent(
                    EventKind.FINISHED,
                    now,
                    run.id,
                    job.id,
                    job.name,
                    data={"status": "skipped", "reason": reason, "trigger": str(run.trigger)},
                )
            )

    def _start(self, run: Run, job: Job) -> None:
        assert run.id is not None
        holder: dict[str, _Active] = {}
        task = asyncio.create_task(self._execute(run, job, holder), name=f"cronui-run-{run.id}")
        holder["a"] = self.active[run.id] = _Active(run, job, task)

    async def _apply_cancel_requests(self) -> None:
        for run_id in await self.store.cancel_requested(list(self.active)):
            self.cancel(run_id, "cancelled by request")

    def cancel(self, run_id: int, reason: str, status: RunStatus = RunStatus.CANCELLED) -> bool:
        active = self.active.get(run_id)
        if active is None or active.task.done():
            return False
        if active.cancel_reason is None:
            active.cancel_reason = reason
            active.cancel_status = status
            active.task.cancel()
        return True

    async def drain(self, grace_s: float) -> None:
        """Let running runs finish within grace_s, then cancel them as `interrupted`."""
        tasks = [a.task for a in self.active.values()]
        if not tasks:
            return
        _, still = await asyncio.wait(tasks, timeout=grace_s)
        for rid in list(self.active):
            self.cancel(rid, "the scheduler stopped before the run finished", RunStatus.INTERRUPTED)
        if still:
            await asyncio.wait(still)
        if self.deliveries:
            _, late = await asyncio.wait(list(self.deliveries), timeout=max(grace_s, 1.0))
            for t in late:
                t.cancel()

    async def wait_deliveries(self) -> None:
        while self.deliveries:
            await asyncio.wait(list(self.deliveries))

    async def wait_idle(self) -> None:
        while self.active:
            await asyncio.wait([a.task for a in self.active.values()])

    # ------------------------------------------------------------ executing one run

    async def _execute(self, run: Run, job: Job, holder: dict[str, _Active]) -> None:
        assert run.id is not None and job.id is not None
        await asyncio.sleep(0)
        active = holder["a"]
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
        last_output = [0.0]
        out_buf: dict[str, list[str]] = {}
        out_sent = [0]

        def flush_output() -> None:
            for stream, parts in out_buf.items():
                text = "".join(parts)
                if text and out_sent[0] < OUTPUT_EVENT_CAP:
                    text = text[: OUTPUT_EVENT_CAP - out_sent[0]]
                    out_sent[0] += len(text)
                    self.bus.publish(
                        RunEvent(
                            EventKind.OUTPUT, self.clock.now_ms(), run.id, job.id, job.name, stream, {"text": text}
                        )
                    )
            out_buf.clear()

        def on_output(stream: str, text: str) -> None:
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
        if job.kind is TargetKind.AGENT:
            from cronui.engine.executors.agent import CONVERSATION_KEY

            try:
                if job.target.get("conversation") == "persistent":
                    ctx.memory[CONVERSATION_KEY] = await self.store.get_memory(job.id, CONVERSATION_KEY)
                if "{last_output}" in str(job.target.get("message", "")):
                    prev = await self.store.list_runs(RunFilter(job_id=job.id, statuses=[RunStatus.SUCCEEDED], limit=1))
                    ctx.last_output = prev[0].output if prev else ""
            except Exception:
                log.exception("could not load what job %s carries from earlier runs", job.name)
        executor = self.executors.get(job.kind)
        try:
            if executor is None:
                outcome = Outcome(RunStatus.FAILED, error=f"no executor for {job.kind} jobs", transient=False)
            else:
                async with asyncio.timeout(job.timeout_s):
                    outcome = await executor(ctx)
        except TimeoutError:
            outcome = Outcome(RunStatus.TIMED_OUT, error=f"timed out after {job.timeout_s:g}s")
        except asyncio.CancelledError:
            if active.cancel_reason is None:  # not ours: the event loop is going away
                raise
            outcome = Outcome(active.cancel_status, error=active.cancel_reason)
        except Exception as e:  # an executor bug is this run's failure, never the scheduler's
            log.exception("run #%s of %s crashed", run.id, job.name)
            outcome = Outcome(RunStatus.FAILED, error=f"{type(e).__name__}: {e}")
        flush_output()
        try:
            await self._record(run, job, ctx, outcome, active.milestones)
        except Exception:
            log.exception("could not record the outcome of run #%s", run.id)
        finally:
            self.active.pop(run.id, None)
            if self.on_finished:
                self.on_finished()

    async def _record(self, run: Run, job: Job, ctx: RunContext, outcome: Outcome, milestones: list[Milestone]) -> None:
        assert run.id is not None and job.id is not None
        now = self.clock.now_ms()
        run.status = outcome.status
        run.finished_at = now
        run.duration_ms = now - run.started_at if run.started_at is not None else None
        run.error = ctx.mask(outcome.error) if outcome.error else None
        run.exit_code = outcome.exit_code
        run.signal = outcome.signal
        run.http_status = outcome.http_status
        run.summary = outcome.summary
        run.output = ctx.mask(ctx.stdout.text())
        run.stderr = ctx.mask(ctx.stderr.text())
        run.output_bytes = ctx.stdout.total
        run.stderr_bytes = ctx.stderr.total
        run.milestones = list(milestones)
        for key, value in outcome.fields.items():
            setattr(run, key, value)
        if outcome.status is RunStatus.CANCELLED:
            run.reason = outcome.error
        if outcome.status is RunStatus.SUCCEEDED:
            for key, value in outcome.memory.items():
                await self.store.set_memory(job.id, key, value, self.clock.now_ms())
        text = outcome.deliver_text if outcome.deliver_text is not None else run.output
        await self.finish(run, job, outcome.transient, outcome.retry_after_s, outcome.suppress_delivery, text)

    async def finish(
        self,
        run: Run,
        job: Job,
        transient: bool = True,
        retry_after_s: float | None = None,
        suppress: str | None = None,
        deliver_text: str = "",
    ) -> None:
        """Store a final run with what follows from it: a retry, or (on the final attempt) the job's
        status, auto-disable and chained runs — all in one transaction."""
        assert run.id is not None and job.id is not None
        now = self.clock.now_ms()
        follow: list[Run] = []
        changes: dict[str, Any] = {}
        root = run.retry_of or run.id
        retry = run.status in RETRYABLE and transient and run.attempt <= job.max_retries and job.deleted_at is None
        if retry:
            delay = retry_delay_ms(job, run.attempt, self.rng, retry_after_s)
            follow.append(
                Run(
                    job_id=job.id,
                    trigger=Trigger.RETRY,
                    scheduled_for=run.scheduled_for,
                    attempt=run.attempt + 1,
                    retry_of=root,
                    triggered_by=run.triggered_by,
                    queued_at=now,
                    not_before=now + delay,
                )
            )
        else:
            fresh = await self.store.get_job(job.id) or job
            changes["last_status"] = run.status
            if run.status is RunStatus.SUCCEEDED:
                changes["consecutive_failures"] = 0
            elif run.status in COUNTS_AS_FAILURE:
                failures = fresh.consecutive_failures + 1
                changes["consecutive_failures"] = failures
                limit = self.settings.auto_disable_after
                if failures >= limit and fresh.enabled:
                    reason = f"{failures} consecutive failures (last: {run.error or run.status})"
                    changes.update(enabled=0, auto_disabled=reason, next_run_at=None)
            chain = (
                job.on_success
                if run.status is RunStatus.SUCCEEDED
                else (job.on_failure if run.status in COUNTS_AS_FAILURE or run.status is RunStatus.INTERRUPTED else [])
            )
            for name in chain:
                target = await self.store.get_job_by_name(name)
                if target is None or target.id is None:
                    log.warning("job %s chains to %s, which no longer exists", job.name, name)
                    continue
                follow.append(
                    Run(job_id=target.id, trigger=Trigger.CHAIN, scheduled_for=now, triggered_by=run.id, queued_at=now)
                )
        deliver = not retry and delivery.wanted(job, run)
        if deliver and suppress:
            run.delivery_status, run.delivery_reason = delivery.SUPPRESSED, suppress
            deliver = False
        elif deliver:
            run.delivery_status = delivery.PENDING
        inserted = await self.store.finish_run(run, changes, follow)
        if inserted is None:
            log.warning(
                "run #%s of %s was taken over by another scheduler; its outcome here is dropped", run.id, job.name
            )
            return
        data: dict[str, Any] = {
            "status": str(run.status),
            "trigger": str(run.trigger),
            "attempt": run.attempt,
            "duration_ms": run.duration_ms,
            "final": not retry,
        }
        if run.error:
            data["error"] = run.error
        if run.exit_code is not None:
            data["exit_code"] = run.exit_code
        self.bus.publish(RunEvent(EventKind.FINISHED, now, run.id, job.id, job.name, data=data))
        for new in inserted:
            if new.trigger is Trigger.RETRY:
                assert new.id is not None
                if self.only_roots is not None:
                    self.only_roots.add(root)
                self.bus.publish(
                    RunEvent(
                        EventKind.RETRY_SCHEDULED,
                        now,
                        new.id,
                        job.id,
                        job.name,
                        data={"attempt": new.attempt, "not_before": new.not_before, "retry_of": root},
                    )
                )
            else:
                self.bus.publish(
                    RunEvent(EventKind.QUEUED, now, new.id, new.job_id, data={"trigger": "chain", "by": run.id})
                )
        if not retry:
            alert_state = None
            if job.delivery.get("alert_to") or job.delivery.get("to"):
                alert_state = await self.store.get_memory(job.id, "alert")
            failures = int(changes.get("consecutive_failures", job.consecutive_failures))
            alert = delivery.decide_alert(job, run, failures, changes.get("auto_disabled"), alert_state, now)
            if deliver or alert:
                task = asyncio.create_task(self._deliver(run, job, deliver_text if deliver else None, alert))
                self.deliveries.add(task)
                task.add_done_callback(self.deliveries.discard)
        if changes.get("auto_disabled"):
            self.bus.publish(
                RunEvent(
                    EventKind.JOB_AUTO_DISABLED, now, None, job.id, job.name, data={"reason": changes["auto_disabled"]}
                )
            )

    async def _deliver(self, run: Run, job: Job, text: str | None, alert: delivery.AlertDecision | None) -> None:
        """Post the result (and an alert) after the final attempt; record delivery apart from the run."""
        assert run.id is not None and job.id is not None
        env = os.environ
        fmt = str(job.delivery.get("format") or "json")
        try:
            if text is not None:
                body = delivery.payload(fmt, job, run, text)
                result = await delivery.post(
                    self.http, job.delivery["to"], body, env, backoff_s=self.delivery_backoff_s
                )
                now = self.clock.now_ms()
                name = "delivery-completed" if result.status == delivery.DELIVERED else "delivery-failed"
                data: dict[str, Any] = {"status": result.status}
                if result.reason:
                    data["reason"] = result.reason
                m = Milestone(name, now, data)
                run.milestones.append(m)
                await self.store.update_delivery(run.id, result.status, result.reason, run.milestones)
                self.bus.publish(RunEvent(EventKind.MILESTONE, now, run.id, job.id, job.name, name, data))
            if alert is not None:
                target = job.delivery.get("alert_to") or job.delivery["to"]
                body = delivery.alert_payload(fmt, job, alert.text)
                sent = await delivery.post(self.http, target, body, env, backoff_s=self.delivery_backoff_s)
                if sent.status == delivery.DELIVERED:
                    await self.store.set_memory(job.id, "alert", alert.state, self.clock.now_ms())
                else:
                    log.warning("alert for %s not delivered: %s", job.name, sent.reason)
        except Exception:
            log.exception("delivery of run #%s failed unexpectedly", run.id)
            if text is not None:
                await self.store.update_delivery(run.id, delivery.FAILED, "internal error", run.milestones)
