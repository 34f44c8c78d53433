"""The program's entry: the `cronui` command line's top-level options, the subcommands in the order --help
lists them, and `main`, which parses and runs one of them (no subcommand: the TUI, or the daemon with --no-ui).

It sits above the faces: the one-shot commands are `cronui.cli`'s; the faces that stay up (the daemon, the
TUI, the HTTP API) start from here (`local`, `serve`), so no face imports another."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from cronui.cli import alerts, completion, db, files, jobs, nodes, pings, runs, service, system, tokens
from cronui.cli.common import CliParser, Handler, guarded
from cronui.main import local, mcp_server, serve

EPILOG = """\
examples:
  cronui                               open the TUI (it schedules, or attaches to a running daemon)
  cronui --no-ui                       run the scheduler headless (a daemon)
  cronui next '0 9 * * 1-5' --tz Europe/Berlin -n 3
  cronui next 'every 15m' --json
  cronui locate db
  cronui serve                         the HTTP API (see `cronui serve --help`), and MCP at /mcp
  cronui mcp                           MCP over stdio, for a desktop client or an agent runtime
  cronui service install --user        run it under systemd (a user unit), and read its log
  eval "$(cronui completion bash)"     tab completion of commands, options, job names, run ids

schedules: 5 cron fields (or 6 with seconds first), @daily-style aliases, `every 15m`,
`at 2026-12-24T09:00`, `in 20m`; see `cronui next --help` for the full syntax.
"""


def build_parser() -> CliParser:
    p = CliParser(
        prog="cronui",
        description="A scheduler for agent tasks, shell commands and HTTP calls, in the terminal.",
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"cronui {_version()}")
    p.add_argument("--config", metavar="PATH", help="config file (default: the user config dir's config.toml)")
    p.add_argument(
        "--db",
        metavar="URL",
        help="database: a SQLite path (default: the user data dir), or postgresql://user@host/db[?schema=NAME]",
    )
    p.add_argument("--no-ui", action="store_true", help="run the scheduler headless, as a daemon")
    p.add_argument(
        "--execute",
        action="store_true",
        help="cluster mode (PostgreSQL): this TUI runs jobs too (by default it views and controls only)",
    )
    local.add_daemon_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=CliParser)
    system.add_storeless_parsers(sub)
    jobs.add_parsers(sub)
    runs.add_parsers(sub)
    pings.add_parsers(sub)
    db.add_copy_parser(system.add_parsers(sub))
    local.add_parsers(sub)
    nodes.add_parsers(sub)
    alerts.add_parsers(sub)
    files.add_parsers(sub)
    serve.add_parsers(sub)
    tokens.add_parsers(sub)
    mcp_server.add_parsers(sub)
    service.add_parsers(sub)
    completion.add_parsers(sub)
    return p


def _version() -> str:
    try:
        return version("cronui")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        parser = build_parser()
        completion.autocomplete(parser)  # a shell asking for completions gets them, and the process ends
        args = parser.parse_args(args_list)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            handler = local.cmd_daemon if args.no_ui else local.cmd_tui
        return handler(args)

    return guarded(run)
