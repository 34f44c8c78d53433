"""The commands about the scheduler as a whole: `next` and `locate` (no store needed), `status`,
`pause`/`resume`, `db`, `daemon` (= `--no-ui`), and opening the TUI."""

from __future__ import annotations

import argparse
import json
import time

from cronui import locations
from cronui.application import pauses, stats, watch
from cronui.application.context import Cronui
from cronui.application.values import parse_count, parse_instant
from cronui.cli.common import (
    Commands,
    command,
    group,
    print_json,
    say,
    settings_from,
    with_app,
    with_store,
)
from cronui.cli.pauses import add_pause_options
from cronui.config import Settings
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control
from cronui.placement import missing_text
from cronui.redaction import redacted
from cronui.schedule import SYNTAX_HELP, get_zone, parse
from cronui.store import Store
from cronui.timefmt import iso_in_zone


def add_storeless_parsers(sub: Commands) -> None:
    """Registers next and locate (first in --help)."""
    nxt = command(
        sub,
        "next",
        "print the next fire times of a schedule",
        cmd_next,
        description="Print the next N fire instants of a schedule, strictly after --from, then its reading.",
        epilog=SYNTAX_HELP,
    )
    nxt.add_argument("expr", metavar="EXPR", help="the schedule, e.g. '0 9 * * 1-5' (quote it)")
    nxt.add_argument("--tz", metavar="ZONE", help="IANA time zone (default: the config's, else the system's)")
    nxt.add_argument("--from", dest="start", metavar="ISO", help="start instant (default: now); no offset = --tz")
    nxt.add_argument("-n", dest="count", metavar="N", default="5", help="how many fire times (default 5)")
    nxt.add_argument("--json", action="store_true", help="print only a JSON array of ISO-8601 strings")

    loc = command(sub, "locate", "print the paths in use", cmd_locate, description="Print a path cronui uses.")
    loc.add_argument("what", choices=["config", "db", "themes"])


def add_parsers(sub: Commands) -> Commands:
    """Registers status, pause, resume, db and daemon; returns the db group (`db copy` joins it)."""
    st = command(sub, "status", "who schedules, what runs, what is next (exit 1 if nothing schedules)", cmd_status)
    st.add_argument("--json", action="store_true")
    st.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when every enabled job's health is ok, else 1, printing each that is not (NAME HEALTH)",
    )
    pause = command(
        sub, "pause", "maintenance: start nothing new (due slots are recorded skipped)", cmd_pause, pause=True
    )
    add_pause_options(pause)
    command(sub, "resume", "end maintenance", cmd_pause, pause=False)

    dsub = group(sub, "db", "database maintenance", dest="db_command")
    command(dsub, "check", "integrity check", cmd_db, action="check")
    bk = command(dsub, "backup", "write a consistent copy to PATH", cmd_db, action="backup")
    bk.add_argument("path", metavar="PATH")
    command(dsub, "prune", "apply the retention policy now", cmd_db, action="prune")

    return dsub


# ---------------------------------------------------------------- next, locate


def cmd_next(args: argparse.Namespace) -> int:
    count = parse_count(args.count)
    zone = args.tz if args.tz is not None else settings_from(args).timezone
    get_zone(zone)
    now_ms = int(time.time() * 1000)
    start = parse_instant(args.start, zone) if args.start is not None else now_ms
    sched = parse(args.expr, zone, now_ms=now_ms)
    fires = [iso_in_zone(ms, get_zone(zone)) for ms in sched.next_n(start, count)]
    if args.json:
        print(json.dumps(fires))
    else:
        for line in fires:
            print(line)
        print(f"{sched.describe()} ({zone})")
    return 0


def cmd_locate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.what == "config":
        print(settings.config_file or locations.default_config_file())
    elif args.what == "db":
        print(redacted(settings.db))
    else:
        print(locations.user_themes_dir())
    return 0


# ---------------------------------------------------------------- status, pause, db


async def _check(app: Cronui, as_json: bool) -> int:
    """`status --check`: for systemd, Nagios or a cron watching the watcher."""
    found = await watch.unhealthy(app)
    if as_json:
        print_json([{"name": name, "health": health} for name, health in found])
    elif found:
        for name, health in found:
            say(f"{name} {health}")
    else:
        print("ok: every enabled job is ok")
    return 1 if found else 0


def cmd_status(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        if args.check:
            return await _check(Cronui(settings, store, control), args.json)
        data = await stats.status(Cronui(settings, store, control))
        paused = data["paused"]
        if args.json:
            print_json(data)
        else:
            sched, stalled = data["scheduler"], data["stalled"]
            if sched and "nodes" in sched:
                who = f"{sched['nodes']} node{'s' if sched['nodes'] != 1 else ''} on {', '.join(sched['hosts'])}"
            elif sched:
                who = f"{sched['host']}:{sched['pid']} since {sched['since']}"
                if not sched["renewing"]:
                    who += f" · NOT RENEWING its lease since {sched['renewed']} (a database fault?)"
            elif stalled:
                who = (
                    f"nothing: {stalled['host']}:{stalled['pid']} is running but has not renewed its lease "
                    f"since {stalled['renewed']} (a database fault?)"
                )
            else:
                who = "nothing (no scheduler running)"
            print(f"database   {data['db']}")
            until = f" until {data['paused_until']}" if data.get("paused_until") else ""
            print(f"scheduler  {who}{f' · PAUSED{until}' if paused else ''}")
            print(f"jobs       {data['jobs']} ({data['enabled']} enabled)")
            waiting = data["awaiting_approval"]
            print(
                f"runs       {data['running']} running · {data['pending']} pending"
                + (f" · {waiting} awaiting approval (cronui runs list --status awaiting_approval)" if waiting else "")
            )
            nxt = data["next"]
            print(f"next       {nxt['job'] + ' at ' + nxt['at'] if nxt else '—'}")
            fault = data["last_db_fault"]
            if fault:
                print(f"db fault   last: {fault['error']} · at {fault['since']} for {fault['lasted_s']:g}s, then over")
            for label, names in sorted(data["unplaced"].items()):
                say(f"placement  {missing_text(label, names)}")
        return 0 if data["scheduler"] else 1

    return with_store(args, body)


def cmd_pause(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        if args.pause:
            end = await pauses.pause_scheduler(app, getattr(args, "span", None), getattr(args, "until", None))
            until = "" if end is None else f" until {iso_in_zone(end, get_zone(app.settings.timezone))}"
            print(f"paused{until}: nothing new starts; due slots are recorded as skipped (paused)")
        else:
            await app.control.resume()
            print("resumed")
        return 0

    return with_app(args, body)


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
        res = await store.prune(SystemClock().now_ms(), r.days, r.runs_per_job, r.event_hours, audit_days=r.audit_days)
        print(f"pruned {res.runs} runs, {res.events} events and {res.audit} audit rows")
        return 0

    return with_store(args, body)
