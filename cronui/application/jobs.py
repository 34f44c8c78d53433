"""Jobs: list and show them, add, change, remove, enable and disable them, run one now, and check or test a
job before it is saved. The CLI, the API and the TUI's client call these; each parses its own input (options,
a JSON body, a form) and renders what comes back.

A job reaches a use case either as a `Job` a face built (the CLI's options, the TUI's form) or as one
job-file table (`read_entry`: the API's body, read with the job file's rules). Refusals keep the words each
face has always shown: `NotFound` (no job named 'x'), `JobError` (a field and what is wrong with it),
`Invalid` (an entry's problems field by field), `NameTaken` (the API's 409 for a name in use).

Every write says who made it: a new job is owned by the caller (`app.caller.owner`; never changed by an
edit, and no job-file key), and each change is written to the audit log in the transaction that makes it
(`cronui.application.audit`). Run now records how it was asked for (`trigger`) and by whom (`requested_by`).

A limited caller (an API or MCP token, an agent's tool call) is held to the `[policy]` here, before anything
is written: every creation, change and run now of every face goes through these (`cronui.application.policy`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cronui.application import policy
from cronui.application.audit import auditor, creator
from cronui.application.context import Cronui
from cronui.application.errors import Invalid, NameTaken
from cronui.application.fires import fires_report
from cronui.application.reports import job_report
from cronui.application.schedule_view import schedule_report
from cronui.application.shapes import UNKNOWN_OWNER
from cronui.application.tokens import token_policy
from cronui.application.watch import watch_report
from cronui.jobfile.entry import EntryReader
from cronui.jobfile.export import export_entry
from cronui.jobfile.plan import Plan, plan_apply
from cronui.jobfile.schema import JobFile
from cronui.jobs import JobError
from cronui.masking import mask_entry, mask_text, mask_webhook, unmasked
from cronui.model import Job, Milestone, Run, TargetKind, Trigger
from cronui.model.records import JobHead, RunCap, day_start
from cronui.owner_budget import held_owner
from cronui.placement import unplaced_warnings
from cronui.targets import TARGET_TYPES, AgentTarget

if TYPE_CHECKING:
    from cronui.engine.dispatcher import Dispatcher

API_SOURCE = "api"  # a job added through the API says so (`source`), as the CLI's say "cli"
# run now's trigger by where the caller came from (the CLI's and the TUI's user: manual)
RUN_NOW_TRIGGERS = {"api": Trigger.API, "mcp": Trigger.MCP, "hook": Trigger.HOOK}

# ---------------------------------------------------------------- reads


async def list_jobs(app: Cronui, owner: str | None = None) -> list[Job]:
    """Every job, in full (the CLI's list, the TUI's table); with `owner`, only the jobs that caller created
    (`unknown`: those created before owners were recorded)."""
    listed = await app.store.list_jobs()
    if owner is None:
        return listed
    wanted = None if owner == UNKNOWN_OWNER else owner
    return [j for j in listed if j.owner == wanted]


async def job_heads(app: Cronui, owner: str | None = None) -> list[JobHead]:
    """Every job with only what a list shows (`job_json` without `full`): no target or delivery decoded,
    so 10,000 jobs are quick to answer. With `owner`, only the jobs that caller created (`unknown`: those
    created before owners were recorded)."""
    heads = await app.store.list_job_heads()
    if owner is None:
        return heads
    wanted = None if owner == UNKNOWN_OWNER else owner
    return [h for h in heads if h.owner == wanted]


async def get_job(app: Cronui, name: str) -> Job:
    """The job named `name`; NotFound (`no job named 'x'`) when there is none."""
    return await app.control.job(name)


async def job_by_id(app: Cronui, job_id: int) -> Job | None:
    """The job with this id, or None when it is gone (a removed job counts as gone)."""
    job = await app.store.get_job(job_id)
    return None if job is None or job.deleted_at is not None else job


async def show_job(app: Cronui, name: str) -> dict[str, Any]:
    """The job in full with its stats of all time, 7 and 30 days, its health and the alerts in force (the
    API's `GET /jobs/NAME`)."""
    job = await get_job(app, name)
    data = await job_report(app.store, job, app.now_ms())
    data.update(await watch_report(app, job))
    data["next_fires"] = fires_report(app, job, app.now_ms())
    data.update(schedule_report(job, app.now_ms()))
    return data


async def job_details(app: Cronui, name: str) -> tuple[Job, dict[str, Any]]:
    """`jobs show`: the job, and its report with, for an agent job, what today cost against its daily
    budgets (`budget`) and the conversation it talks in (`session`), where it has them."""
    job = await get_job(app, name)
    now = app.now_ms()
    data = await job_report(app.store, job, now)
    data.update(await watch_report(app, job))
    data["next_fires"] = fires_report(app, job, now)
    data.update(schedule_report(job, now))
    budget = await budget_report(app, job, now)
    if budget:
        data["budget"] = budget
    session = await session_report(app, job)
    if session:
        data["session"] = session
    return job, data


async def budget_report(app: Cronui, job: Job, now: int) -> dict[str, dict[str, float]]:
    """An agent job's daily budgets (its own, `job`; its owner's of the `[policy]`, `owner`; all agent
    jobs', `all`): what today (UTC) cost of each."""
    if not isinstance(job.target, AgentTarget) or job.id is None:
        return {}
    since = day_start(now)
    out: dict[str, dict[str, float]] = {}
    if job.target.daily_budget_usd is not None:
        spent = await app.store.spent_since(since, job.id)
        out["job"] = {"spent_usd": round(spent, 6), "daily_usd": job.target.daily_budget_usd}
    owner_budget = await owner_daily_usd(app, job.owner)
    if owner_budget is not None and job.owner is not None:
        spent = await app.store.owner_spent_since(job.owner, since)
        out["owner"] = {"spent_usd": round(spent, 6), "daily_usd": owner_budget}
    if app.settings.budget.daily_usd is not None:
        spent = await app.store.spent_since(since)
        out["all"] = {"spent_usd": round(spent, 6), "daily_usd": app.settings.budget.daily_usd}
    return out


async def owner_daily_usd(app: Cronui, owner: str | None) -> float | None:
    """The `[policy]` daily budget the scheduler holds `owner`'s agent jobs to (its token's own, where it
    overrides it), or None when it holds them to none."""
    name = held_owner(owner)
    if name is None:
        return None
    return app.settings.policy.merged(await token_policy(app, name)).daily_budget_usd


async def session_report(app: Cronui, job: Job) -> dict[str, Any]:
    """The shared conversation an agent job talks in: its name, the jobs naming it, the messages it keeps."""
    session = job.target.session if isinstance(job.target, AgentTarget) else None
    if session is None:
        return {}
    jobs = [
        j.name for j in await app.store.list_jobs() if isinstance(j.target, AgentTarget) and j.target.session == session
    ]
    return {"name": session, "jobs": sorted(jobs), "messages": len(await app.store.get_session(session))}


async def unplaced(app: Cronui, jobs: list[Job]) -> list[str]:
    """A warning line for each label these jobs are pinned to that no live node carries."""
    return await unplaced_warnings(app.store, jobs, app.now_ms())


# ---------------------------------------------------------------- checks and a test run


async def job_problems(app: Cronui, job: Job) -> list[JobError]:
    """Every reason saving `job` would be refused (new without an id, a change with one), nothing saved:
    for a form that marks each bad field at once."""
    return await app.control.problems(job)


async def run_as_test(
    dispatcher: Dispatcher,
    job: Job,
    on_milestone: Callable[[Milestone], None],
    on_output: Callable[[str, str], None],
) -> Run:
    """Run `job` once in this process as a test: never stored as a run, recorded as a `test_run` event. Only
    a process with an engine's dispatcher can (the TUI); the run is its own."""
    return await dispatcher.test_run(job, on_milestone, on_output)


# ---------------------------------------------------------------- writes


def new_job(app: Cronui, name: str, schedule: str, kind: TargetKind, *, enabled: bool, source: str) -> Job:
    """A job of `kind` with the settings' defaults (time zone, timeout, misfire grace), for a face to fill in
    from its own input before `add_job`."""
    return Job(
        name=name,
        schedule=schedule,
        timezone=app.settings.timezone,
        kind=kind,
        target=TARGET_TYPES[kind](),
        timeout_s=app.settings.default_timeout,
        misfire_grace_s=app.settings.misfire_grace,
        enabled=enabled,
        source=source,
    )


async def add_job(app: Cronui, job: Job) -> Job:
    """Save a new job (validated: JobError names the field that is wrong), owned by the caller; Forbidden
    when the caller's policy does not allow it."""
    await policy.check_creations(app, [job])
    return await app.control.add_job(creator(app, job), auditor(app))


async def save_job(app: Cronui, job: Job) -> Job:
    """Save a changed job (one read with `get_job`); its next fire is worked out again from now. Forbidden
    when the caller's policy does not allow the job as changed."""
    if policy.policy_for(app) is not None:
        await policy.check_changes(app, [(await job_by_id(app, job.id) if job.id is not None else None, job)])
    return await app.control.update_job(job, audit=auditor(app))


async def add_entry(app: Cronui, entry: Mapping[str, Any], source: str = API_SOURCE) -> Job:
    """Add a job given as one job-file table: NameTaken when its name is in use, Invalid with every
    problem of the table."""
    name = entry.get("name")
    if isinstance(name, str) and await app.store.get_job_by_name(name) is not None:
        raise NameTaken(name)
    return await add_job(app, read_entry(app, entry, source))


async def edit_entry(app: Cronui, name: str, changes: Mapping[str, Any]) -> Job:
    """Change a job by job-file keys (`merged`): a value as a response masked it keeps the one stored; what
    the job's runs made of it (failures counted, disabled by them, its last status) is kept."""
    old = await get_job(app, name)
    new_name = changes.get("name", old.name)
    if new_name != old.name and isinstance(new_name, str) and await app.store.get_job_by_name(new_name) is not None:
        raise NameTaken(new_name)
    job = read_entry(app, merged(export_entry(old)[0], changes), source=old.source)
    job.id, job.created_at = old.id, old.created_at
    job.auto_disabled, job.consecutive_failures = old.auto_disabled, old.consecutive_failures
    job.last_status = old.last_status
    return await save_job(app, job)


async def remove_job(app: Cronui, name: str) -> Job:
    """Remove a job (its runs are kept; the name is free again). A job others chain to is refused."""
    return await app.control.remove_job(name, auditor(app))


async def set_enabled(app: Cronui, name: str, enabled: bool) -> Job:
    return await app.control.set_enabled(name, enabled, auditor(app))


async def run_now(
    app: Cronui,
    name: str,
    *,
    request: dict[str, Any] | None = None,
    cap: RunCap | None = None,
    params: Mapping[str, Any] | None = None,
) -> Run:
    """Queue a run now (for a job with approval, one waiting for it), its trigger by where the caller came
    from (`manual` from the CLI or the TUI, `api`, `mcp`, `hook`) and who asked recorded with it. `request`
    is the HTTP request that asked (a hook), `cap` the hook runs a job may have in a window (CapReached
    beyond). `params`: values for the job's params (a bad, unknown or missing one is refused, nothing queued)."""
    trigger = RUN_NOW_TRIGGERS.get(app.caller.origin, Trigger.MANUAL)
    if policy.policy_for(app) is not None:
        await policy.check_run_now(app, await get_job(app, name))
    return await app.control.trigger(
        name, request=request, cap=cap, trigger=trigger, requested_by=app.caller.owner, params=params
    )


async def apply_jobfile(app: Cronui, jobfile: JobFile, *, prune: bool, dry_run: bool) -> Plan:
    """What a job file changes (creates, updates, and with `prune` removes the jobs it no longer holds),
    written in one transaction unless `dry_run`: every job is validated first, and all are saved or none.
    JobFileError names the file, the job and the key of each problem."""
    live = await app.store.list_jobs()
    plan = plan_apply(jobfile, live, prune=prune)
    if not dry_run and not plan.empty:
        if policy.policy_for(app) is not None:
            before = {j.name: j for j in live}
            await policy.check_creations(app, plan.creates)
            await policy.check_changes(app, [(before.get(u.job.name), u.job) for u in plan.updates])
        await app.control.apply(
            [creator(app, j) for j in plan.creates], [u.job for u in plan.updates], plan.removes, auditor(app)
        )
    return plan


async def add_jobs(app: Cronui, new: list[Job]) -> None:
    """Add many jobs at once (an imported crontab): all validated first, then saved together, or none."""
    await policy.check_creations(app, new)
    await app.control.apply([creator(app, j) for j in new], [], [], auditor(app))


# ---------------------------------------------------------------- job-file tables


def read_entry(app: Cronui, entry: Mapping[str, Any], source: str = API_SOURCE) -> Job:
    """A job-file table read into a Job with the job file's rules; Invalid names every problem (the first
    in its line, `field: problem (and N more)`)."""
    reader = EntryReader(entry, app.settings, app.now_ms(), None)
    job = reader.read(source)
    if job is None:
        problems = [{"field": key, "problem": problem} for key, problem in reader.problems]
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise Invalid(f"{first['field']}: {first['problem']}{more}", problems)
    return job


def merged(entry: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A job's table with `changes` over it: a table given (http, agent, env, headers) replaces its keys one
    by one; a null value removes a key, and a value as a response masked it keeps the one stored."""
    out = dict(entry)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            table = dict(out[key])
            for sub, subval in value.items():
                if subval is None:
                    table.pop(sub, None)
                elif isinstance(subval, dict) and isinstance(table.get(sub), dict):  # http.headers, agent.headers
                    stored = table[sub]
                    given = {k: unmasked(v, stored.get(k), _shown(f"{key}.{sub}.{k}")) for k, v in subval.items()}
                    table[sub] = {k: v for k, v in {**stored, **given}.items() if v is not None}
                else:
                    table[sub] = unmasked(subval, table.get(sub), _shown(f"{key}.{sub}"))
            out[key] = table
        else:
            out[key] = unmasked(value, out.get(key), _shown(key))
    return out


def _shown(key: str) -> Callable[[Any], Any]:
    """How a response shows the value at `key` (the job file's keys, dotted: `env.DB_URL`, `http.url`)."""
    parts = key.split(".")
    if len(parts) >= 2 and parts[-2] in ("env", "headers"):
        return lambda v: mask_entry(parts[-1], v)
    if key in ("deliver_to", "alert_to"):
        return mask_webhook
    return lambda v: mask_text(v) if isinstance(v, str) else v
