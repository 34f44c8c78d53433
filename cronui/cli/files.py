"""`cronui apply`, `cronui export`, `cronui import crontab`: jobs as code.

A job file is checked completely before anything is written; every problem is printed on its own line
(file:line: job: key: problem) and the exit code is 2. What is written goes through `Control.apply`, one
transaction for the whole file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from cronui.application import jobs as job_cases
from cronui.application.context import Cronui
from cronui.bounds import POSITIVE_DURATION
from cronui.cli.common import (
    EXIT_BAD_INPUT,
    Commands,
    UsageError,
    command,
    group,
    print_json,
    say,
    settings_from,
    stored_problems,
    warn,
    with_app,
)
from cronui.crontab import CronEntry, looks_like_system, names_for, parse_crontab
from cronui.engine.clock import SystemClock
from cronui.jobfile import (
    MAX_REPORTED,
    JobFileError,
    dump_json,
    dump_toml,
    format_plan,
    plan_counts,
    plan_json,
    read_jobfile,
    show_value,
)
from cronui.jobs import JobError, parse_duration, validate
from cronui.model import Job, TargetKind
from cronui.schedule import ScheduleError, get_zone
from cronui.targets import ShellTarget

APPLY_EPILOG = """\
a job file holds [[job]] tables; keys mirror `cronui jobs add` options:

  [[job]]
  name = "backup"
  schedule = "30 2 * * *"
  timezone = "Europe/Berlin"        # default: this machine's zone, stored with the job
  shell = "restic backup ~"         # or http = { url = ... } or agent = { base_url = ..., model = ..., message = ... }
  env = { RESTIC_PASSWORD = "${env:RESTIC_PASSWORD}" }
  timeout = "2h"
  retries = 2
  deliver = "on_failure"
  deliver_to = "${env:SLACK_WEBHOOK}"
  deliver_format = "slack"

