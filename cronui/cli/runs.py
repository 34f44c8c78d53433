"""`cronui runs`: list, show, logs, tail and cancel runs; approve or reject runs waiting for approval.

Names, options and JSON fields here are a contract: scripts depend on them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap

from cronui import bounds
from cronui.application import runs
from cronui.application.context import Cronui
from cronui.application.errors import Ended
from cronui.application.shapes import event_json, json_text, run_json
from cronui.cli.common import (
    Commands,
    Handler,
    UsageError,
    command,
    group,
    neutralised_output,
    print_json,
    with_store,
)
from cronui.config import Settings
from cronui.engine.approvals import who
from cronui.engine.control import Control
from cronui.engine.executors.base import MILESTONES_DROPPED
from cronui.model import FailureKind, RunStatus
from cronui.present import (
    RUN_LINE_HEADER,
    delivery_line,
    event_text,
    milestone_data_text,
    params_text,
    run_line,
    usage_line,
)
from cronui.store import Store
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
    return runs.parse_run_id(text, "RUN_ID")


def cmd_runs_list(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        query = runs.RunQuery(args.job or None, args.status or (), args.since or None, args.before or None, args.limit)
        found = await runs.list_runs(Cronui(settings, store, control), query, most=bounds.RUNS_LISTED, prefix="--")
        if args.json:
            print_json([run_json(r) for r in found])
            return 0
        if not found:
            print("no runs" + (" match" if query.narrowed else " yet"), file=sys.stderr)
            return 0
        print(RUN_LINE_HEADER)
        for run in found:
            print(run_line(run))
        return 0

    with neutralised_output():  # errors may hold escape sequences: shown visibly
        return with_store(args, body)


def cmd_runs_show(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        run = await runs.get_run(Cronui(settings, store, control), parse_run_id(args.run_id))
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
        if run.requested_by or run.triggered_by:
            asked = [f"requested by {run.requested_by}"] if run.requested_by else []
            asked += [f"triggered by run #{run.triggered_by}"] if run.triggered_by else []
            print(f"  {' · '.join(asked)}")
        if run.params:
            print(f"  params {params_text(run.params)}")
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
        if run.failure_kind is FailureKind.INFRA:
            print("  failure infra: its endpoint could not be reached (not counted toward alerts or auto-disable)")
        elif run.failure_kind is not None:
            print(f"  failure {run.failure_kind}")
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
        app = Cronui(settings, store, control)
        run = await runs.get_run(app, parse_run_id(args.run_id))
        if run.status.is_final or not args.follow:
            sys.stdout.write(run.output)
            if run.stderr:
                sys.stderr.write(run.stderr)
            return 0
        async for stream, text in runs.follow_output(app, run):
            (sys.stderr if stream == "stderr" else sys.stdout).write(text)
            sys.stdout.flush()
        return 0

    if args.raw:
        return with_store(args, body)
    with neutralised_output():  # escape sequences shown visibly; --raw writes them as they are
        return with_store(args, body)


def cmd_runs_tail(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        feed = await runs.follow_events(Cronui(settings, store, control), args.job or None)
        while True:
            for ev in await feed.next(0.1):
                # event_text shows control characters visibly; json_text escapes them
                print(json_text(event_json(ev), indent=None) if args.json else event_text(ev), flush=True)

    try:
        return with_store(args, body)
    except KeyboardInterrupt:
        return 0


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        try:
            run = await runs.cancel(Cronui(settings, store, control), parse_run_id(args.run_id))
        except Ended as e:
            if e.run.status is not RunStatus.CANCELLED:
                raise
            run = e.run  # cancelled already: said as a cancel that took
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
        app = Cronui(settings, store, control)
        run = await runs.approve(app, parse_run_id(args.run_id), who())
        when = "now" if run.not_before <= app.now_ms() else f"at {iso_utc(run.not_before)}"
        print(f"approved run #{run.id} of {run.job_name}: it runs {when}")
        return 0

    return with_store(args, body)


def cmd_runs_reject(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        run = await runs.reject(Cronui(settings, store, control), parse_run_id(args.run_id), who(), args.reason)
        print(f"rejected run #{run.id} of {run.job_name}: {run.reason}")
        return 0

    return with_store(args, body)
