"""The command line: `cronui` opens the TUI, `cronui --no-ui` runs the daemon, subcommands script the rest.

- `parser`  the top-level options, the subcommands in --help order, and `main`
- `common`  what every command module shares: parser class, settings, number/instant parsing, the store,
            errors → exit codes (bad input: one line on stderr, exit 2, never a traceback)
- `jobs`    jobs add/list/show/edit/enable/disable/rm/run (`job_options`: the options add and edit share)
- `runs`    runs list/show/logs/tail/cancel
- `files`   apply, export, import crontab: jobs as code
- `system`  next, locate, status, pause/resume, db, daemon, and opening the TUI
- `serve`   the HTTP API and live event stream (the web stack loads only for it)

Command modules import `common` (and the domain), never each other; only `parser` imports them all.
Names, options, output and JSON fields are a contract: scripts depend on them.
"""

from cronui.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