Jobs are matched by name. A job made elsewhere (CLI, TUI, another file) with a name in the file is
adopted: it is updated and from then on belongs to this file. Leaving `enabled` out keeps a job's
current on/off state; `enabled = true` or `false` enforces it.
"""


def add_parsers(sub: Commands) -> None:
    """Registers apply, export and import."""
    ap = command(
        sub,
        "apply",
        "create/update jobs from a TOML job file",
        cmd_apply,
        description="Create and update the jobs in FILE (by name), in one transaction; validate everything first.",
        epilog=APPLY_EPILOG,
    )
    ap.add_argument("file", metavar="FILE", help="a .toml job file (or .json in the same shape)")
    ap.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    ap.add_argument("--prune", action="store_true", help="remove jobs applied from this file earlier and gone from it")
    ap.add_argument("--json", action="store_true", help="print the changes as JSON")

    ex = command(
        sub,
        "export",
        "print all jobs as a job file",
        cmd_export,
        description="Print every job as a TOML job file that `cronui apply` reads back to the same jobs. "
        "${env:NAME} references are written as they are.",
    )
    ex.add_argument("--json", action="store_true", help="JSON instead of TOML (apply reads .json files too)")

    isub = group(
        sub,
        "import",
        "import jobs from elsewhere",
        dest="import_kind",
        metavar="FORMAT",
        description="Import jobs from another scheduler.",
    )
    ct = command(
        isub,
        "crontab",
        "import a crontab: each line becomes a shell job",
        cmd_import_crontab,
        description="Turn each crontab(5) line into a shell job. Without FILE, reads `crontab -l`; "
        "`-` reads standard input (crontab -l | cronui import crontab -).",
    )
    ct.add_argument("file", metavar="FILE", nargs="?", help="a crontab file, or - for standard input")
    ct.add_argument("--dry-run", action="store_true", help="show the jobs it would make; change nothing")
    ct.add_argument("--skip-invalid", action="store_true", help="import the good lines even if some are bad")
    ct.add_argument("--tz", metavar="ZONE", help="zone for lines before any CRON_TZ= (default: the config's)")
    ct.add_argument("--timeout", metavar="S", help="time limit for the imported jobs (default: the config's, 10m)")
    ct.add_argument(
        "--as-checks",
        action="store_true",
        help="each line becomes a check: crontab keeps running it, prefixed with `cronui exec NAME --`",
    )
    ct.add_argument("--grace", metavar="DUR", help="with --as-checks: a slot with no ping this long after is missed")


# ---------------------------------------------------------------- plumbing


def _report(problems: list[str], summary: str | None = None) -> int:
    """Every problem on its own line (a file is fixed in one pass, not one error per run); exit 2."""
    for line in problems[:MAX_REPORTED]:
        warn(line)
    if len(problems) > MAX_REPORTED:
        warn(f"... and {len(problems) - MAX_REPORTED} more")
    if summary and len(problems) > 1:
        warn(summary)
    return EXIT_BAD_INPUT


# ---------------------------------------------------------------- apply


def cmd_apply(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        jobfile = read_jobfile(args.file, settings, SystemClock().now_ms())
    except JobFileError as e:
        return _report(e.problems, f"{args.file}: {len(e.problems)} problems; nothing applied")

    async def body(app: Cronui) -> int:
        plan = await job_cases.apply_jobfile(app, jobfile, prune=args.prune, dry_run=args.dry_run)
        if args.json:
            print_json(plan_json(plan, source=jobfile.source, dry_run=args.dry_run))
            return 0
        for line in format_plan(plan):
            say(line)
        if plan.empty:
            print(f"{args.file}: no changes ({len(jobfile.jobs)} jobs up to date)")
        elif args.dry_run:
            print(f"dry run: {plan_counts(plan)}; nothing written")
        else:
            print(f"applied {args.file}: {plan_counts(plan, done=True)}")
        return 0

    try:
        return with_app(args, body)
    except JobFileError as e:
        return _report(e.problems, f"{args.file}: {len(e.problems)} problems; nothing applied")


# ---------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        jobs = await job_cases.list_jobs(app)
        problems = [line for job in jobs for line in stored_problems(job)]
        if problems:  # a file holding them would not apply; say what to fix instead
            return _report(problems, f"{len(problems)} stored values out of bounds; nothing exported")
        text, warnings = dump_json(jobs) if args.json else dump_toml(jobs)
        for w in warnings:
            warn(f"warning: {w}")
        sys.stdout.write(text)
        return 0

    return with_app(args, body)


# ---------------------------------------------------------------- import crontab


def _read_crontab(path: str | None) -> tuple[str, str, str]:
    """The crontab text, how to name it in messages, and the source recorded on its jobs."""
    if path == "-":
        return sys.stdin.read(), "stdin", "crontab:stdin"
    if path is None:
        try:
            done = subprocess.run(["crontab", "-l"], capture_output=True, text=True, timeout=30, check=False)
        except FileNotFoundError:
            raise UsageError("cronui import crontab: no `crontab` command here; give a FILE, or - for stdin") from None
        except subprocess.TimeoutExpired:
            raise UsageError("cronui import crontab: `crontab -l` did not answer within 30s") from None
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["failed"])[0]
            raise UsageError(f"cronui import crontab: crontab -l: {why}")
        return done.stdout, "crontab -l", "crontab:crontab -l"
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), path, "crontab:" + os.path.abspath(path)
    except FileNotFoundError:
        raise UsageError(f"cronui import crontab: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cronui import crontab: {path}: cannot read it: {e}") from None


def _same_key(job: Job) -> tuple[str, str, str, str]:
    """What makes an imported line the same job as one already there: importing a crontab twice
    (crontab -l | cronui import crontab -) adds only the lines that are new."""
    t = job.target
    if not isinstance(t, ShellTarget):  # only shell jobs are compared
        return (job.schedule, job.timezone, t.summary(), "{}")
    return (job.schedule, job.timezone, t.command, json.dumps(t.env, sort_keys=True))


def cmd_import_crontab(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    default_zone = args.tz if args.tz is not None else settings.timezone
    get_zone(default_zone)
    timeout = parse_duration(args.timeout, "--timeout") if args.timeout else settings.default_timeout
    if args.grace is not None and not args.as_checks:
        raise UsageError("cronui import crontab: --grace is for checks (--as-checks)")
    grace = parse_duration(args.grace, "--grace", POSITIVE_DURATION) if args.grace else None
    if timeout <= 0:
        raise UsageError("--timeout: must be more than 0 seconds")
    text, display, source = _read_crontab(args.file)
    system = looks_like_system(text, None if args.file in (None, "-") else args.file)
    tab = parse_crontab(text, system=system)
    now = SystemClock().now_ms()

    errors = list(tab.errors)
    bad_zones: dict[int, str] = {}
    built: list[tuple[CronEntry, Job]] = []
    for entry in tab.entries:
        zone = entry.zone or default_zone
        if entry.zone_line is not None and entry.zone_line not in bad_zones:
            try:
                get_zone(zone)
            except ScheduleError as e:
                bad_zones[entry.zone_line] = str(e)
                errors.append((entry.zone_line, f"time zone: {e}"))
        if entry.zone_line in bad_zones:
            errors.append((entry.line, f"not imported: its time zone (line {entry.zone_line}) is not valid"))
            continue
        job = Job(
            name="imported",
            schedule=entry.schedule,
            timezone=zone,
            kind=TargetKind.SHELL,
            target=ShellTarget(command=entry.command, env=dict(entry.env)),
            description=entry.description,
            timeout_s=timeout,
            misfire_grace_s=settings.misfire_grace,
            tags=["crontab"],
            source=source,
            is_check=args.as_checks,
            grace_s=grace,
        )
        try:
            validate(job, now, settings.pools)
        except JobError as e:
            errors.append((entry.line, str(e)))
            continue
        built.append((entry, job))
    errors.sort(key=lambda e: e[0])
    if errors and not args.skip_invalid:
        lines = [f"{display}:{n}: {msg}" for n, msg in errors]
        if len(lines) == 1:
            lines[0] += " (nothing imported; --skip-invalid imports the rest)"
        return _report(lines, f"{display}: {len(errors)} bad lines; nothing imported (--skip-invalid imports the rest)")

    async def body(app: Cronui) -> int:
        live = await job_cases.list_jobs(app)
        for n, note in tab.notes:
            say(f"{display}:{n}: {note}" if n else f"{display}: {note}")
        for n, msg in errors:
            warn(f"{display}:{n}: {msg} (skipped)")
        same = {_same_key(j): j for j in live if j.kind is TargetKind.SHELL}
        fresh: list[tuple[CronEntry, Job]] = []
        for entry, job in built:
            key = _same_key(job)
            if key in same:
                say(f"= {display}:{entry.line}: already imported as {same[key].name!r}; skipped")
            else:
                fresh.append((entry, job))
        taken = {j.name for j in live}
        for (_entry, job), name in zip(fresh, names_for([e for e, _ in fresh], taken), strict=True):
            job.name = name
        for _entry, job in fresh:
            command = job.target.summary().replace("\n", "\\n")
            say(f"+ {job.name}  {job.schedule} ({job.timezone})  {command}")
        jobs = [job for _, job in fresh]
        if jobs and not args.timeout and not args.as_checks:
            print(
                f"note: cron has no time limit; these jobs stop after {show_value('timeout', timeout)} "
                "(--timeout sets another, or later: cronui jobs edit NAME --timeout 2h)"
            )
        if not jobs:
            print(f"nothing to import from {display}")
            return 0
        skipped = f" ({len(errors)} bad lines skipped)" if errors else ""
        if args.dry_run:
            print(f"dry run: {len(jobs)} jobs to import from {display}{skipped}; nothing written")
            return 0
        await job_cases.add_jobs(app, jobs)
        print(f"imported {len(jobs)} {'checks' if args.as_checks else 'jobs'} from {display}{skipped}")
        if args.as_checks:
            print("crontab keeps running them: prefix each line's command so that cronui hears of its runs:")
            for entry, job in fresh:
                user = f"{entry.user} " if entry.user else ""
                print(f"  {entry.schedule} {user}cronui exec {job.name} -- {entry.raw}")
        return 0

    return with_app(args, body)
