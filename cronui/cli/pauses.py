"""Timed pauses on the command line: `cronui jobs pause NAME --for 2h | --until AT`, `cronui jobs resume
NAME`, and the whole scheduler's `cronui pause [--for 30m | --until AT]` / `cronui resume`."""

from __future__ import annotations

import argparse
import datetime as dt

from cronui.application import pauses
from cronui.application.context import Cronui
from cronui.cli.common import Commands, command, with_app
from cronui.schedule import get_zone
from cronui.timefmt import human_span


def add_pause_options(p: argparse.ArgumentParser) -> None:
    when = p.add_mutually_exclusive_group()
    when.add_argument("--for", dest="span", metavar="SPAN", help="for this long (30m, 2h, 1d), then resume by itself")
    when.add_argument("--until", metavar="AT", help="until AT (ISO 8601; no offset = the job's or config's zone)")


def add_job_parsers(jsub: Commands) -> None:
    """`jobs pause` and `jobs resume` (a job's timed pause)."""
    p = command(
        jsub, "pause", "skip a job's slots for a while (--for 2h | --until AT); it resumes by itself", cmd_pause_job
    )
    p.add_argument("name", metavar="NAME")
    add_pause_options(p)
    r = command(jsub, "resume", "end a job's timed pause now", cmd_resume_job)
    r.add_argument("name", metavar="NAME")


def _at(ms: int, zone: str) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, get_zone(zone)).isoformat(timespec="minutes")


def cmd_pause_job(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        job = await pauses.pause_job(app, args.name, args.span, args.until)
        assert job.paused_until is not None
        left = human_span(job.paused_until - app.now_ms())
        print(
            f"{job.name} paused until {_at(job.paused_until, job.timezone)} ({left}): its slots until then are "
            "recorded skipped (paused)"
        )
        return 0

    return with_app(args, body)


def cmd_resume_job(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        job = await app.control.job(args.name)
        was = job.paused_until is not None and job.paused_until > app.now_ms()
        job = await pauses.resume_job(app, args.name)
        print(f"{job.name} resumed" if was else f"{job.name} was not paused")
        return 0

    return with_app(args, body)
