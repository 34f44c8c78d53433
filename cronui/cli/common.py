"""What every command module shares: the parser class, settings from the arguments, parsing of numbers and
instants, opening the store, and turning bad input into one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO, TypeAlias, cast

from cronui.application.context import Cronui
from cronui.application.errors import REFUSALS, Invalid, first_line
from cronui.application.reports import live_holder as live_holder  # commands import it from here
from cronui.application.shapes import json_text
from cronui.config import Settings, load_settings
from cronui.controls import neutralise
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control
from cronui.jobs import number_errors
from cronui.model import Job
from cronui.redaction import redact_text
from cronui.store import Store, make_store

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + 13  # as a process ended by SIGPIPE


UsageError = Invalid  # bad input from the user: printed as one line, exit code 2


# the numbers of a job `cronui jobs edit` has an option for (all but the agent's keep-turns)
EDITABLE_NUMBERS = frozenset(
    "timeout retries retry-delay queue-limit misfire-grace expect-status max-tokens temperature idle-timeout "
    "alert-after alert-cooldown approval-timeout approval-max-waiting".split()
)

USER_ERRORS = REFUSALS
"""Bad input or a missing thing: one line on stderr and exit 2, never a traceback."""


class CliParser(argparse.ArgumentParser):
    """An argument error raises UsageError instead of printing the usage and exiting. A parser with an epilog
    (examples, syntax) shows its description and epilog as written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("epilog") and "formatter_class" not in kwargs:
            kwargs["formatter_class"] = argparse.RawDescriptionHelpFormatter
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


Handler: TypeAlias = Callable[[argparse.Namespace], int]
Commands: TypeAlias = "argparse._SubParsersAction[CliParser]"
StoreBody: TypeAlias = Callable[[Settings, Store, Control], Awaitable[int]]
AppBody: TypeAlias = Callable[[Cronui], Awaitable[int]]


def command(
    sub: Commands,
    name: str,
    help: str,
    handler: Handler,
    *,
    description: str | None = None,
    epilog: str | None = None,
    **defaults: Any,
) -> CliParser:
    """A subcommand that runs `handler`; `defaults` are extra attributes set on its arguments."""
    p = sub.add_parser(name, help=help, description=description, epilog=epilog)
    p.set_defaults(handler=handler, **defaults)
    return p


def group(
    sub: Commands, name: str, help: str, *, dest: str, description: str | None = None, metavar: str = "ACTION"
) -> Commands:
    """A command whose actions are subcommands (`cronui jobs ACTION`); one of them is required."""
    p = sub.add_parser(name, help=help, description=description)
    return p.add_subparsers(dest=dest, metavar=metavar, required=True)


def guarded(call: Callable[[], int]) -> int:
    """Run a command: bad input is one line on stderr and exit 2; ctrl-c is exit 130; a reader that goes
    away (`cronui runs list | head`) ends it quietly, as SIGPIPE ends other tools (exit 141)."""
    try:
        code = call()
        sys.stdout.flush()  # here, where a closed pipe can still be told apart, not at interpreter exit
        return code
    except USER_ERRORS as e:
        msg = first_line(e)
        _print_err(msg if msg.startswith("cronui") else f"cronui: {msg}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for the closed pipe is thrown away instead of
    failing again (with a traceback) when the interpreter flushes it at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing will flush to the pipe
        pass


def _print_err(text: str) -> None:
    try:  # an error may quote a database URL: never its password
        print(neutralise(redact_text(text)), file=sys.stderr)
    except BrokenPipeError:  # stderr closed too: nobody is left to tell
        pass


def warn(text: str) -> None:
    """One `cronui: ...` line on stderr (control characters in it shown visibly)."""
    _print_err(f"cronui: {text}")


class Neutralised:
    """A text stream that writes what it is given with control characters neutralised (cronui.controls).
    A trailing carriage return waits for the next write, so a CRLF split across two writes is a line end."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.held = ""

    def write(self, text: str) -> int:
        n = len(text)
        text, self.held = self.held + text, ""
        if text.endswith("\r"):
            text, self.held = text[:-1], "\r"
        self.stream.write(neutralise(text))
        return n

    def end(self) -> None:
        """Write a carriage return still held back (the text ended with it)."""
        if self.held:
            self.stream.write(neutralise(self.held))
            self.held = ""

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding: the stream's own
        return getattr(self.stream, name)


@contextmanager
def neutralised_output() -> Iterator[None]:
    """Within it, what is printed to stdout and stderr has its control characters neutralised: for commands
    that show job output, errors and milestones, which may hold escape sequences."""
    out, err = Neutralised(sys.stdout), Neutralised(sys.stderr)
    sys.stdout, sys.stderr = cast(TextIO, out), cast(TextIO, err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out.stream, err.stream
        out.end()
        err.end()


def say(text: str = "") -> None:
    """A line of text for a person on stdout: job output, names and errors in it are shown with their
    control characters neutralised (cronui.controls), so they cannot drive the terminal."""
    print(neutralise(text))


def stored_problems(job: Job) -> list[str]:
    """What is wrong with the numbers of a stored job (one saved before they were checked), each with how
    to set it again: one line each, for `jobs show` to warn of and `export` to refuse with."""
    out = []
    for error in number_errors(job):
        how = (
            f"set it again with `cronui jobs edit {job.name} --{error.field} ...` or `cronui apply`"
            if error.field in EDITABLE_NUMBERS
            else "set it again with `cronui apply`"
        )
        out.append(f"job {job.name!r}: {error.field}: {error.problem} (a stored value; {how})")
    return out


def print_json(value: Any) -> None:
    print(json_text(value))


# ---------------------------------------------------------------- settings and the store


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings named by --config and --db (over the environment and the config file)."""
    return load_settings(args.config, overrides={"db": args.db})


def with_store(args: argparse.Namespace, body: StoreBody) -> int:
    """Open the store named by the settings, run `body` with it, close it."""
    settings = settings_from(args)

    async def go() -> int:
        store = make_store(settings.db)
        await store.open()
        try:
            return await body(settings, store, Control(store, settings, SystemClock()))
        finally:
            await store.close()

    return asyncio.run(go())


def with_app(args: argparse.Namespace, body: AppBody) -> int:
    """Open the store named by the settings, run `body` with the use cases' context for it, close it."""
    return with_store(args, lambda settings, store, control: body(Cronui(settings, store, control)))
