"""What every command module shares: the parser class, settings from the arguments, parsing of numbers and
instants, opening the store, and turning bad input into one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NoReturn, TypeAlias

from cronui.config import ConfigError, Settings, load_settings
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control, NotFound
from cronui.jobs import JobError
from cronui.schedule import ScheduleError, get_zone
from cronui.store import Store, make_store
from cronui.store.base import StoreError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


USER_ERRORS: tuple[type[Exception], ...] = (UsageError, ConfigError, ScheduleError, JobError, NotFound, StoreError)
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
    """Run a command: bad input is one line on stderr and exit 2; ctrl-c is exit 130."""
    try:
        return call()
    except USER_ERRORS as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(msg if msg.startswith("cronui") else f"cronui: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def warn(text: str) -> None:
    """One `cronui: ...` line on stderr."""
    print(f"cronui: {text}", file=sys.stderr)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


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


async def live_holder(store: Store) -> bool:
    """Whether a live process holds the scheduler lease (a holder on this host must still have its pid)."""
    # the engine module loads the dispatcher and its executors (httpx): only commands that ask pay for it
    from cronui.engine.engine import pid_alive

    lease = await store.get_lease()
    if lease is None or lease.expires_at <= SystemClock().now_ms():
        return False
    return lease.host != socket.gethostname() or pid_alive(lease.pid)


# ---------------------------------------------------------------- parsing


def _to_int(text: str, problem: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(problem) from None


def parse_count(text: str, name: str = "-n", limit: int = 10_000) -> int:
    n = _to_int(text, f"{name}: expected a positive integer, got {text!r}")
    if not 1 <= n <= limit:
        raise UsageError(f"{name}: expected a positive integer up to {limit}, got {n}")
    return n


def parse_int(text: str, name: str, lo: int = 0, hi: int = 1_000_000) -> int:
    n = _to_int(text, f"{name}: expected a whole number, got {text!r}")
    if not lo <= n <= hi:
        raise UsageError(f"{name}: expected {lo} to {hi}, got {n}")
    return n


def parse_instant(text: str, zone: str) -> int:
    """An ISO-8601 time as UTC epoch ms; a time without an offset is read in `zone`."""
    raw = text.strip()
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"--from: {text!r} is not an ISO-8601 time (e.g. 2026-11-23T09:00)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=get_zone(zone))
    return int(dt.timestamp() * 1000)
