"""`cronui jobs backfill NAME --from AT --to AT [--dry-run] [--max N] [--json]`: queue one run per past slot
of a window (`cronui.application.backfill`)."""

from __future__ import annotations

import argparse

from cronui.application.backfill import MAX_DEFAULT, MAX_LIMIT, backfill, backfill_json, backfill_line
from cronui.application.context import Cronui
from cronui.application.values import parse_int
from cronui.cli.common import Commands, command, print_json, with_app


def add_parser(jsub: Commands) -> None:
    p = command(
        jsub,
        "backfill",
        "queue one run per past slot of a window",
        cmd_jobs_backfill,
        description="Queue one run per slot of the job's schedule between --from and --to (ISO-8601; without an"
        " offset, in the job's zone), each run scheduled for its slot, trigger `backfill`. A slot that ran or"
        " waits to is skipped. Example: cronui jobs backfill report --from 2026-03-02T00:00 --to 2026-03-08T23:00",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--from", dest="start", metavar="AT", required=True, help="the window's first instant")
    p.add_argument("--to", dest="end", metavar="AT", required=True, help="the window's last instant (not after now)")
    p.add_argument("--dry-run", action="store_true", help="print the count and the first and last slots only")
    p.add_argument(
        "--max",
        dest="most",
        metavar="N",
        default=str(MAX_DEFAULT),
        help=f"refuse a window of more slots ({MAX_DEFAULT})",
    )
    p.add_argument("--json", action="store_true")


def cmd_jobs_backfill(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        most = parse_int(args.most, "--max", 1, MAX_LIMIT)
        report = await backfill(app, args.name, args.start, args.end, dry_run=args.dry_run, most=most)
        if args.json:
            print_json(backfill_json(report))
        else:
            print(backfill_line(report))
        return 0

    return with_app(args, body)
