"""The faces that stay up, started from the command line: the daemon (`cronui --no-ui`, `cronui daemon`) and the
TUI (`cronui`). Each loads only when it starts, so the other commands stay light."""

from __future__ import annotations

import argparse
import asyncio

from cronui.cli.common import Commands, UsageError, command, settings_from
from cronui.config import Settings
from cronui.jobs import parse_duration
from cronui.placement import check_labels


def add_daemon_options(p: argparse.ArgumentParser) -> None:
    """Shared by `cronui --no-ui` and `cronui daemon` (default None, so neither overrides the other)."""
    p.add_argument("--log-format", choices=["json", "text"], help="daemon log lines: json (default) or text")
    p.add_argument("--grace", metavar="S", help="daemon: on SIGTERM, let runs finish this long (default 30s)")
    p.add_argument(
        "--label",
        action="append",
        metavar="L",
        help="this node carries label L: jobs pinned with --node-label L run here (repeatable; "
        "replaces the config's [node] labels)",
    )


def add_parsers(sub: Commands) -> None:
    """Registers daemon (after status, pause, resume and db in --help)."""
    dm = command(sub, "daemon", "run the scheduler headless (same as --no-ui)", cmd_daemon)
    add_daemon_options(dm)


def cmd_daemon(args: argparse.Namespace) -> int:
    # the daemon loads the whole engine (dispatcher, executors, httpx): only `cronui daemon` pays for it
    from cronui.daemon import run_daemon

    settings = node_settings(args)
    log_format = args.log_format or "json"
    grace = parse_duration(args.grace or "30", "--grace")
    return asyncio.run(run_daemon(settings, log_format, grace))


def cmd_tui(args: argparse.Namespace) -> int:
    # Textual loads only when the TUI opens; every other command (and the daemon) stays without it
    try:
        from cronui.ui.app import run_tui
    except ImportError:
        raise UsageError("cronui: the TUI is not part of this build yet; use the subcommands or --no-ui") from None
    return run_tui(node_settings(args), execute=args.execute)


def node_settings(args: argparse.Namespace) -> Settings:
    """The settings of a process that may schedule: --label (repeatable) replaces the config's labels."""
    settings = settings_from(args)
    if args.label:
        try:
            settings.node.labels = check_labels(args.label)
        except ValueError as e:
            raise UsageError(f"cronui: --label: {e}") from None
    return settings
