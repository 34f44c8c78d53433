"""Command line: `cronui` opens the TUI, `cronui --no-ui` runs the daemon, subcommands script the rest.

Bad input is one line on stderr naming the problem and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NoReturn

from cronui.config import ConfigError, Settings, load_settings
from cronui.timefmt import iso_in_zone


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


EPILOG = """\
examples:
  cronui                               open the TUI (it schedules, or attaches to a running daemon)
  cronui --no-ui                       run the scheduler headless (a daemon)
  cronui next '0 9 * * 1-5' --tz Europe/Berlin -n 3
  cronui next 'every 15m' --json
  cronui locate db

schedules: 5 cron fields (or 6 with seconds first), @daily-style aliases, `every 15m`,
`at 2026-12-24T09:00`, `in 20m`; see `cronui next --help` for the full syntax.
"""


def build_parser() -> _Parser:
    from cronui.schedule import SYNTAX_HELP

    p = _Parser(
        prog="cronui",
        description="A scheduler for agent tasks, shell commands and HTTP calls, in the terminal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="PATH", help="config file (default: the user config dir's config.toml)")
    p.add_argument("--db", metavar="URL", help="database: a SQLite path (default: the user data dir)")
    p.add_argument("--no-ui", action="store_true", help="run the scheduler headless, as a daemon")
    add_daemon_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    nxt = sub.add_parser(
        "next",
        help="print the next fire times of a schedule",
        description="Print the next N fire instants of a schedule, strictly after --from, then its reading.",
        epilog=SYNTAX_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    nxt.add_argument("expr", metavar="EXPR", help="the schedule, e.g. '0 9 * * 1-5' (quote it)")
    nxt.add_argument("--tz", metavar="ZONE", help="IANA time zone (default: the config's, else the system's)")
    nxt.add_argument("--from", dest="start", metavar="ISO", help="start instant (default: now); no offset = --tz")
    nxt.add_argument("-n", dest="count", metavar="N", default="5", help="how many fire times (default 5)")
    nxt.add_argument("--json", action="store_true", help="print only a JSON array of ISO-8601 strings")
    nxt.set_defaults(handler=cmd_next)

    loc = sub.add_parser("locate", help="print the paths in use", description="Print a path cronui uses.")
    loc.add_argument("what", choices=["config", "db", "themes"])
    loc.set_defaults(handler=cmd_locate)

    from cronui import cli_commands, cli_files

    cli_commands.add_parsers(sub)
    cli_files.add_parsers(sub)
    return p


# ---------------------------------------------------------------- helpers


def add_daemon_options(p: argparse.ArgumentParser) -> None:
    """Shared by `cronui --no-ui` and `cronui daemon` (default None, so neither overrides the other)."""
    p.add_argument("--log-format", choices=["json", "text"], help="daemon log lines: json (default) or text")
    p.add_argument("--grace", metavar="S", help="daemon: on SIGTERM, let runs finish this long (default 30s)")


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    return load_settings(args.config, overrides={"db": args.db, **overrides})


def parse_count(text: str, name: str = "-n", limit: int = 10_000) -> int:
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"{name}: expected a positive integer, got {text!r}") from None
    if not 1 <= n <= limit:
        raise UsageError(f"{name}: expected a positive integer up to {limit}, got {n}")
    return n


def parse_instant(text: str, zone: str) -> int:
    """An ISO-8601 time as UTC epoch ms; a time without an offset is read in `zone`."""
    from cronui.schedule import get_zone

    raw = text.strip()
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"--from: {text!r} is not an ISO-8601 time (e.g. 2026-11-23T09:00)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=get_zone(zone))
    return int(dt.timestamp() * 1000)


# ---------------------------------------------------------------- commands


def cmd_next(args: argparse.Namespace) -> int:
    from cronui.schedule import get_zone, parse

    count = parse_count(args.count)
    zone = args.tz if args.tz is not None else _settings(args).timezone
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
    from cronui import locations

    settings = _settings(args)
    if args.what == "config":
        print(settings.config_file or locations.default_config_file())
    elif args.what == "db":
        print(settings.db)
    else:
        print(locations.user_themes_dir())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from cronui.engine.control import NotFound
    from cronui.jobs import JobError
    from cronui.schedule import ScheduleError
    from cronui.store.base import StoreError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
        if handler is None:
            from cronui import cli_commands

            handler = cli_commands.cmd_daemon if args.no_ui else cli_commands.cmd_tui
        return handler(args)
    except (UsageError, ConfigError, ScheduleError, JobError, NotFound, StoreError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(msg if msg.startswith("cronui") else f"cronui: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
