"""`cronui completion bash|zsh|fish`: tab completion of commands, options, job names and run ids.

argcomplete does the work: the printed script calls `cronui` back with the command line so far, and
`main` answers from the very parser it parses with (`autocomplete`), so completion never drifts from the
options. Job names and run ids come from the database the command line names (`--db`, `--config`, the
environment): read, never created. Nothing is completed from a database that does not exist yet.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Iterable
from typing import Any

from cronui.cli.common import Commands, command, settings_from
from cronui.model.records import RunFilter
from cronui.store import make_store

SHELLS = ("bash", "zsh", "fish")
RUN_IDS_OFFERED = 50  # the newest runs: completing a run id is for the runs just looked at

EPILOG = """\
install:
  bash   echo 'eval "$(cronui completion bash)"' >> ~/.bashrc
  zsh    echo 'eval "$(cronui completion zsh)"' >> ~/.zshrc
  fish   cronui completion fish > ~/.config/fish/completions/cronui.fish
then open a new shell: `cronui jobs run <TAB>` offers your jobs, `cronui runs show <TAB>` recent run ids.
"""


def add_parsers(sub: Commands) -> None:
    p = command(
        sub,
        "completion",
        "print the shell completion script (bash, zsh or fish)",
        cmd_completion,
        description="Print a script that completes cronui's commands, options, job names and run ids.",
        epilog=EPILOG,
    )
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["cronui"], shell=args.shell), end="")
    return 0


def _read(parsed: argparse.Namespace, what: str) -> list[str]:
    """Job names or recent run ids from the database the command line names; [] when there is none yet."""
    settings = settings_from(parsed)
    db = settings.db
    if "://" not in db and not os.path.exists(db):
        return []  # completing must not create a database

    async def go() -> list[str]:
        store = make_store(db)
        await store.open()
        try:
            if what == "jobs":
                return [j.name for j in await store.list_jobs()]
            return [str(r.id) for r in await store.list_runs(RunFilter(limit=RUN_IDS_OFFERED)) if r.id is not None]
        finally:
            await store.close()

    return asyncio.run(go())


def _offered(what: str, prefix: str, parsed: argparse.Namespace) -> Iterable[str]:
    import argcomplete

    try:
        values = _read(parsed, what)
    except Exception as e:  # a broken config or an unreachable database: said on the terminal, not a traceback
        argcomplete.warn(f"cronui: cannot read the {what} to complete: {e}")
        return []
    return [v for v in values if v.startswith(prefix)]


def job_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> Iterable[str]:
    return _offered("jobs", prefix, parsed_args)


def run_ids(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> Iterable[str]:
    return _offered("runs", prefix, parsed_args)


def nothing(**_: Any) -> Iterable[str]:
    """A new name: nothing to offer (not the files of the current folder)."""
    return []


def attach_completers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Job names where an existing job is named (not `jobs add NAME`), run ids where a run is."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                attach_completers(child, (*path, name))
        elif path == ("jobs", "add") and action.dest == "name":
            action.completer = nothing  # type: ignore[attr-defined]
        elif action.metavar == "RUN_ID":
            action.completer = run_ids  # type: ignore[attr-defined]
        elif action.dest in ("job", "on_success", "on_failure") or (
            action.dest == "name" and not action.option_strings
        ):
            action.completer = job_names  # type: ignore[attr-defined]


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer a completion request from the shell script and exit; returns at once for any other run."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    attach_completers(parser)
    argcomplete.autocomplete(parser)
