"""`cronui ping NAME` and `cronui exec NAME -- CMD ARGS...`: a check job's runs reported from where they run.

Both write the store directly, as `jobs add` does: no daemon needs to be running. `exec` runs the command
here, passing its output through, and reports its start and its end (exit code, duration, the tail of its
output); it exits with the command's code, and runs it even when the store cannot be reached (a warning
says so): the command is the work, the report only watches it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

from cronui.application import pings
from cronui.application.context import Cronui
from cronui.application.shapes import run_json
from cronui.cli.common import Commands, UsageError, command, print_json, warn, with_app

TAIL_BYTES = 4 * pings.MESSAGE_CAP  # the end of the output kept for the end ping (cut to MESSAGE_CAP characters)
EXIT_NOT_STARTED = 127  # as a shell says when it cannot run a command


def add_parsers(sub: Commands) -> None:
    p = command(
        sub,
        "ping",
        "report a run of a check job (`jobs add NAME --check`)",
        cmd_ping,
        description="Report a run of a check job: a success (the default), a start, a failure or an exit code.",
    )
    p.add_argument("name", metavar="NAME")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--start", action="store_true", help="the run has started (its end comes in a later ping)")
    kind.add_argument("--fail", action="store_true", help="the run failed")
    kind.add_argument("--exit", metavar="CODE", help="the run ended with this exit code (0 is a success)")
    p.add_argument("--message", metavar="TEXT", help="what to record with it (its output, a note)")
    p.add_argument("--json", action="store_true", help="print the run as JSON")
    e = command(
        sub,
        "exec",
        "run a command and report it to a check job",
        cmd_exec,
        description="Run CMD here and report its start and end to check NAME (its exit code, duration and the"
        " tail of its output); exit with CMD's code. In crontab: `0 3 * * * cronui exec backup -- restic backup`.",
    )
    e.add_argument("name", metavar="NAME")
    e.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")


def _report(args: argparse.Namespace) -> pings.Ping:
    if args.start:
        report = pings.Ping(pings.PingKind.START)
    elif args.fail:
        report = pings.Ping(pings.PingKind.FAIL)
    elif args.exit is not None:
        if not (args.exit.isascii() and args.exit.isdigit()) or int(args.exit) > 255:
            raise UsageError(f"cronui ping: --exit: expected an exit code 0-255, got {args.exit!r}")
        report = pings.ping_from_exit(int(args.exit))
    else:
        report = pings.Ping(pings.PingKind.SUCCESS)
    report.message = args.message or ""
    return report


def cmd_ping(args: argparse.Namespace) -> int:
    report = _report(args)

    async def body(app: Cronui) -> int:
        run = await pings.ping(app, args.name, report)
        if args.json:
            print_json(run_json(run))
        else:
            print(f"recorded {report.kind} of {run.job_name} (run #{run.id}, {run.status})")
        return 0

    return with_app(args, body)


def _send(args: argparse.Namespace, report: pings.Ping) -> None:
    """Report to the store; a problem is a warning, never the command's failure."""

    async def body(app: Cronui) -> int:
        await pings.ping(app, args.name, report)
        return 0

    try:
        with_app(args, body)
    except Exception as e:  # the store is down, the job is gone: the command's result still counts
        warn(f"exec {args.name}: could not record its {report.kind}: {e}")


async def _run(argv: list[str], tail: bytearray) -> int:
    """Run argv, its output passed through and its tail kept; its exit code (128+N for signal N)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=None, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )

    async def pump(stream: asyncio.StreamReader | None, out: int) -> None:
        assert stream is not None
        while chunk := await stream.read(65536):
            view = memoryview(chunk)
            while view:  # a write may take part of it
                view = view[os.write(out, view) :]
            tail.extend(chunk)
            del tail[:-TAIL_BYTES]

    await asyncio.gather(pump(proc.stdout, sys.stdout.fileno()), pump(proc.stderr, sys.stderr.fileno()))
    code = await proc.wait()
    return 128 - code if code < 0 else code


def cmd_exec(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise UsageError("cronui exec: name the command to run after --, e.g. cronui exec backup -- restic backup")
    sys.stdout.flush()
    _send(args, pings.Ping(pings.PingKind.START))
    tail = bytearray()
    began = time.monotonic()
    try:
        code = asyncio.run(_run(argv, tail))
    except OSError as e:  # not found, not executable
        warn(f"exec {args.name}: cannot run {argv[0]!r}: {e.strerror or e}")
        tail.extend(f"cannot run {argv[0]!r}: {e.strerror or e}".encode())
        code = EXIT_NOT_STARTED
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    elapsed = int((time.monotonic() - began) * 1000)
    end = pings.ping_from_exit(code)
    end.message, end.duration_ms = tail.decode(errors="replace")[-pings.MESSAGE_CAP :], elapsed
    _send(args, end)
    return code
