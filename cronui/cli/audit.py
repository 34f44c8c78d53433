"""`cronui audit`: who changed which job, when, and what, newest first (secrets masked). The log is kept
`[retention] audit_days` (90 by default); a removed job's history reads by the name it had."""

from __future__ import annotations

import argparse

from cronui.application import audit
from cronui.application.context import Cronui
from cronui.cli.common import Commands, command, print_json, say, with_app

EPILOG = """\
examples:
  cronui audit                           the latest 50 changes to any job
  cronui audit --job nightly             one job's history
  cronui audit --job nightly --json      [{id, at, who, job, job_id, action, changes: {key: [old, new]}}]
"""


def add_parsers(sub: Commands) -> None:
    p = command(
        sub,
        "audit",
        "who changed which job, when, and what (created, changed, removed, enabled, disabled)",
        cmd_audit,
        description="The audit log of changes to jobs, newest first: when, who (cli:USER@HOST, tui:USER@HOST, "
        "api:TOKEN, mcp:TOKEN), the action, and each changed key as old -> new, secrets masked.",
        epilog=EPILOG,
    )
    p.add_argument("--job", metavar="NAME", help="only this job's changes (by the name it had)")
    p.add_argument(
        "--limit", metavar="N", help=f"at most N rows (default {audit.DEFAULT_LIMIT}, up to {audit.MAX_LIMIT})"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per change, in a list")


def cmd_audit(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        rows = await audit.audit_log(app, args.job, args.limit)
        if args.json:
            print_json([audit.audit_json(e) for e in rows])
            return 0
        if not rows:
            say("no changes recorded" + (f" for {args.job}" if args.job else ""))
            return 0
        for e in rows:
            data = audit.audit_json(e)
            say(f"{data['at']}  {e.who}  {e.action:<8} {e.job_name}")
            if e.changes:
                say(f"  {audit.change_text(e, width=200)}")
        return 0

    return with_app(args, body)
