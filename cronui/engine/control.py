"""Writes that any process may make — add, edit, remove, enable, run now, cancel, pause — and the wake-up
(through the store) that tells the scheduling process to act on them at once instead of at its next one."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cronui.config import Settings
from cronui.engine.approvals import decision_event, waiting_event
from cronui.engine.clock import Clock
from cronui.engine.pauses import PAUSED_KEY, PAUSED_UNTIL_KEY, PauseState, read_pause
from cronui.engine.pings import Ping, record_ping, weigh
from cronui.jobs import JobError, chain_problems, check_chain_graph, check_chains, job_errors, validate
from cronui.jobs_calendars import calendar_problems, check_calendars
from cronui.jobs_params import run_params
from cronui.model import EventKind, Job, Run, RunEvent, RunStatus, Trigger
from cronui.model.audit import CHANGED, CREATED, DISABLED, ENABLED, REMOVED, AuditEntry, Auditor
from cronui.model.records import ApprovalDecision, RunCap
from cronui.schedule.multi import job_schedule
from cronui.store.base import Store
from cronui.store.wakeup import poke as poke  # a caller that knows an address may poke it directly


def _when(job: Job) -> tuple[str, str, int | None, int | None]:
    """What a job's fires depend on: a change to any of it plans its next fire again."""
    return job.schedule, job.timezone, job.starts_at, job.ends_at


class NotFound(LookupError):
    pass


class NotWaiting(ValueError):
    """An approval or rejection of a run that is not waiting for one (nothing was changed)."""


def _never_runs(job: Job) -> JobError:
    return JobError("schedule", f"{job.schedule!r} is in the past; it would never run")


def _entries(audit: Auditor | None, *changes: tuple[str, Job | None, Job | None], now: int) -> list[AuditEntry]:
    """The audit rows of these changes (action, before, after), as the caller's `audit` describes them; a
    change that changed nothing it shows is left out."""
    if audit is None:
        return []
    out = []
    for action, old, new in changes:
        entry = audit(action, old, new, now)
        if entry.changes or action != CHANGED:
            out.append(entry)
    return out


