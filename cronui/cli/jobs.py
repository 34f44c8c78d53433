"""`cronui jobs`: add, list, show, edit, enable/disable, remove and run jobs.

Names, options and JSON fields here are a contract: scripts depend on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING, Any

from cronui.application import audit, jobs, watch
from cronui.application.agent_tools import equip
from cronui.application.context import Cronui
from cronui.application.shapes import job_json, run_json
from cronui.cli import backfill as backfill_cli
from cronui.cli.common import (
    Commands,
    Handler,
    UsageError,
    command,
    group,
    live_holder,
    print_json,
    say,
    stored_problems,
    warn,
    with_app,
)
from cronui.cli.fires import say_next_fires
from cronui.cli.job_options import add_job_options, apply_job_options
from cronui.cli.pauses import add_job_parsers as add_job_pause_parsers
from cronui.config import Settings
from cronui.masking import mask_webhook, masked_target
from cronui.model import Job, Run, RunStatus, TargetKind
from cronui.model.audit import TOKEN_CREATED, TOKEN_ROTATED
from cronui.param_options import add_param_option, given_params
from cronui.present import (
    JOB_LINE_HEADER,
    declared_text,
    delivery_line,
    job_line,
    job_state,
    run_line,
    usage_line,
)
from cronui.retry_rules import rules_lines
from cronui.schedule.multi import display
from cronui.store import Store
from cronui.targets import Delivery, to_dict
from cronui.timefmt import human_span, iso_utc
from cronui.window_options import schedule_lines, schedule_text

if TYPE_CHECKING:
    from cronui.engine.engine import Engine


def add_parsers(sub: Commands) -> None:
    """Registers jobs and its actions."""
    jsub = group(sub, "jobs", "add, list, edit and run jobs", dest="jobs_command", description="Manage jobs.")
    add = _job_command(
        jsub,
        "add",
        "add a job",
        cmd_jobs_add,
        description="Add a job. Example: cronui jobs add backup --schedule '30 2 * * *' --shell 'restic backup ~'",
    )
    add_job_options(add, editing=False)
    listing = command(jsub, "list", "list jobs", cmd_jobs_list)
    listing.add_argument("--json", action="store_true")
    listing.add_argument(
        "--owner", metavar="OWNER", help="only the jobs OWNER created (cli:USER@HOST, api:TOKEN, ...; `unknown`)"
    )
    _job_command(jsub, "show", "show one job", cmd_jobs_show).add_argument("--json", action="store_true")
    edit = _job_command(
        jsub,
        "edit",
        "change a job",
        cmd_jobs_edit,
        description="Change a job's options. An empty value clears an option: --pool '' --on-success '' --tag ''.",
    )
    add_job_options(edit, editing=True)
    for verb, flag in (("enable", True), ("disable", False)):
        _job_command(jsub, verb, f"{verb} a job", cmd_jobs_enable, enable=flag)
    _job_command(jsub, "rm", "remove a job (its history is kept; the name is freed)", cmd_jobs_rm)
    add_job_pause_parsers(jsub)
    run = _job_command(jsub, "run", "run a job now", cmd_jobs_run)
    run.add_argument("--wait", action="store_true", help="wait for the final attempt; exit 0 if it succeeded")
    run.add_argument("--json", action="store_true")
    add_param_option(run)  # --param K=V
    token = _job_command(
        jsub,
        "token",
        "print a new trigger token for POST /hooks/NAME (`cronui serve`)",
        cmd_jobs_token,
        description="Make the job's trigger token for `POST /hooks/NAME` and print it. Only its hash is stored,"
        " so it is shown once: --rotate replaces it (the old one stops working).",
    )
    token.add_argument("--rotate", action="store_true", help="replace the job's token with a new one")
    backfill_cli.add_parser(jsub)


async def warn_unplaced(app: Cronui, listed: list[Job]) -> None:
    """Warn on stderr of each label these jobs are pinned to that no live node carries."""
    for line in await jobs.unplaced(app, listed):
        warn(f"warning: {line}")


def _job_command(
    jsub: Commands, verb: str, help: str, handler: Handler, *, description: str | None = None, **defaults: Any
) -> argparse.ArgumentParser:
    """An action on one job, given as NAME."""
    p = command(jsub, verb, help, handler, description=description, **defaults)
    p.add_argument("name", metavar="NAME")
    return p


# ---------------------------------------------------------------- add, list, show, edit, enable, rm


def cmd_jobs_add(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        kinds = [k for k in ("shell", "http", "agent") if getattr(args, k) is not None]
        if args.check and not kinds:  # a check runs nothing; --shell may name the command it watches
            kinds = ["shell"]
        if len(kinds) != 1:
            raise UsageError(
                "cronui jobs add: say what to run with exactly one of --shell CMD, --http URL, --agent URL"
            )
        job = jobs.new_job(
            app,
            args.name,
            schedule_text(args.schedule) or "",
            TargetKind(kinds[0]),
            enabled=not args.disabled,
            source="cli",
        )
        apply_job_options(job, args, app.settings)
        job = await jobs.add_job(app, job)
        await warn_unplaced(app, [job])
        if args.json:
            print_json(job_json(job, full=True))
        else:
            when = iso_utc(job.next_run_at) or "never (disabled or done)"
            print(f"added {job.name}: {display(job.schedule)} ({job.timezone}); next run {when}")
        return 0

    return with_app(args, body)


def cmd_jobs_list(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        listed = await jobs.list_jobs(app, args.owner)
        await warn_unplaced(app, listed)
        health = await watch.healths(app)
        if args.json:
            print_json([job_json(j, health=health.get(j.id or 0, watch.OK)) for j in listed])
            return 0
        paused = await app.control.paused()
        print(JOB_LINE_HEADER)
        for job in listed:
            say(job_line(job, paused, health.get(job.id or 0, watch.OK)))
        return 0

    return with_app(args, body)


def chain_text(job: Job, chain: str) -> str:
    """A chain's edges for `jobs show`: `publish (when contains:READY), cleanup`."""
    edges = [name + (f" (when {w})" if (w := job.edge(chain, name).when) else "") for name in getattr(job, chain)]
    return ", ".join(edges) or "—"


