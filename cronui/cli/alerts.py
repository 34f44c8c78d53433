"""`cronui alerts`: the alerts recorded, newest first, each with where it was sent and what came of it; and
`cronui alerts test URL`, a test notice to one channel (exit 0 sent, 1 not sent, 2 a URL that is no
channel). Channels are shown with their secrets masked."""

from __future__ import annotations

import argparse
import asyncio

from cronui.application import alerts
from cronui.application.context import Cronui
from cronui.cli.common import Commands, command, print_json, say, settings_from, with_app

EPILOG = """\
examples:
  cronui alerts                          the latest 50 alerts and their sends
  cronui alerts --job nightly --json
  cronui alerts test 'mailto://me:${env:SMTP_PASSWORD}@smtp.example.com?to=ops@example.com'
  cronui alerts test 'tgram://${env:TG_TOKEN}/-1001234567'
"""


def add_parsers(sub: Commands) -> None:
    """Registers alerts (and its `test` action)."""
    p = command(
        sub,
        "alerts",
        "alerts sent (late, overrun, failures...) and what each channel answered",
        cmd_alerts,
        description="The alerts recorded, newest first, with each send: its channel (masked), outcome, "
        "attempts and what the service answered.",
        epilog=EPILOG,
    )
    p.add_argument("--json", action="store_true", help="one JSON object per alert, in a list")
    p.add_argument("--job", metavar="NAME", help="only this job's alerts")
    p.add_argument("--limit", metavar="N", help=f"at most N alerts (default {alerts.DEFAULT_LIMIT})")
    actions = p.add_subparsers(dest="alerts_command", metavar="ACTION")
    t = command(
        actions,
        "test",
        "send a test notice to a channel URL and print what the service answered",
        cmd_test,
        description="Send a test notice to URL (any apprise URL, or an https webhook) now, and print what "
        "the service answered. Exit 0: sent; 1: not sent; 2: not a channel URL.",
    )
    t.add_argument("url", metavar="URL", help="the channel, e.g. mailto://..., tgram://..., json://...")
    t.add_argument("--json", action="store_true", dest="test_json", help="print {channel, sent, answer}")


def cmd_alerts(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        found = await alerts.list_alerts(app, args.job, args.limit)
        if args.json:
            print_json(found)
            return 0
        if not found:
            say("no alerts recorded" + (f" for {args.job}" if args.job else ""))
            return 0
        for a in found:
            who = f"#{a['id']} {a['kind']} {a['job'] or a['subject']}"
            if not a["recovers"]:  # a notice of a moment: nothing to recover from, whenever it was closed
                say(f"{who} · notice at {a['opened_at']}")
            else:
                closed = f" · recovered {a['closed_at']}" if a["closed_at"] else " · open"
                say(f"{who} · opened {a['opened_at']}{closed}")
            say(f"  {a['text']}")
            if not a["sends"]:
                say("  (sent nowhere: no channel for it; see --alert-to and [alerts] to / on)")
            for s in a["sends"]:
                tries = f"{s['attempts']} attempt{'s' if s['attempts'] != 1 else ''}"
                when = f" · next {s['next_at']}" if s["next_at"] else ""
                say(f"  {s['notice']:<10} {s['outcome']:<8} {tries}{when} → {s['channel']}")
                if s["answer"]:
                    say(f"             {s['answer']}")
        return 0

    return with_app(args, body)


def cmd_test(args: argparse.Namespace) -> int:
    settings_from(args)  # a bad config is reported as for every command
    result = asyncio.run(alerts.send_test_notice(args.url))
    if args.test_json:
        print_json({"channel": result.channel, "sent": result.sent, "answer": result.answer})
    else:
        say(f"{'sent' if result.sent else 'NOT sent'} to {result.channel}")
        say(f"the service answered: {result.answer or '(nothing)'}")
    return 0 if result.sent else 1
