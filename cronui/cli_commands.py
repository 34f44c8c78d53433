"""The subcommands that work on the store: jobs, runs, status, pause/resume, db, and the daemon.

Names, options and JSON fields here are a contract: scripts depend on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cronui.cli import UsageError, _settings, add_daemon_options
from cronui.config import Settings
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control
from cronui.jobs import JobError, parse_duration, parse_env_pairs
from cronui.model import Job, MisfirePolicy, OverlapPolicy, Run, RunStatus, TargetKind
from cronui.present import event_json, event_text, job_json, job_state, run_json
from cronui.store import Store, make_store
from cronui.store.base import RunFilter
from cronui.timefmt import human_span, iso_utc

FINAL = {s for s in RunStatus if s.is_final}


# ---------------------------------------------------------------- parsers


def _job_options(p: argparse.ArgumentParser, *, editing: bool) -> None:
    req = not editing
    p.add_argument("--schedule", required=req, metavar="EXPR", help="when it runs (see `cronui next --help`)")
    p.add_argument("--tz", metavar="ZONE", help="IANA time zone (default: the config's, else the system's)")
    kind = p.add_argument_group("what it runs (one of --shell, --http, --agent)")
    kind.add_argument("--shell", metavar="CMD", help="run CMD with /bin/sh -c")
    kind.add_argument("--cwd", metavar="DIR", help="working directory for --shell")
    kind.add_argument("--env", action="append", metavar="K=V", help="environment variable; V may be ${env:NAME}")
    kind.add_argument("--http", metavar="URL", help="request URL (may contain ${env:NAME})")
    kind.add_argument("--method", metavar="M", help="HTTP method (default GET)")
    kind.add_argument("--header", action="append", metavar="'K: V'", help="HTTP header (repeatable)")
    kind.add_argument("--body", metavar="TEXT|@FILE", help="request body; @FILE is read at run time")
    kind.add_argument("--expect-status", metavar="CODE", help="success is this status (default: any 2xx)")
    kind.add_argument("--expect-body", metavar="TEXT", help="success also needs TEXT in the response body")
    kind.add_argument("--agent", metavar="BASE_URL", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    kind.add_argument("--model", metavar="MODEL")
    kind.add_argument("--message", metavar="TEXT", help="placeholders: {job} {scheduled_for} {last_output}")
    kind.add_argument("--system", metavar="TEXT", help="system prompt")
    kind.add_argument("--api-key-env", metavar="VAR", help="the environment variable holding the API key")
    kind.add_argument("--conversation", choices=["isolated", "persistent"], help="fresh each run, or carried over")
    kind.add_argument("--max-tokens", metavar="N")
    kind.add_argument("--temperature", metavar="T")
    kind.add_argument("--idle-timeout", metavar="S", help="agent: fail when no token arrives for this long (2m)")
    out = p.add_argument_group("delivery and alerts")
    out.add_argument("--deliver-to", metavar="URL", help="webhook for results (may be ${env:NAME})")
    out.add_argument("--deliver", choices=["never", "on_failure", "always"], help="when to deliver (default always)")
    out.add_argument("--deliver-format", choices=["slack", "discord", "json"], help="payload shape (default json)")
    out.add_argument("--alert-to", metavar="URL", help="failure alerts (default: the delivery target)")
    out.add_argument("--alert-after", metavar="N", help="alert after N consecutive failures (default 2)")
    out.add_argument("--alert-cooldown", metavar="S", help="quiet time after an alert (default 1h)")
    p.add_argument("--timeout", metavar="S", help="time limit, e.g. 90, 90s, 10m (default 10m)")
    p.add_argument("--retries", metavar="N", help="retries after a failed attempt (default 0)")
    p.add_argument("--retry-delay", metavar="S", help="first retry delay, doubling each time (default 30s)")
    p.add_argument("--overlap", choices=[str(o) for o in OverlapPolicy], help="when the previous run still runs")
    p.add_argument("--queue-limit", metavar="N", help="with --overlap queue: runs waiting at most (default 3)")
    p.add_argument("--misfire", choices=[str(m) for m in MisfirePolicy], help="slots missed while down")
    p.add_argument("--misfire-grace", metavar="S", help="a slot late by less than this still runs (default 5m)")
    p.add_argument("--pool", metavar="NAME", help="concurrency pool (limits in the config's [pools])")
    p.add_argument("--on-success", action="append", metavar="JOB", help="run JOB after a success")
    p.add_argument("--on-failure", action="append", metavar="JOB", help="run JOB after a failure")
    p.add_argument("--tag", action="append", metavar="T", help="a tag (repeatable)")
    p.add_argument("--description", metavar="TEXT")
    if editing:
        p.add_argument("--name", dest="new_name", metavar="NEW", help="rename the job")
        p.add_argument("--enabled", dest="enabled", action="store_const", const=True, help="enable it")
        p.add_argument("--disabled", dest="enabled", action="store_const", const=False, help="disable it")
    else:
        p.add_argument("--disabled", action="store_true", help="create it disabled")
    p.add_argument("--json", action="store_true", help="print the job as JSON")


def add_parsers(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="add, list, edit and run jobs", description="Manage jobs.")
    jsub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    add = jsub.add_parser(
        "add",
        help="add a job",
        description="Add a job. Example: cronui jobs add backup --schedule '30 2 * * *' --shell 'restic backup ~'",
    )
    add.add_argument("name", metavar="NAME")
    _job_options(add, editing=False)
    add.set_defaults(handler=cmd_jobs_add)

    ls = jsub.add_parser("list", help="list jobs")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cmd_jobs_list)

    show = jsub.add_parser("show", help="show one job")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_jobs_show)

    edit = jsub.add_parser(
        "edit",
        help="change a job",
        description="Change a job's options. An empty value clears an option: --pool '' --on-success '' --tag ''.",
    )
    edit.add_argument("name", metavar="NAME")
    _job_options(edit, editing=True)
    edit.set_defaults(handler=cmd_jobs_edit)

    for verb, flag in (("enable", True), ("disable", False)):
        p = jsub.add_parser(verb, help=f"{verb} a job")
        p.add_argument("name", metavar="NAME")
        p.set_defaults(handler=cmd_jobs_enable, enable=flag)

    rm = jsub.add_parser("rm", help="remove a job (its history is kept; the name is freed)")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(handler=cmd_jobs_rm)

    run = jsub.add_parser("run", help="run a job now")
    run.add_argument("name", metavar="NAME")
    run.add_argument("--wait", action="store_true", help="wait for the final attempt; exit 0 if it succeeded")
    run.add_argument("--json", action="store_true")
    run.set_defaults(handler=cmd_jobs_run)

    runs = sub.add_parser("runs", help="list, inspect, follow and cancel runs", description="Inspect runs.")
    rsub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    rl = rsub.add_parser("list", help="list runs, newest first")
    rl.add_argument("--job", metavar="NAME")
    rl.add_argument("--status", action="append", metavar="S", help="filter by status (repeatable)")
    rl.add_argument("--since", metavar="DURATION", help="queued within this long, e.g. 24h")
    rl.add_argument("--limit", metavar="N", default="50")
    rl.add_argument("--json", action="store_true")
    rl.set_defaults(handler=cmd_runs_list)
    rs = rsub.add_parser("show", help="show one run, with its milestones")
    rs.add_argument("run_id", metavar="RUN_ID")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(handler=cmd_runs_show)
    rlog = rsub.add_parser("logs", help="print a run's output")
    rlog.add_argument("run_id", metavar="RUN_ID")
    rlog.add_argument("--follow", "-f", action="store_true", help="keep printing while it runs")
    rlog.set_defaults(handler=cmd_runs_logs)
    rt = rsub.add_parser("tail", help="follow live events (of whichever process schedules)")
    rt.add_argument("--json", action="store_true", help="one JSON object per event")
    rt.add_argument("--job", metavar="NAME", help="only this job's events")
    rt.set_defaults(handler=cmd_runs_tail)
    rc = rsub.add_parser("cancel", help="cancel a pending or running run")
    rc.add_argument("run_id", metavar="RUN_ID")
    rc.set_defaults(handler=cmd_runs_cancel)

    st = sub.add_parser("status", help="who schedules, what runs, what is next (exit 1 if nothing schedules)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=cmd_status)
    sub.add_parser("pause", help="maintenance: start nothing new (due slots are recorded skipped)").set_defaults(
        handler=cmd_pause, pause=True
    )
    sub.add_parser("resume", help="end maintenance").set_defaults(handler=cmd_pause, pause=False)

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dsub.add_parser("check", help="integrity check").set_defaults(handler=cmd_db, action="check")
    bk = dsub.add_parser("backup", help="write a consistent copy to PATH")
    bk.add_argument("path", metavar="PATH")
    bk.set_defaults(handler=cmd_db, action="backup")
    dsub.add_parser("prune", help="apply the retention policy now").set_defaults(handler=cmd_db, action="prune")

    dm = sub.add_parser("daemon", help="run the scheduler headless (same as --no-ui)")
    add_daemon_options(dm)
    dm.set_defaults(handler=cmd_daemon)


# ---------------------------------------------------------------- plumbing


def with_store(args: argparse.Namespace, body: Callable[[Settings, Store, Control], Awaitable[int]]) -> int:
    """Open the store named by the settings, run `body` with it, close it."""
    settings = _settings(args)

    async def go() -> int:
        store = make_store(settings.db)
        await store.open()
        try:
            return await body(settings, store, Control(store, settings, SystemClock()))
        finally:
            await store.close()

    return asyncio.run(go())


def _int(text: str, name: str, lo: int = 0, hi: int = 1_000_000) -> int:
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"{name}: expected a whole number, got {text!r}") from None
    if not lo <= n <= hi:
        raise UsageError(f"{name}: expected {lo} to {hi}, got {n}")
    return n


def _run_id(text: str) -> int:
    return _int(text.lstrip("#"), "RUN_ID", 1, 2**62)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _names(values: list[str] | None) -> list[str] | None:
    """Repeatable name options; a single empty value clears the list."""
    if values is None:
        return None
    return [v for v in values if v.strip()]


def _apply_options(job: Job, a: argparse.Namespace, settings: Settings) -> None:
    if a.schedule is not None:
        job.schedule = a.schedule
    if a.tz is not None:
        job.timezone = a.tz
    if a.shell is not None:
        job.kind = TargetKind.SHELL
        job.target = {**(job.target if job.kind == TargetKind.SHELL else {}), "command": a.shell}
    if a.cwd is not None:
        if job.kind != TargetKind.SHELL:
            raise JobError("--cwd: only shell jobs have a working directory")
        job.target["cwd"] = a.cwd or None
    if a.env is not None:
        pairs = [e for e in a.env if e]
        job.target["env"] = {**(job.target.get("env") or {}), **parse_env_pairs(pairs)} if pairs else {}
    _apply_http_options(job, a)
    _apply_agent_options(job, a)
    _apply_delivery_options(job, a)
    if a.timeout is not None:
        job.timeout_s = parse_duration(a.timeout or str(settings.default_timeout), "--timeout")
    if a.retries is not None:
        job.max_retries = _int(a.retries or "0", "--retries", 0, 100)
    if a.retry_delay is not None:
        job.retry_delay_s = parse_duration(a.retry_delay or "30", "--retry-delay")
    if a.overlap is not None:
        job.overlap = OverlapPolicy(a.overlap)
    if a.queue_limit is not None:
        job.queue_limit = _int(a.queue_limit or "3", "--queue-limit", 1, 10_000)
    if a.misfire is not None:
        job.misfire = MisfirePolicy(a.misfire)
    if a.misfire_grace is not None:
        job.misfire_grace_s = parse_duration(a.misfire_grace or str(settings.misfire_grace), "--misfire-grace")
    if a.pool is not None:
        job.pool = a.pool or None
    if (names := _names(a.on_success)) is not None:
        job.on_success = names
    if (names := _names(a.on_failure)) is not None:
        job.on_failure = names
    if (names := _names(a.tag)) is not None:
        job.tags = names
    if a.description is not None:
        job.description = a.description


def _apply_http_options(job: Job, a: argparse.Namespace) -> None:
    if a.http is not None:
        job.target = {**(job.target if job.kind == TargetKind.HTTP else {}), "url": a.http}
        job.kind = TargetKind.HTTP
    given = [a.method, a.header, a.body, a.expect_status, a.expect_body]
    if all(v is None for v in given):
        return
    if job.kind != TargetKind.HTTP:
        raise JobError("--method/--header/--body/--expect-*: only for --http jobs")
    t = job.target
    if a.method is not None:
        t["method"] = a.method.upper()
    if a.header is not None:
        headers = dict(t.get("headers") or {})
        for h in a.header:
            if not h:
                headers = {}
                continue
            key, sep, value = h.partition(":")
            if not sep or not key.strip():
                raise JobError(f"--header: expected 'Name: value', got {h!r}")
            headers[key.strip()] = value.strip()
        t["headers"] = headers
    if a.body is not None:
        body = a.body or None
        if body and body.startswith("@"):
            path = Path(body[1:]).expanduser().resolve()
            if not path.is_file():
                raise JobError(f"--body: no file {path}")
            body = f"@{path}"
        t["body"] = body
    if a.expect_status is not None:
        t["expect_status"] = _int(a.expect_status, "--expect-status", 100, 599) if a.expect_status else None
    if a.expect_body is not None:
        t["expect_body"] = a.expect_body or None


def _apply_agent_options(job: Job, a: argparse.Namespace) -> None:
    if a.agent is not None:
        job.target = {**(job.target if job.kind == TargetKind.AGENT else {}), "base_url": a.agent}
        job.kind = TargetKind.AGENT
    given = [a.model, a.message, a.system, a.api_key_env, a.conversation, a.max_tokens, a.temperature, a.idle_timeout]
    if all(v is None for v in given):
        return
    if job.kind != TargetKind.AGENT:
        raise JobError("--model/--message/--system/...: only for --agent jobs")
    t = job.target
    for key, value in (("model", a.model), ("message", a.message), ("conversation", a.conversation)):
        if value is not None:
            t[key] = value
    if a.system is not None:
        t["system"] = a.system or None
    if a.api_key_env is not None:
        t["api_key_env"] = a.api_key_env or None
    if a.max_tokens is not None:
        t["max_tokens"] = _int(a.max_tokens, "--max-tokens", 1, 10_000_000) if a.max_tokens else None
    if a.temperature is not None:
        try:
            t["temperature"] = float(a.temperature) if a.temperature else None
        except ValueError:
            raise JobError(f"--temperature: expected a number, got {a.temperature!r}") from None
    if a.idle_timeout is not None:
        t["idle_timeout_s"] = parse_duration(a.idle_timeout, "--idle-timeout") if a.idle_timeout else None


def _apply_delivery_options(job: Job, a: argparse.Namespace) -> None:
    d = dict(job.delivery)
    if a.deliver_to is not None:
        d["to"] = a.deliver_to or None
        d.setdefault("mode", "always")
    if a.deliver is not None:
        d["mode"] = a.deliver
    if a.deliver_format is not None:
        d["format"] = a.deliver_format
    if a.alert_to is not None:
        d["alert_to"] = a.alert_to or None
    if a.alert_after is not None:
        d["alert_after"] = _int(a.alert_after, "--alert-after", 1, 10_000)
    if a.alert_cooldown is not None:
        d["alert_cooldown_s"] = parse_duration(a.alert_cooldown, "--alert-cooldown")
    job.delivery = {k: v for k, v in d.items() if v is not None}


def _job_line(job: Job, paused: bool) -> str:
    nxt = iso_utc(job.next_run_at) or "—"
    last = str(job.last_status) if job.last_status else "—"
    state = job_state(job, paused)
    return f"{job.name:<24} {job.schedule:<18} {job.timezone:<18} {job.kind!s:<6} {state:<10} {last:<11} {nxt}"


def _run_line(run: Run) -> str:
    started = iso_utc(run.started_at or run.scheduled_for) or ""
    extra = run.error or run.reason or ""
    return (
        f"#{run.id:<7} {run.job_name:<24} {run.status!s:<11} {run.trigger!s:<9} {run.attempt:>2} "
        f"{started:<25} {human_span(run.duration_ms):>8}  {extra}"
    ).rstrip()


# ---------------------------------------------------------------- jobs


def cmd_jobs_add(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        kinds = [k for k in ("shell", "http", "agent") if getattr(args, k) is not None]
        if len(kinds) != 1:
            raise UsageError(
                "cronui jobs add: say what to run with exactly one of --shell CMD, --http URL, --agent URL"
            )
        job = Job(
            name=args.name,
            schedule=args.schedule,
            timezone=settings.timezone,
            kind=TargetKind(kinds[0]),
            target={},
            timeout_s=settings.default_timeout,
            misfire_grace_s=settings.misfire_grace,
            enabled=not args.disabled,
            source="cli",
        )
        _apply_options(job, args, settings)
        job = await control.add_job(job)
        if args.json:
            _print_json(job_json(job, full=True))
        else:
            when = iso_utc(job.next_run_at) or "never (disabled or done)"
            print(f"added {job.name}: {job.schedule} ({job.timezone}); next run {when}")
        return 0

    return with_store(args, body)


def cmd_jobs_list(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        jobs = await store.list_jobs()
        if args.json:
            _print_json([job_json(j) for j in jobs])
            return 0
        paused = await control.paused()
        print(f"{'NAME':<24} {'SCHEDULE':<18} {'ZONE':<18} {'KIND':<6} {'STATE':<10} {'LAST':<11} NEXT (UTC)")
        for job in jobs:
            print(_job_line(job, paused))
        return 0

    return with_store(args, body)


def cmd_jobs_show(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        from cronui.schedule import describe

        job = await control.job(args.name)
        assert job.id is not None
        now = SystemClock().now_ms()
        windows = {"all": None, "last_7d": now - 7 * 86_400_000, "last_30d": now - 30 * 86_400_000}
        data = job_json(job, full=True)
        data["stats"] = {}
        for window, since in windows.items():
            st = await store.job_stats(job.id, since)
            data["stats"][window] = {
                "runs": st.runs,
                "success_rate": st.success_rate,
                "median_ms": st.median_ms,
                "p95_ms": st.p95_ms,
                "total_tokens": st.total_tokens,
                "cost_usd": st.cost_usd,
            }
        if args.json:
            _print_json(data)
            return 0
        print(f"{job.name}  ({job_state(job, await control.paused())})")
        print(f"  schedule   {job.schedule}  — {describe(job.schedule)} ({job.timezone})")
        print(f"  next run   {iso_utc(job.next_run_at) or '—'}")
        print(f"  {job.kind!s:<10} {json.dumps(job.target, ensure_ascii=False)}")
        print(
            f"  policies   overlap {job.overlap} (queue {job.queue_limit}) · misfire {job.misfire} "
            f"(grace {human_span(job.misfire_grace_s * 1000)}) · retries {job.max_retries} "
            f"(delay {human_span(job.retry_delay_s * 1000)}) · timeout {human_span(job.timeout_s * 1000)}"
        )
        if job.pool:
            print(f"  pool       {job.pool}")
        if job.on_success or job.on_failure:
            print(
                f"  chains     on success: {', '.join(job.on_success) or '—'}"
                f" · on failure: {', '.join(job.on_failure) or '—'}"
            )
        if job.tags:
            print(f"  tags       {' '.join(job.tags)}")
        if job.delivery:
            d = job.delivery
            print(
                f"  delivery   {d.get('mode', 'never')} → {d.get('to') or '—'} ({d.get('format', 'json')})"
                + (f" · alerts → {d['alert_to']}" if d.get("alert_to") else "")
            )
        for window, label in (("all", "all time"), ("last_7d", "7 days"), ("last_30d", "30 days")):
            w = data["stats"][window]
            rate = "—" if w["success_rate"] is None else f"{w['success_rate']:.0%}"
            cost = "—" if w["cost_usd"] is None else f"${w['cost_usd']:.4f}"
            print(
                f"  {label:<10} {w['runs']} runs · success {rate} · median {human_span(w['median_ms'])} "
                f"· p95 {human_span(w['p95_ms'])} · tokens {w['total_tokens']:,} · cost {cost}"
            )
        return 0

    return with_store(args, body)


def cmd_jobs_edit(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        job = await control.job(args.name)
        _apply_options(job, args, settings)
        if args.new_name:
            job.name = args.new_name
        if args.enabled is not None:
            job.enabled = args.enabled
        job = await control.update_job(job)
        if args.json:
            _print_json(job_json(job, full=True))
        else:
            print(f"updated {job.name}; next run {iso_utc(job.next_run_at) or '—'}")
        return 0

    return with_store(args, body)


def cmd_jobs_enable(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        job = await control.set_enabled(args.name, args.enable)
        state = "enabled" if job.enabled else "disabled"
        print(f"{job.name} {state}" + (f"; next run {iso_utc(job.next_run_at)}" if job.next_run_at else ""))
        return 0

    return with_store(args, body)


def cmd_jobs_rm(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        job = await control.remove_job(args.name)
        print(f"removed {job.name} (its runs are kept)")
        return 0

    return with_store(args, body)


async def _live_holder(store: Store) -> bool:
    from cronui.engine.engine import pid_alive

    lease = await store.get_lease()
    if lease is None or lease.expires_at <= SystemClock().now_ms():
        return False
    import socket

    return lease.host != socket.gethostname() or pid_alive(lease.pid)


async def _wait_final(store: Store, root_id: int, poll_s: float = 0.05) -> Run:
    """The last attempt of a run, once it is final (retries included)."""
    while True:
        attempts = await store.attempts(root_id)
        last = attempts[-1]
        if last.status in FINAL and last.delivery_status != "pending":
            return last
        await asyncio.sleep(poll_s)


async def _run_in_process(settings: Settings, store: Store, name: str) -> Run | None:
    """No process schedules: take the lease, execute this one run (and its retries), release."""
    from cronui.engine.engine import Engine

    engine = Engine(store, settings)
    await engine.open()
    try:
        if not await engine.try_acquire():
            return None
        run = await engine.control.trigger(name)
        assert run.id is not None
        engine.dispatcher.only_roots = {run.id}
        while True:
            await engine.dispatcher.dispatch(paused=False)
            await engine.dispatcher.wait_idle()
            attempts = await store.attempts(run.id)
            last = attempts[-1]
            if last.status in FINAL:
                await engine.dispatcher.wait_deliveries()
                assert last.id is not None
                return await store.get_run(last.id) or last
            wait_ms = max(0, last.not_before - engine.clock.now_ms())
            await asyncio.sleep(min(wait_ms / 1000, settings.lease.renew))
            await engine.renew()
    finally:
        await engine.close()


def cmd_jobs_run(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        await control.job(args.name)
        paused = await control.paused()
        if paused and args.wait:
            raise UsageError("cronui: the scheduler is paused; nothing was queued (`cronui resume` first)")
        final: Run | None = None
        if not paused and not await _live_holder(store):
            final = await _run_in_process(settings, store, args.name)
        if final is None:
            run = await control.trigger(args.name)
            assert run.id is not None
            if not args.wait:
                if paused:
                    print(f"cronui: paused: run #{run.id} starts on `cronui resume`", file=sys.stderr)
                if args.json:
                    _print_json(run_json(run))
                else:
                    print(f"queued run #{run.id} of {args.name}")
                return 0
            final = await _wait_final(store, run.id)
        if args.json:
            _print_json(run_json(final))
        else:
            print(_run_line(final))
            if final.output:
                print(final.output.rstrip("\n"))
        return 0 if final.status is RunStatus.SUCCEEDED else 1

    return with_store(args, body)


# ---------------------------------------------------------------- runs


def cmd_runs_list(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        flt = RunFilter(limit=_int(args.limit, "--limit", 1, 100_000))
        if args.job:
            job = await control.job(args.job)
            flt.job_id = job.id
        if args.status:
            try:
                flt.statuses = [RunStatus(s) for s in args.status]
            except ValueError:
                known = " ".join(str(s) for s in RunStatus)
                raise UsageError(f"--status: expected one of {known}, got {args.status}") from None
        if args.since:
            seconds = parse_duration(args.since, "--since")
            flt.since = SystemClock().now_ms() - int(seconds * 1000)
        runs = await store.list_runs(flt)
        if args.json:
            _print_json([run_json(r) for r in runs])
            return 0
        for run in runs:
            print(_run_line(run))
        return 0

    return with_store(args, body)


async def _get_run(store: Store, text: str) -> Run:
    from cronui.engine.control import NotFound

    run_id = _run_id(text)
    run = await store.get_run(run_id)
    if run is None:
        raise NotFound(f"no run #{run_id}")
    return run


def cmd_runs_show(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        run = await _get_run(store, args.run_id)
        if args.json:
            _print_json(run_json(run))
            return 0
        print(_run_line(run))
        late = None if run.started_at is None else run.started_at - run.scheduled_for
        print(
            f"  scheduled {iso_utc(run.scheduled_for)} · started {iso_utc(run.started_at) or '—'}"
            + (f" (late {late} ms)" if late is not None else "")
        )
        print(
            f"  node {run.node or '—'} · exit {run.exit_code if run.exit_code is not None else '—'}"
            + (f" · HTTP {run.http_status}" if run.http_status is not None else "")
        )
        if run.request:
            print(f"  request {run.request.get('method', '')} {run.request.get('url', '')}")
        if run.total_tokens is not None or run.cost_usd is not None:
            cost = "unknown" if run.cost_usd is None else f"${run.cost_usd:.6f}"
            print(
                f"  tokens in {run.prompt_tokens} · out {run.completion_tokens} · total {run.total_tokens}"
                f" · cost {cost}"
            )
        for call in run.tool_calls:
            print(f"  tool call {call.get('name')} {call.get('arguments')}")
        if run.delivery_status:
            print(f"  delivery {run.delivery_status}" + (f": {run.delivery_reason}" if run.delivery_reason else ""))
        if run.error:
            print(f"  error {run.error}")
        base = run.started_at or run.queued_at
        for m in run.milestones:
            data = " ".join(f"{k}={v}" for k, v in m.data.items())
            print(f"  +{(m.at - base) / 1000:8.3f}s  {m.name} {data}".rstrip())
        if run.output:
            print("--- stdout ---")
            print(run.output.rstrip("\n"))
        if run.stderr:
            print("--- stderr ---")
            print(run.stderr.rstrip("\n"))
        return 0

    return with_store(args, body)


def cmd_runs_logs(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        from cronui.model import EventKind

        run = await _get_run(store, args.run_id)
        assert run.id is not None
        if run.status in FINAL or not args.follow:
            sys.stdout.write(run.output)
            if run.stderr:
                sys.stderr.write(run.stderr)
            return 0
        last = 0
        while True:
            for ev in await store.run_events(run.id, last):
                last = ev.id or last
                if ev.kind is EventKind.OUTPUT:
                    (sys.stderr if ev.name == "stderr" else sys.stdout).write(str(ev.data.get("text", "")))
                    sys.stdout.flush()
                elif ev.kind is EventKind.FINISHED:
                    return 0
            current = await store.get_run(run.id)
            if current is None or current.status in FINAL:
                if current is not None and last == 0:
                    sys.stdout.write(current.output)
                return 0
            await asyncio.sleep(0.1)

    return with_store(args, body)


def cmd_runs_tail(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        job_id = (await control.job(args.job)).id if args.job else None
        last = await store.last_event_id()
        while True:
            events = await store.events_after(last)
            for ev in events:
                last = ev.id or last
                if job_id is not None and ev.job_id != job_id:
                    continue
                print(json.dumps(event_json(ev), ensure_ascii=False) if args.json else event_text(ev), flush=True)
            if not events:
                await asyncio.sleep(0.1)

    try:
        return with_store(args, body)
    except KeyboardInterrupt:
        return 0


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        run = await control.cancel(_run_id(args.run_id))
        if run.status is RunStatus.RUNNING:
            print(f"cancelling run #{run.id} of {run.job_name}")
        elif run.status is RunStatus.CANCELLED:
            print(f"run #{run.id} of {run.job_name} cancelled")
        else:
            raise UsageError(f"run #{run.id} already ended: {run.status}")
        return 0

    return with_store(args, body)


# ---------------------------------------------------------------- status, pause, db


def cmd_status(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        lease = await store.get_lease()
        live = await _live_holder(store)
        jobs = await store.list_jobs()
        running = await store.list_runs(RunFilter(statuses=[RunStatus.RUNNING], limit=10_000))
        pending = await store.list_runs(RunFilter(statuses=[RunStatus.PENDING], limit=100_000))
        upcoming = sorted((j for j in jobs if j.enabled and j.next_run_at), key=lambda j: j.next_run_at or 0)
        paused = await control.paused()
        data: dict[str, Any] = {
            "db": settings.db,
            "scheduler": None
            if not live or lease is None
            else {"host": lease.host, "pid": lease.pid, "since": iso_utc(lease.acquired_at), "node": lease.holder},
            "paused": paused,
            "jobs": len(jobs),
            "enabled": sum(1 for j in jobs if j.enabled),
            "running": len(running),
            "pending": len(pending),
            "next": None if not upcoming else {"job": upcoming[0].name, "at": iso_utc(upcoming[0].next_run_at)},
        }
        if args.json:
            _print_json(data)
        else:
            sched = data["scheduler"]
            who = (
                f"{sched['host']}:{sched['pid']} since {sched['since']}" if sched else "nothing (no scheduler running)"
            )
            print(f"database   {settings.db}")
            print(f"scheduler  {who}{' · PAUSED' if paused else ''}")
            print(f"jobs       {data['jobs']} ({data['enabled']} enabled)")
            print(f"runs       {data['running']} running · {data['pending']} pending")
            nxt = data["next"]
            print(f"next       {nxt['job'] + ' at ' + nxt['at'] if nxt else '—'}")
        return 0 if data["scheduler"] else 1

    return with_store(args, body)


def cmd_pause(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        if args.pause:
            await control.pause()
            print("paused: nothing new starts; due slots are recorded as skipped (paused)")
        else:
            await control.resume()
            print("resumed")
        return 0

    return with_store(args, body)


def cmd_db(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        if args.action == "check":
            problems = await store.check()
            for p in problems:
                print(p)
            print("ok" if not problems else f"{len(problems)} problems")
            return 0 if not problems else 1
        if args.action == "backup":
            await store.backup(args.path)
            print(f"backed up to {args.path}")
            return 0
        r = settings.retention
        res = await store.prune(SystemClock().now_ms(), r.days, r.runs_per_job, r.event_hours)
        print(f"pruned {res.runs} runs and {res.events} events")
        return 0

    return with_store(args, body)


def cmd_daemon(args: argparse.Namespace) -> int:
    from cronui.daemon import run_daemon

    settings = _settings(args)
    log_format = args.log_format or "json"
    grace = parse_duration(args.grace or "30", "--grace")
    return asyncio.run(run_daemon(settings, log_format, grace))


def cmd_tui(args: argparse.Namespace) -> int:
    try:
        from cronui.ui.app import run_tui
    except ImportError:
        raise UsageError("cronui: the TUI is not part of this build yet; use the subcommands or --no-ui") from None
    return run_tui(_settings(args))