class Control:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock,
        publish: Callable[[RunEvent], Awaitable[None] | None] | None = None,
        wake_local: Callable[[], None] | None = None,
        is_holder: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._publish = publish
        self._wake_local = wake_local  # this process's own loop: no socket needed while it schedules
        self._is_holder = is_holder

    async def _emit(self, event: RunEvent) -> None:
        if self._publish is None:
            await self.store.append_events([event])
            return
        result = self._publish(event)
        if result is not None:
            await result

    async def wake(self) -> None:
        if self._wake_local is not None and (self._is_holder is None or self._is_holder()):
            self._wake_local()
            return
        await self.store.notify()

    # ------------------------------------------------------------ jobs

    async def job(self, name: str) -> Job:
        job = await self.store.get_job_by_name(name)
        if job is None:
            raise NotFound(f"no job named {name!r}")
        return job

    def _next_fire(self, job: Job, now: int) -> int | None:
        if not job.enabled:
            return None
        return job_schedule(job, now).next_after(now)

    async def _check_chains(self, job: Job) -> None:
        targets = [*job.on_success, *job.on_failure]
        if targets:  # a job that chains to nothing cannot close a cycle
            check_chains(job, await self.store.chain_edges(), await self.store.existing_names(targets))

    def _prepare_new(self, job: Job, now: int) -> None:
        validate(job, now, self.settings.pools)
        check_calendars(job, self.settings.calendars)
        job.created_at = job.updated_at = now
        job.next_run_at = self._next_fire(job, now)
        if job.enabled and job.next_run_at is None and job.ends_at is None:  # past its end: not an error
            raise _never_runs(job)

    async def problems(self, job: Job) -> list[JobError]:
        """Every reason saving `job` (`add_job` without an id, `update_job` with one) would be refused, one
        per wrong value, without saving anything: for a form that marks each bad field at once."""
        now = self.clock.now_ms()
        probe = copy.deepcopy(job)  # validation normalizes fields: the caller's job stays as given
        errors = job_errors(probe, now, self.settings.pools)
        errors.extend(calendar_problems(probe, self.settings.calendars))
        schedule_ok = not any(e.field in ("schedule", "timezone") for e in errors)  # both, to read its fires
        if (
            job.id is None
            and schedule_ok
            and job.enabled
            and job.ends_at is None
            and self._next_fire(probe, now) is None
        ):
            errors.append(_never_runs(probe))
        other = await self.store.get_job_by_name(job.name)
        if other is not None and other.id != job.id:
            errors.append(JobError("name", f"a job named {job.name!r} already exists"))
        targets = [*job.on_success, *job.on_failure]
        if targets:
            existing = await self.store.existing_names(targets)
            errors.extend(chain_problems(probe, await self.store.chain_edges(), existing))
        return errors

    def _prepare_update(self, job: Job, old: Job, now: int, reschedule: bool) -> list[str]:
        """Validate an edited job and work out its next fire; returns the names of changed fields."""
        validate(job, now, self.settings.pools)
        check_calendars(job, self.settings.calendars)
        if job.enabled and old.auto_disabled:
            job.auto_disabled = None
            job.consecutive_failures = 0
        if not job.enabled:
            job.next_run_at = None
        elif reschedule or old.next_run_at is None or _when(old) != _when(job):
            job.next_run_at = self._next_fire(job, now)
        job.updated_at = now
        return [
            f.name
            for f in dataclasses.fields(Job)
            if f.name not in ("updated_at", "next_run_at") and getattr(old, f.name) != getattr(job, f.name)
        ]

    async def add_job(self, job: Job, audit: Auditor | None = None) -> Job:
        """Save a new job; `audit` describes it for the audit log, written in the same transaction."""
        now = self.clock.now_ms()
        self._prepare_new(job, now)
        await self._check_chains(job)
        if await self.store.get_job_by_name(job.name) is not None:
            raise JobError("name", f"a job named {job.name!r} already exists")
        job = await self.store.create_job(job, _entries(audit, (CREATED, None, job), now=now))
        await self._emit(RunEvent(EventKind.JOB_CREATED, now, None, job.id, job.name, data={"source": job.source}))
        await self.wake()
        return job

    async def update_job(
        self, job: Job, *, reschedule: bool = True, audit: Auditor | None = None, action: str = CHANGED
    ) -> Job:
        """Save an edited job. Its next fire is recomputed from now (slots are never replayed by an edit).
        Its owner stays the one that created it; `audit` describes the change (`action`) for the audit log."""
        now = self.clock.now_ms()
        old = await self.store.get_job(job.id) if job.id is not None else None
        if old is None or old.deleted_at is not None:
            raise NotFound(f"no job named {job.name!r}")
        job.owner = old.owner
        changed = self._prepare_update(job, old, now, reschedule)
        await self._check_chains(job)
        job = await self.store.update_job(job, _entries(audit, (action, old, job), now=now))
        await self._emit(RunEvent(EventKind.JOB_UPDATED, now, None, job.id, job.name, data={"changed": changed}))
        await self.wake()
        return job

    async def apply(
        self, creates: list[Job], updates: list[Job], removes: list[Job], audit: Auditor | None = None
    ) -> None:
        """Save many jobs at once (a job file): every one is validated first, then all are written in
        one transaction with their audit rows, or nothing is. Updates keep their next fire unless their
        schedule changed, and their owner."""
        now = self.clock.now_ms()
        live = {j.name: j for j in await self.store.list_jobs()}
        changed: dict[str, list[str]] = {}
        for job in creates:
            try:
                self._prepare_new(job, now)
            except JobError as e:
                raise JobError(f"job {job.name!r}: {e}") from None
        for job in updates:
            old = live.get(job.name)
            if old is None or job.id != old.id:
                raise NotFound(f"no job named {job.name!r}")
            job.owner = old.owner
            try:
                changed[job.name] = self._prepare_update(job, old, now, reschedule=False)
            except JobError as e:
                raise JobError(f"job {job.name!r}: {e}") from None
        gone = {j.name for j in removes}
        final = {name: j for name, j in live.items() if name not in gone}
        final.update({j.name: j for j in (*updates, *creates)})
        check_chain_graph(final.values(), set(final))
        entries = _entries(
            audit,
            *((CREATED, None, j) for j in creates),
            *((CHANGED, live[j.name], j) for j in updates),
            *((REMOVED, j, None) for j in removes),
            now=now,
        )
        await self.store.save_jobs(creates, updates, [j.id for j in removes if j.id is not None], now, entries)
        events = [
            *(RunEvent(EventKind.JOB_CREATED, now, None, j.id, j.name, data={"source": j.source}) for j in creates),
            *(
                RunEvent(EventKind.JOB_UPDATED, now, None, j.id, j.name, data={"changed": changed[j.name]})
                for j in updates
            ),
            *(RunEvent(EventKind.JOB_REMOVED, now, None, j.id, j.name) for j in removes),
        ]
        if self._publish is None:
            await self.store.append_events(events)
        else:
            for ev in events:
                await self._emit(ev)
        await self.wake()

    async def set_enabled(self, name: str, enabled: bool, audit: Auditor | None = None) -> Job:
        job = await self.job(name)
        if job.enabled == enabled and not job.auto_disabled:
            return job
        job.enabled = enabled
        return await self.update_job(job, audit=audit, action=ENABLED if enabled else DISABLED)

    async def remove_job(self, name: str, audit: Auditor | None = None) -> Job:
        job = await self.job(name)
        assert job.id is not None
        users = sorted(other for other, targets in (await self.store.chain_edges()).items() if name in targets)
        if users:
            raise JobError(f"{name!r} is chained from {', '.join(users)}: edit those first")
        now = self.clock.now_ms()
        await self.store.remove_job(job.id, now, _entries(audit, (REMOVED, job, None), now=now))
        await self._emit(RunEvent(EventKind.JOB_REMOVED, now, None, job.id, job.name))
        await self.wake()
        return job

    # ------------------------------------------------------------ runs

    async def backfill(self, name: str, slots: list[int], requested_by: str | None = None) -> list[Run]:
        """Queue a `backfill` run for each of these past slots of the job that has not run (the store skips
        the others, in the transaction that inserts); they start through the claim like any run, one after
        another unless the job's overlap is `allow`. The runs queued."""
        job = await self.job(name)
        assert job.id is not None
        if job.is_check:
            raise JobError("check", f"{job.name} is a check: cronui never runs it (report a run with `cronui ping`)")
        now = self.clock.now_ms()
        runs = [
            Run(
                job_id=job.id,
                trigger=Trigger.BACKFILL,
                scheduled_for=slot,
                queued_at=now,
                not_before=slot,
                requested_by=requested_by,
            )
            for slot in slots
        ]
        queued = await self.store.insert_backfill(job.id, runs)
        for run in queued:
            assert run.id is not None
            run.job_name = job.name
            if run.status is RunStatus.AWAITING_APPROVAL:
                await self._emit(waiting_event(run, now))
            else:
                data = {"trigger": str(Trigger.BACKFILL)}
                await self._emit(RunEvent(EventKind.QUEUED, now, run.id, job.id, job.name, data=data))
        if queued:
            await self.wake()
        return queued

    async def trigger(
        self,
        name: str,
        request: dict[str, Any] | None = None,
        cap: RunCap | None = None,
        trigger: Trigger = Trigger.MANUAL,
        requested_by: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Run:
        """Run now: a pending run, which the scheduling process starts at once (for a job with
        `approval`, a run waiting for approval, or one skipped when too many wait already). `request` is the
        HTTP request that asked for it (`POST /hooks/NAME`), its body the run's payload; with `cap`, the
        store refuses it (CapReached) when the job's hook runs reached it. `trigger` says how it was asked
        for (manual, api, mcp, hook) and `requested_by` who asked; `params` the values of the job's params
        (JobError for one not declared, a required one missing or a wrong value; nothing is queued)."""
        job = await self.job(name)
        assert job.id is not None
        if job.is_check:
            raise JobError("check", f"{job.name} is a check: cronui never runs it (report a run with `cronui ping`)")
        values = run_params(job, params)
        now = self.clock.now_ms()
        run = await self.store.insert_run(
            Run(
                job_id=job.id,
                trigger=trigger,
                scheduled_for=now,
                queued_at=now,
                not_before=now,
                request=request,
                requested_by=requested_by,
                params=values,
            ),
            cap,
        )
        assert run is not None and run.id is not None
        run.job_name = job.name
        if run.status is RunStatus.AWAITING_APPROVAL:
            await self._emit(waiting_event(run, now))
        elif run.status is RunStatus.SKIPPED:  # too many of its runs wait for approval already
            data = {"trigger": str(trigger), "status": str(run.status), "reason": run.reason}
            await self._emit(RunEvent(EventKind.FINISHED, now, run.id, job.id, job.name, data=data))
        else:
            await self._emit(RunEvent(EventKind.QUEUED, now, run.id, job.id, job.name, data={"trigger": str(trigger)}))
        await self.wake()
        return run

    async def ping(self, name: str, ping: Ping) -> Run:
        """Record a ping of check `name` (see engine/pings.py): a run with trigger `ping`."""
        job = await self.job(name)
        if not job.is_check:
            raise JobError("check", f"{job.name} is not a check: cronui runs it itself (add one with --check)")
        run = await record_ping(self.store, self.clock, job, ping, self._emit, self.wake)
        if await weigh(self.store, job, run, self.settings.alerts, self.clock.now_ms()):
            await self.wake()  # its notice goes out now, not at the scheduler's next pass
        return run

    async def approve(self, run_id: int, by: str) -> Run:
        """Approve a run waiting for approval: it becomes pending and runs (at its slot, if that is later)."""
        return await self._decide(ApprovalDecision(run_id, True, self.clock.now_ms(), by))

    async def reject(self, run_id: int, by: str, reason: str | None = None) -> Run:
        """Reject a run waiting for approval: recorded skipped, reason `rejected by WHO: REASON`."""
        return await self._decide(ApprovalDecision(run_id, False, self.clock.now_ms(), by, reason or None))

    async def _decide(self, decision: ApprovalDecision) -> Run:
        run = await self.store.decide_approval(decision)
        if run is None:
            found = await self.store.get_run(decision.run_id)
            if found is None:
                raise NotFound(f"no run #{decision.run_id}")
            raise NotWaiting(f"run #{decision.run_id} is not waiting for approval (it is {found.status})")
        await self._emit(decision_event(run, decision.at))
        await self.wake()
        return run

    async def cancel(self, run_id: int) -> Run:
        now = self.clock.now_ms()
        run = await self.store.request_cancel(run_id, now)
        if run is None:
            raise NotFound(f"no run #{run_id}")
        if run.status is RunStatus.CANCELLED and run.finished_at == now:
            await self._emit(
                RunEvent(EventKind.FINISHED, now, run.id, run.job_id, run.job_name, data={"status": "cancelled"})
            )
        await self.wake()
        return run

    # ------------------------------------------------------------ maintenance mode

    async def paused(self) -> bool:
        return (await read_pause(self.store, self.clock.now_ms())).paused

    async def pause_state(self) -> PauseState:
        return await read_pause(self.store, self.clock.now_ms())

    async def pause(self, until: int | None = None) -> None:
        """Pause the scheduler: until `cronui resume`, or until `until` (epoch ms), when it resumes by itself."""
        now = self.clock.now_ms()
        await self.store.set_state(PAUSED_UNTIL_KEY, None if until is None else str(until))
        await self.store.set_state(PAUSED_KEY, str(now))
        await self._emit(RunEvent(EventKind.PAUSED, now, data={} if until is None else {"paused_until": until}))
        await self.wake()

    async def resume(self) -> None:
        now = self.clock.now_ms()
        await self.store.set_state(PAUSED_KEY, None)
        await self.store.set_state(PAUSED_UNTIL_KEY, None)
        await self._emit(RunEvent(EventKind.RESUMED, now))
        await self.wake()

    async def pause_job(self, name: str, until: int | None) -> Job:
        """Hold a job's slots (recorded skipped: paused) until `until`; None ends its pause now."""
        job = await self.job(name)
        assert job.id is not None
        now = self.clock.now_ms()
        await self.store.set_job_pause(job.id, until)
        job.paused_until = until
        await self._emit(RunEvent(EventKind.JOB_UPDATED, now, None, job.id, job.name, data={"paused_until": until}))
        await self.wake()
        return job
