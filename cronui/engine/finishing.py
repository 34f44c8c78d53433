"""What follows a run's end: its outcome on the run row, then either a retry or (on the final attempt)
the job's status, auto-disable and chained runs, all stored in one transaction; the events that say so;
and the delivery of the result, posted after the run is recorded. Alerts (failures in a row, a retry planned,
a spent budget) are episodes recorded here and sent at once through the alerts' outbox (engine/alerts.py).

The dispatcher decides what starts and runs it; this module decides what its end means.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from cronui import chains
from cronui.config import Settings
from cronui.engine import channels, delivery, failure_alerts, infra, job_notices, watching
from cronui.engine.approvals import APPROVAL_MILESTONES, waiting_event
from cronui.engine.clock import Clock
from cronui.engine.events import EventBus
from cronui.engine.executors.agent import CONVERSATION_KEY, SESSION_UNREAD
from cronui.engine.executors.base import Outcome, RunContext
from cronui.engine.writes import GroupCommit
from cronui.model import EventKind, FailureKind, Job, Milestone, Run, RunEvent, RunStatus, Trigger
from cronui.model.records import EndpointChange, RunEnd
from cronui.retry_rules import worth_retrying
from cronui.store.base import Store
from cronui.store.faults import StoreFault
from cronui.targets import DEFAULT_DELIVERY_FORMAT, AgentTarget

log = logging.getLogger(__name__)

CHAIN_NOT_FIRED = "chain-not-fired"  # a run's milestone: a chain edge held back by its condition
RETRYABLE = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)
# chain conditions are matched here, off the event loop: linear in the output, but up to seconds for a
# large pattern on a full output (see cronui.chains); two at a time, whatever else uses threads
CONDITIONS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cronui-conditions")


async def _nothing() -> None:
    pass


def retry_delay_ms(job: Job, attempt: int, rng: random.Random, retry_after_s: float | None = None) -> int:
    """Exponential backoff with jitter: base * 2^(attempt-1), scaled by a random factor in [0.5, 1.0]."""
    base = job.retry_delay_s * (2 ** (attempt - 1))
    delay = base * (0.5 + rng.random() / 2)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return int(min(delay, 86_400) * 1000)


def apply_outcome(run: Run, ctx: RunContext, outcome: Outcome, milestones: list[Milestone], now: int) -> None:
    """Copy an executor's outcome onto the run: status, timing, exit details, output and error (masked)."""
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
    run.failure_kind = infra.failure_kind(outcome.status, outcome.endpoints)
    # what happened before it started (its approval) stays on the run, ahead of what the attempt reported
    run.milestones = [m for m in run.milestones if m.name in APPROVAL_MILESTONES] + list(milestones)
    for key, value in outcome.fields.items():
        setattr(run, key, value)
    if outcome.status is RunStatus.CANCELLED:
        run.reason = outcome.error


def chained(run: Run, job: Job) -> tuple[list[str], list[dict[str, Any]]]:
    """The jobs the job's chains fire after this final attempt, and the edges held back by their
    condition (`--when`), each as the data of a `chain-not-fired` milestone: the job, the condition
    and why. A condition is checked against the run's recorded output (masked, head and tail when long)."""
    if run.status is RunStatus.SUCCEEDED:
        chain, names = "on_success", job.on_success
    elif run.status.counts_as_failure or run.status is RunStatus.INTERRUPTED:
        chain, names = "on_failure", job.on_failure
    else:
        return [], []
    fire: list[str] = []
    held: list[dict[str, Any]] = []
    for name in names:
        when = job.edge(chain, name).when
        if when is None:
            fire.append(name)
            continue
        try:
            met = chains.matches(when, run.output)
            why = None if met else chains.describe_miss(when)
        except ValueError as e:  # saved before conditions were checked: say so rather than guess
            met, why = False, f"the condition is not valid: {e}"
        if met:
            fire.append(name)
        else:
            held.append({"job": name, "chain": chain.replace("_", "-"), "when": when, "reason": why})
    # an edge's approval (`approval = true`) is the store's to apply: see RunEnd.chain_approval
    return fire, held


