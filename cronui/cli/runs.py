"""`cronui runs`: list, show, logs, tail and cancel runs; approve or reject runs waiting for approval.

Names, options and JSON fields here are a contract: scripts depend on them.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import textwrap

from cronui import bounds
from cronui.cli.common import (
    Commands,
    Handler,
    UsageError,
    command,
    group,
    json_text,
    neutralised_output,
    parse_int,
    print_json,
    with_store,
)
from cronui.config import Settings
from cronui.engine.approvals import who
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control, NotFound
from cronui.engine.executors.base import MILESTONES_DROPPED
from cronui.jobs import parse_duration
from cronui.model import EventKind, Run, RunEvent, RunStatus
from cronui.model.records import RunFilter
from cronui.present import (
    RUN_LINE_HEADER,
    delivery_line,
    event_json,
    event_text,
    milestone_data_text,
    run_json,
    run_line,
    usage_line,
)
from cronui.store import Store
from cronui.store.events import EventCursor
from cronui.timefmt import iso_utc


def add_parsers(sub: Commands) -> None:
    """Registers runs and its actions."""
    rsub = group(sub, "runs", "list, inspect, follow and cancel runs", dest="runs_command", description="Inspect runs.")
    rl = command(rsub, "list", "list runs, newest first", cmd_runs_list)
    rl.add_argument("--job", metavar="NAME", help="only this job's runs")
    statuses = ", ".join(str(s) for s in RunStatus)
    rl.add_argument("--status", action="append", metavar="S", help=f"only runs in this status (repeatable): {statuses}")
    rl.add_argument("--since", metavar="DURATION", help="queued within this long, e.g. 24h")
    rl.add_argument(
        "--limit",
        metavar="N",
        default="50",
        help=f"at most N runs, the newest (default 50, at most {bounds.RUNS_LISTED:,})",
    )
    rl.add_argument("--before", metavar="ID", help="only runs older than run ID (paging back)")
    rl.add_argument("--json", action="store_true", help="print a JSON array of runs (fields as in runs show --json)")
    rs = _run_command(rsub, "show", "show one run, with its milestones", cmd_runs_show)
    rs.add_argument("--json", action="store_true", help="print the run as one JSON object")
    rlog = _run_command(rsub, "logs", "print a run's output", cmd_runs_logs)
    rlog.add_argument("--follow", "-f", action="store_true", help="keep printing while it runs")
    rlog.add_argument(
        "--raw", action="store_true", help="write the output's bytes as they are (escape sequences included)"
    )
    rt = command(rsub, "tail", "follow live events (of whichever process schedules)", cmd_runs_tail)
    rt.add_argument("--json", action="store_true", help="one JSON object per event")
    rt.add_argument("--job", metavar="NAME", help="only this job's events")
    _run_command(rsub, "cancel", "cancel a pending or running run", cmd_runs_cancel)
    _run_command(rsub, "approve", "approve a run waiting for approval: it runs", cmd_runs_approve)
    rr = _run_command(rsub, "reject", "reject a run waiting for approval: it is skipped", cmd_runs_reject)
    rr.add_argument("--reason", metavar="TEXT", help="why (recorded with the rejection)")


def _run_command(rsub: Commands, verb: str, help: str, handler: Handler) -> argparse.ArgumentParser:
    """An action on one run, given as RUN_ID."""
    p = command(rsub, verb, help, handler)
    p.add_argument("run_id", metavar="RUN_ID", help="the run's id, as listed: 12 or #12")
    return p


def parse_run_id(text: str) -> int:
    """A run id as printed (`#12`) or bare (`12`)."""
    return parse_int(text.lstrip("#"), "RUN_ID", 1, 2**62)


async def get_run(store: Store, text: str) -> Run:
    run_id = parse_run_id(text)
    run = await store.get_run(run_id)
    if run is None:
        raise NotFound(f"no run #{run_id}")
    return run


def cmd_runs_list(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        flt = RunFilter(limit=parse_int(args.limit, "--limit", 1, bounds.RUNS_LISTED))
        if args.before:
            flt.before_id = parse_int(args.before.lstrip("#"), "--before", 1, 2**62)
        if args.job:
            job = await control.job(args.job)
            flt.job_id = job.id
        if args.status:
            known = [str(s) for s in RunStatus]
            bad = next((s for s in args.status if s not in known), None)
            if bad is not None:  # the status given, not the list argparse collected (`['bogus']`)
                raise UsageError(f"--status: expected one of {' '.join(known)}, got {bad!r}")
            flt.statuses = [RunStatus(s) for s in args.status]
        if args.since:
            seconds = parse_duration(args.since, "--since", bounds.LOOKBACK)
            flt.since = SystemClock().now_ms() - int(seconds * 1000)
        runs = await store.list_runs(flt)
        if args.json:
            print_json([run_json(r) for r in runs])
            return 0
        if not runs:
            print("no runs" + (" match" if args.job or args.status or args.since else " yet"), file=sys.stderr)
            return 0
        print(RUN_LINE_HEADER)
        for run in runs:
            print(run_line(run))
        return 0

    with neutralised_output():  # errors may hold escape sequences: shown visibly
        return with_store(args, body)


def cmd_runs_show(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        run = await get_run(store, args.run_id)
        if args.json:
            print_json(run_json(run))
            return 0
        print(run_line(run))
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
        usage = usage_line(run)
        if usage:
            print(f"  {usage}")
        if run.models_failed:
            print(f"  answered by {run.answered_by or 'no model'}")
            for failure in run.models_failed:
                print(f"  model {failure['model']} failed: {failure['error']}")
        for call in run.tool_calls:
            print(f"  tool call {call.get('name')} {call.get('arguments')}")
        delivery = delivery_line(run)
        if delivery:
            print(f"  {delivery}")
        if run.error:
            print(f"  error {run.error}")
        if run.reason:
            print(f"  reason {run.reason}")
        if run.status is RunStatus.AWAITING_APPROVAL:
            then = "it runs" if run.approval_default == "approve" else "it is rejected"
            print(f"  approval waiting until {iso_utc(run.approval_deadline)}, then {then}")
            print(f"  decide: cronui runs approve {run.id} · cronui runs reject {run.id} --reason TEXT")
        base = run.started_at or run.queued_at
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 0
        for m in run.milestones:
            data = milestone_data_text(m.data)
            if m.name == MILESTONES_DROPPED:
                dropped, kept = m.data.get("dropped", 0), m.data.get("kept")
                data = f"{dropped:,} more reported by the output, not kept (the first {kept} are)"
            offset = (m.at - base) / 1000  # before the start: its approval
            line = f"  {'+' if offset >= 0 else '-'}{abs(offset):8.3f}s  {m.name} {data}".rstrip()
            if width > 40 and len(line) > width:  # folded under the name, never back to column 0
                line = "\n".join(textwrap.wrap(line, width, subsequent_indent=" " * 14, break_on_hyphens=False))
            print(line)
        if run.output:
            print("--- stdout ---")
            print(run.output.rstrip("\n"))
        if run.stderr:
            print("--- stderr ---")
            print(run.stderr.rstrip("\n"))
        return 0

    with neutralised_output():  # output, errors and milestones may hold escape sequences: shown visibly
        return with_store(args, body)


def cmd_runs_logs(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        run = await get_run(store, args.run_id)
        assert run.id is not None
        if run.status.is_final or not args.follow:
            sys.stdout.write(run.output)
            if run.stderr:
                sys.stderr.write(run.stderr)
            return 0
        cursor = EventCursor(store)
        await cursor.prime()
        shown = 0

        def show(ev: RunEvent) -> bool:
            """Print an output chunk; True once the run has finished."""
            nonlocal shown
            shown += 1
            if ev.kind is EventKind.OUTPUT:
                (sys.stderr if ev.name == "stderr" else sys.stdout).write(str(ev.data.get("text", "")))
                sys.stdout.flush()
            return ev.kind is EventKind.FINISHED

        # what the log held when the cursor started, then what the cursor hands out
        for ev in await store.run_events(run.id):
            if ev.id is not None and ev.id <= cursor.last_id and show(ev):
                return 0
        while True:
            for ev in await cursor.read():
                if ev.run_id == run.id and show(ev):
                    return 0
            current = await store.get_run(run.id)
            if current is None or current.status.is_final:
                if current is not None and shown == 0:
                    sys.stdout.write(current.output)
                return 0
            await asyncio.sleep(0.1)

    if args.raw:
        return with_store(args, body)
    with neutralised_output():  # escape sequences shown visibly; --raw writes them as they are
        return with_store(args, body)


def cmd_runs_tail(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        job_id = (await control.job(args.job)).id if args.job else None
        cursor = EventCursor(store)
        await cursor.prime()
        while True:
            events = await cursor.read()
            for ev in events:
                if job_id is not None and ev.job_id != job_id:
                    continue
                # event_text shows control characters visibly; json_text escapes them
                print(json_text(event_json(ev), indent=None) if args.json else event_text(ev), flush=True)
            if not events:
                await asyncio.sleep(0.1)

    try:
        return with_store(args, body)
    except KeyboardInterrupt:
        return 0


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        run = await control.cancel(parse_run_id(args.run_id))
        if run.status is RunStatus.RUNNING:
            print(f"cancelling run #{run.id} of {run.job_name}")
        elif run.status is RunStatus.CANCELLED:
            print(f"run #{run.id} of {run.job_name} cancelled")
        else:
            raise UsageError(f"run #{run.id} already ended: {run.status}")
        return 0

    return with_store(args, body)


def cmd_runs_approve(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        run = await control.approve(parse_run_id(args.run_id), who())
        when = "now" if run.not_before <= SystemClock().now_ms() else f"at {iso_utc(run.not_before)}"
        print(f"approved run #{run.id} of {run.job_name}: it runs {when}")
        return 0

    return with_store(args, body)


def cmd_runs_reject(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        run = await control.reject(parse_run_id(args.run_id), who(), args.reason)
        print(f"rejected run #{run.id} of {run.job_name}: {run.reason}")
        return 0

    return with_store(args, body)