def cmd_jobs_show(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        job, data = await jobs.job_details(app, args.name)
        budget, session = data.get("budget", {}), data.get("session", {})
        for problem in stored_problems(job):
            warn(f"warning: {problem}")
        if args.json:
            print_json(data)
            return 0
        say(f"{job.name}  ({job_state(job, await app.control.paused())})")
        for line in schedule_lines(job, {**data, **job_json(job, full=True)}):
            say(line)
        if job.skip_calendar or job.only_calendar or job.paused_until is not None:
            say_next_fires(job, data["next_fires"], app.now_ms())  # with the fires its calendars skip struck out
        say(f"  owner      {data['owner']}")
        say(f"  {job.kind!s:<10} {json.dumps(masked_target(to_dict(job.target)), ensure_ascii=False)}")
        say(
            f"  policies   overlap {job.overlap} (queue {job.queue_limit}) · misfire {job.misfire} "
            f"(grace {human_span(job.misfire_grace_s * 1000)}) · retries {job.max_retries} "
            f"(delay {human_span(job.retry_delay_s * 1000)}) · timeout {human_span(job.timeout_s * 1000)}"
        )
        for line in rules_lines(job):
            say(f"  retry      {line}")
        if job.pool:
            say(f"  pool       {job.pool}")
        if job.params:
            say(f"  params     {declared_text(job)}")
        if job.check_grace_s is not None:
            grace = human_span(job.check_grace_s * 1000)
            say(f"  check      watched, not run: a slot with no ping within {grace} is missed")
        if job.approval:
            say(
                f"  approval   each run waits up to {human_span(job.approval_timeout_s * 1000)}, then "
                f"{job.approval_default}s · at most {job.approval_max_waiting} waiting"
            )
        for scope, b in budget.items():
            whose = {"job": "this job's daily budget", "owner": f"{job.owner}'s daily budget ([policy])"}.get(
                scope, "all agent jobs' daily budget"
            )
            say(f"  budget     ${b['spent_usd']:.4f} spent today (UTC) / ${b['daily_usd']:g} {whose}")
        if job.node_label:
            say(f"  placement  nodes with label {job.node_label}")
        if session:
            others = [n for n in session["jobs"] if n != job.name]
            say(
                f"  session    {session['name']} · {session['messages']} messages kept"
                f" · shared with {', '.join(others) or 'no other job'}"
            )
        if job.on_success or job.on_failure:
            chains = f"on success: {chain_text(job, 'on_success')} · on failure: {chain_text(job, 'on_failure')}"
            say(f"  chains     {chains}")
        if job.tags:
            say(f"  tags       {' '.join(job.tags)}")
        d = job.delivery
        if d != Delivery():
            say(
                f"  delivery   {d.mode or 'never'} → {mask_webhook(d.to) or '—'} ({d.format})"
                + (f" · alerts → {mask_webhook(d.alert_to)}" if d.alert_to else "")
            )
        say(f"  health     {data['health']}")
        for line in watch.alerts_lines(data["alerts"]):
            say(f"  alerts     {line}")
        for window, label in (("all", "all time"), ("last_7d", "7 days"), ("last_30d", "30 days")):
            w = data["stats"][window]
            rate = "—" if w["success_rate"] is None else f"{w['success_rate']:.0%}"
            cost = "—" if w["cost_usd"] is None else f"${w['cost_usd']:.4f}"
            say(
                f"  {label:<10} {w['runs']} runs · success {rate} · median {human_span(w['median_ms'])} "
                f"· p95 {human_span(w['p95_ms'])} · tokens {w['total_tokens']:,} · cost {cost}"
            )
        return 0

    return with_app(args, body)


def cmd_jobs_edit(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        job = await jobs.get_job(app, args.name)
        apply_job_options(job, args, app.settings)
        if args.new_name:
            job.name = args.new_name
        if args.enabled is not None:
            job.enabled = args.enabled
        job = await jobs.save_job(app, job)
        await warn_unplaced(app, [job])
        if args.json:
            print_json(job_json(job, full=True))
        else:
            print(f"updated {job.name}; next run {iso_utc(job.next_run_at) or '—'}")
        return 0

    return with_app(args, body)


def cmd_jobs_enable(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        job = await jobs.set_enabled(app, args.name, args.enable)
        state = "enabled" if job.enabled else "disabled"
        print(f"{job.name} {state}" + (f"; next run {iso_utc(job.next_run_at)}" if job.next_run_at else ""))
        return 0

    return with_app(args, body)


def cmd_jobs_rm(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        job = await jobs.remove_job(app, args.name)
        print(f"removed {job.name} (its runs are kept)")
        return 0

    return with_app(args, body)


def cmd_jobs_token(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        from cronui.application.access import issue_hook_token  # hashing only: no web stack loads

        job = await jobs.get_job(app, args.name)
        token = await issue_hook_token(app.store, job, rotate=args.rotate)
        if token is None:
            raise UsageError(
                f"cronui: job {job.name!r} has a trigger token already; only its hash is kept, so it cannot be "
                f"shown again: `cronui jobs token {job.name} --rotate` makes a new one (the old one stops working)"
            )
        await audit.record(app, TOKEN_ROTATED if args.rotate else TOKEN_CREATED, job)
        print(token)
        return 0

    return with_app(args, body)


# ---------------------------------------------------------------- run


async def _wait_final(store: Store, root_id: int, poll_s: float = 0.05) -> Run:
    """The last attempt of a run, once it is final (retries included)."""
    while True:
        attempts = await store.attempts(root_id)
        last = attempts[-1]
        if last.status.is_final and last.delivery_status != "pending":
            return last
        await asyncio.sleep(poll_s)


async def _keep_lease(engine: Engine, every_s: float) -> None:
    """Renew the scheduler lease while this process executes a run; losing it stops the run (Engine.renew)."""
    while engine.holding:
        await asyncio.sleep(every_s)
        await engine.renew()


async def _run_in_process(
    settings: Settings, store: Store, name: str, requested_by: str, params: dict[str, Any] | None = None
) -> Run | None:
    """No process schedules: take the lease, execute this one run (and its retries), release."""
    # the engine loads the dispatcher and its executors (httpx): only a run in this process pays for it
    from cronui.engine.engine import Engine

    engine = Engine(store, settings)
    equip(engine)  # the tools agent jobs may offer their models
    await engine.open()
    try:
        if not await engine.try_acquire():
            return None
        run = await engine.control.trigger(name, requested_by=requested_by, params=params)
        assert run.id is not None
        engine.dispatcher.only_roots = {run.id}
        renewer = asyncio.create_task(_keep_lease(engine, settings.lease.renew))
        try:
            while True:
                if engine.holding:
                    await engine.dispatcher.dispatch(paused=False)
                await engine.dispatcher.wait_idle()
                attempts = await store.attempts(run.id)
                last = attempts[-1]
                if last.status.is_final or not engine.holding:
                    # final, or another scheduler took over (ours were stopped first): it has the rest
                    await engine.dispatcher.wait_deliveries()
                    assert last.id is not None
                    return await store.get_run(last.id) or last
                wait_ms = max(0, last.not_before - engine.clock.now_ms())
                await asyncio.sleep(min(wait_ms / 1000, settings.lease.renew))
        finally:
            renewer.cancel()
    finally:
        await engine.close()


def _report_final(args: argparse.Namespace, final: Run) -> int:
    """`jobs run --wait`'s answer: the ended run (its line, its output or reply, an agent's tokens and cost,
    where its result was delivered; or its JSON); exit 0 if it succeeded."""
    if args.json:
        print_json(run_json(final))
    else:
        say(run_line(final))
        if final.output:
            say(final.output.rstrip("\n"))
        for line in (usage_line(final), delivery_line(final)):
            if line:
                say(f"  {line}")
    return 0 if final.status is RunStatus.SUCCEEDED else 1


async def _queue_for_approval(app: Cronui, args: argparse.Namespace) -> int:
    """`jobs run` of a job with approval: its run waits; with --wait, until it ends (once approved, the
    process that schedules runs it)."""
    if args.wait and not await live_holder(app.store):
        raise UsageError(
            f"cronui: {args.name} waits for approval and nothing schedules this database to run it once approved "
            "(start `cronui daemon`, or leave out --wait); nothing was queued"
        )
    run = await jobs.run_now(app, args.name, params=args.given_params)
    assert run.id is not None
    if run.status is RunStatus.SKIPPED:
        raise UsageError(f"cronui: run #{run.id} of {args.name} not queued: {run.reason}")
    if args.wait:
        return _report_final(args, await _wait_final(app.store, run.id))
    if args.json:
        print_json(run_json(run))
    else:
        print(
            f"run #{run.id} of {args.name} waits for approval until {iso_utc(run.approval_deadline)} "
            f"(then {run.approval_default}): cronui runs approve {run.id} · cronui runs reject {run.id}"
        )
    return 0


def cmd_jobs_run(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        settings, store = app.settings, app.store
        job = await jobs.get_job(app, args.name)
        args.given_params = given_params(job, args.param)  # refused here, before anything is queued
        paused = await app.control.paused()
        if paused and args.wait:
            raise UsageError("cronui: the scheduler is paused; nothing was queued (`cronui resume` first)")
        final: Run | None = None
        if job.approval:  # the run waits for someone to approve it: nothing runs here and now
            return await _queue_for_approval(app, args)
        if not paused and not await live_holder(store):
            if store.multi_node and args.wait:  # a CLI never runs a cluster's jobs itself
                raise UsageError(
                    "cronui: no node schedules this database (start `cronui daemon` on one); nothing was queued"
                )
            elsewhere = job.node_label is not None and job.node_label not in settings.node.labels
            if not store.multi_node and elsewhere and args.wait:  # pinned to a label this process lacks
                raise UsageError(
                    f"cronui: {job.name} runs only on a node with label {job.node_label!r} and none schedules "
                    f"this database (start `cronui daemon --label {job.node_label}`); nothing was queued"
                )
            if not store.multi_node and not elsewhere:
                final = await _run_in_process(settings, store, args.name, app.caller.owner, args.given_params)
        if final is None:
            run = await jobs.run_now(app, args.name, params=args.given_params)
            assert run.id is not None
            if not args.wait:
                if paused:
                    warn(f"paused: run #{run.id} starts on `cronui resume`")
                if args.json:
                    print_json(run_json(run))
                else:
                    print(f"queued run #{run.id} of {args.name}")
                return 0
            final = await _wait_final(store, run.id)
        return _report_final(args, final)

    return with_app(args, body)