def _to_session(end: RunEnd, job: Job) -> None:
    """A job talking in a shared session (`session:NAME`) carries its conversation there, not in its own
    memory: the next run of any job naming the session reads it."""
    session = job.target.session if isinstance(job.target, AgentTarget) else None
    if session is None or CONVERSATION_KEY not in end.memory:
        return
    memory = dict(end.memory)
    end.session, end.session_history = session, memory.pop(CONVERSATION_KEY)
    end.memory = memory


class Finisher:
    """Records runs' ends and what follows from them; owns the delivery tasks still in flight."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        settings: Settings,
        clock: Clock,
        rng: random.Random,
        http: Callable[[], httpx.AsyncClient],
        on_retry_queued: Callable[[int], None],
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.rng = rng
        self.http = http  # the dispatcher's shared client, made on first use
        self.on_retry_queued = on_retry_queued  # called with the root run's id
        self.writes = GroupCommit(store)
        self.deliveries: set[asyncio.Task[None]] = set()
        self.delivery_backoff_s = 1.0  # first pause between delivery attempts (then doubling)
        # routes and starts the alerts' sends due now (the engine's Watcher.send_now); none: the next pass does
        self.send_alerts: Callable[[], Awaitable[None]] = _nothing
        self._budget_told: dict[int, int] = {}  # job id -> the UTC day its budget alert is recorded for

    async def record(self, run: Run, job: Job, ctx: RunContext, outcome: Outcome, milestones: list[Milestone]) -> None:
        """Store an executed run's outcome, what the job carries to its next run, and what follows."""
        apply_outcome(run, ctx, outcome, milestones, self.clock.now_ms())
        memory = outcome.memory if outcome.status is RunStatus.SUCCEEDED else {}
        if ctx.memory.get(SESSION_UNREAD):  # it never saw the session's history: it must not replace it
            memory = {k: v for k, v in memory.items() if k != CONVERSATION_KEY}
        text = outcome.deliver_text if outcome.deliver_text is not None else run.output
        transient = worth_retrying(job, outcome.transient, outcome.exit_code, outcome.http_status)
        suppress = outcome.suppress_delivery
        await self.finish(run, job, transient, outcome.retry_after_s, suppress, text, memory, outcome.endpoints)

    async def finish(
        self,
        run: Run,
        job: Job,
        transient: bool = True,
        retry_after_s: float | None = None,
        suppress: str | None = None,
        deliver_text: str = "",
        memory: Mapping[str, Any] | None = None,
        endpoints: Mapping[str, str | None] | None = None,
    ) -> None:
        """Store a final run with what follows from it: a retry, or (on the final attempt) the job's
        status, auto-disable and chained runs — one transaction, batched with other runs' ends. `endpoints`:
        what the run found of the endpoints it called (engine/infra.py)."""
        assert run.id is not None and job.id is not None
        now = self.clock.now_ms()
        root = run.retry_of or run.id
        if run.failure_kind is None and run.status.counts_as_failure:  # one that ended without an executor's word
            run.failure_kind = FailureKind.JOB
        end = RunEnd(run, memory=memory or {}, failure_limit=self.settings.auto_disable_after)
        end.endpoints = endpoints or {}
        _to_session(end, job)
        held: list[dict[str, Any]] = []
        retry = run.status in RETRYABLE and transient and run.attempt <= job.max_retries and job.deleted_at is None
        retry = retry and not job.is_check  # nothing to run again: a check's runs are reported from outside
        if retry:
            delay = retry_delay_ms(job, run.attempt, self.rng, retry_after_s)
            end.retry = Run(
                job_id=job.id,
                trigger=Trigger.RETRY,
                scheduled_for=run.scheduled_for,
                attempt=run.attempt + 1,
                retry_of=root,
                triggered_by=run.triggered_by,
                queued_at=now,
                not_before=now + delay,
            )
        else:
            if any(edge.when for edges in job.chain_options.values() for edge in edges.values()):
                loop = asyncio.get_running_loop()
                end.chain_to, held = await loop.run_in_executor(CONDITIONS, chained, run, job)
            else:
                end.chain_to, held = chained(run, job)
            chain = "on_success" if run.status is RunStatus.SUCCEEDED else "on_failure"
            end.chain_approval = [name for name in end.chain_to if job.edge(chain, name).approval]
            end.remove_job = job.delete_after_run  # a follow-up: removed with its run's end, its runs kept
            # recorded with the run, so its detail says why the chain did not fire
            run.milestones += [Milestone(CHAIN_NOT_FIRED, now, data) for data in held]
        deliver = not retry and delivery.wanted(job, run)
        if deliver and suppress:
            run.delivery_status, run.delivery_reason = delivery.SUPPRESSED, suppress
            deliver = False
        elif deliver:
            run.delivery_status = delivery.PENDING
        recorded = await self.writes.record(end)
        if recorded is None:
            log.warning(
                "run #%s of %s was taken over by another scheduler; its outcome here is dropped", run.id, job.name
            )
            return
        infra.announce(recorded.endpoints, self.bus.publish)
        if recorded.endpoints:
            self._spawn(self._alert_infra(recorded.endpoints))
        for data in held:
            self.bus.publish(RunEvent(EventKind.MILESTONE, now, run.id, job.id, job.name, CHAIN_NOT_FIRED, data))
        if end.retry is not None and job.delivery.notify_retries:
            self._spawn(self._notify_retry(run, job, end.retry.not_before - now))
        for name in recorded.missing_chains:
            log.warning("job %s chains to %s, which no longer exists", job.name, name)
        self._publish_finished(run, job, recorded.inserted, root, final=not retry, now=now)
        if not retry:
            # failures in a row (--alert-after) are weighed after the result is posted, in the same task
            failures = (recorded.consecutive_failures, recorded.auto_disabled) if job.delivery.alert_target else None
            if deliver or failures:
                self._spawn(self._deliver(run, job, deliver_text if deliver else None, failures))
            if watching.watched(job, self.settings.alerts):
                self._spawn(watching.after_run(self.store, job, run, self.settings.alerts, now))
        if recorded.removed_job:
            self.bus.publish(RunEvent(EventKind.JOB_REMOVED, now, None, job.id, job.name, data={"after_run": run.id}))
        if recorded.auto_disabled:
            self.bus.publish(
                RunEvent(
                    EventKind.JOB_AUTO_DISABLED, now, None, job.id, job.name, data={"reason": recorded.auto_disabled}
                )
            )

    def _publish_finished(self, run: Run, job: Job, inserted: list[Run], root: int, final: bool, now: int) -> None:
        assert run.id is not None
        data: dict[str, Any] = {
            "status": str(run.status),
            "trigger": str(run.trigger),
            "attempt": run.attempt,
            "duration_ms": run.duration_ms,
            "final": final,
        }
        if run.error:
            data["error"] = run.error
        if run.exit_code is not None:
            data["exit_code"] = run.exit_code
        if run.failure_kind is not None:
            data["failure_kind"] = str(run.failure_kind)
        self.bus.publish(RunEvent(EventKind.FINISHED, now, run.id, job.id, job.name, data=data))
        for new in inserted:
            if new.trigger is Trigger.RETRY:
                assert new.id is not None
                self.on_retry_queued(root)
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
            elif new.status is RunStatus.AWAITING_APPROVAL:
                self.bus.publish(waiting_event(new, now, by=run.id))
            elif new.status is RunStatus.PENDING:
                self.bus.publish(
                    RunEvent(EventKind.QUEUED, now, new.id, new.job_id, data={"trigger": "chain", "by": run.id})
                )
            else:  # too many of the chained job's runs wait for approval: recorded skipped
                data = {"status": str(new.status), "reason": new.reason, "trigger": "chain", "by": run.id}
                self.bus.publish(RunEvent(EventKind.FINISHED, now, new.id, new.job_id, data=data))

    async def _deliver(self, run: Run, job: Job, text: str | None, failures: tuple[int, str | None] | None) -> None:
        """Post the result after the final attempt and record delivery apart from the run; then open or close
        the job's `failure` episode (--alert-after), its notice sent at once through the alerts' outbox."""
        assert run.id is not None and job.id is not None
        env = os.environ
        fmt = job.delivery.format or DEFAULT_DELIVERY_FORMAT
        try:
            if text is not None:
                body = delivery.payload(fmt, job, run, text)
                to = job.delivery.to
                assert to is not None  # delivery.wanted() asks for one
                said = delivery.payload("slack", job, run, text)["text"]  # what a channel that is not a webhook says
                title = f"cronui: {job.name} {run.status}"
                result = await channels.post_all(self.http(), to, body, said, title, env, self.delivery_backoff_s)
                now = self.clock.now_ms()
                name = "delivery-completed" if result.status == delivery.DELIVERED else "delivery-failed"
                data: dict[str, Any] = {"status": result.status}
                if result.reason:
                    data["reason"] = result.reason
                m = Milestone(name, now, data)
                run.milestones.append(m)
                await self.store.update_delivery(
                    run.id, result.status, result.reason, run.milestones, (run.node, run.fence)
                )
                self.bus.publish(RunEvent(EventKind.MILESTONE, now, run.id, job.id, job.name, name, data))
        except Exception:
            log.exception("delivery of run #%s failed unexpectedly", run.id)
            if text is not None:
                await self.store.update_delivery(
                    run.id, delivery.FAILED, "internal error", run.milestones, (run.node, run.fence)
                )
        if failures is not None:
            try:
                now = self.clock.now_ms()
                if await failure_alerts.record(self.store, job, run, failures[0], failures[1], now):
                    await self.send_alerts()
            except Exception:
                log.exception("could not decide the failure alert of run #%s", run.id)

    def _spawn(self, posting: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(posting)
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)

    spawn = _spawn  # other postings (approval notices) go with the deliveries: shutdown waits for them too

    async def _notify_retry(self, run: Run, job: Job, delay_ms: int) -> None:
        """`--notify-retries`: tell where failures are told that this attempt failed and when the next one runs
        (an alert of kind `failure`, sent at once through the outbox); a failure here is logged, never raised."""
        try:
            if await job_notices.retry_planned(self.store, run, job, delay_ms, self.clock.now_ms()):
                await self.send_alerts()
        except StoreFault as e:
            log.warning("could not record the retry notice of run #%s (a database fault): %s", run.id, e)
        except Exception:
            log.exception("could not record the retry notice of run #%s", run.id)

    async def budget_alerts(self, runs: Sequence[Run]) -> None:
        """Runs a spent daily budget turned away: one `budget` alert per job and UTC day, recorded once
        whichever node turns them away, and sent at once through the outbox; a failure is logged, never
        raised (the claim that turned them away stands)."""
        if not runs:
            return
        try:
            if await job_notices.budget_spent(self.store, runs, self.clock.now_ms(), self._budget_told):
                await self.send_alerts()
        except StoreFault as e:
            log.warning("could not record the budget alerts (a database fault): %s", e)
        except Exception:
            log.exception("could not record the budget alerts")

    async def _alert_infra(self, changes: Sequence[EndpointChange]) -> None:
        """Open or close the endpoints' `infra` episodes; a store that fails here is logged, never raised."""
        try:
            await infra.alert_changes(self.store, changes)
        except StoreFault as e:
            log.warning("could not record the infra alert of %s (a database fault): %s", _names(changes), e)
        except Exception:
            log.exception("could not record the infra alert of %s", _names(changes))

    async def wait_deliveries(self) -> None:
        while self.deliveries:
            await asyncio.wait(list(self.deliveries))

    async def drain_deliveries(self, grace_s: float) -> None:
        """Give deliveries in flight grace_s (at least a second) to end, then cancel the rest."""
        if self.deliveries:
            _, late = await asyncio.wait(list(self.deliveries), timeout=max(grace_s, 1.0))
            for t in late:
                t.cancel()


def _names(changes: Sequence[EndpointChange]) -> str:
    return ", ".join(c.endpoint for c in changes)
