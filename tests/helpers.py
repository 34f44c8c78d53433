"""What tests of every tier share: instants from text, a job in one line, a fake executor, stepping the
engine on its fake clock, and the CLI run in-process. Fixtures that build on them are in conftest.py."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.executors.base import Outcome, RunContext
from cronui.main import main
from cronui.model import Job, Run, RunStatus, TargetKind
from cronui.store.lockholder import process_state


def ms(text: str) -> int:
    """'2026-03-02T09:00:00Z' -> epoch ms."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000)


class FakeExecutor:
    """Behaves as the job's command says: 'ok', 'fail', 'perm' (permanent failure), 'crash', 'gate'
    (waits until the test opens the gate), 'print:TEXT', 'print-file:PATH' (the file's bytes: output longer
    than a command may be)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls: list[int] = []
        self.started = asyncio.Event()

    async def __call__(self, ctx: RunContext) -> Outcome:
        assert ctx.run.id is not None
        self.calls.append(ctx.run.id)
        self.started.set()
        cmd = ctx.job.target.command  # type: ignore[union-attr]  # the fake runs shell jobs only
        ctx.milestone("fake-started")
        if cmd == "ok":
            return Outcome(RunStatus.SUCCEEDED, exit_code=0)
        if cmd == "fail":
            return Outcome(RunStatus.FAILED, error="exited with code 1", exit_code=1)
        if cmd == "perm":
            return Outcome(RunStatus.FAILED, error="401 unauthorized", transient=False)
        if cmd == "crash":
            raise RuntimeError("executor bug")
        if cmd == "gate":
            await self.gate.wait()
            return Outcome(RunStatus.SUCCEEDED)
        if cmd.startswith("print:"):
            ctx.output("stdout", cmd[6:].encode())
            return Outcome(RunStatus.SUCCEEDED)
        if cmd.startswith("print-file:"):
            ctx.output("stdout", Path(cmd[11:]).read_bytes())
            return Outcome(RunStatus.SUCCEEDED)
        raise AssertionError(f"unknown fake command {cmd!r}")


def make_job(name: str, schedule: str = "0 * * * *", command: str = "ok", **kw: object) -> Job:
    return Job(
        name=name,
        schedule=schedule,
        timezone=str(kw.pop("timezone", "UTC")),
        kind=TargetKind.SHELL,
        target={"command": command},
        **kw,  # type: ignore[arg-type]
    )


async def settle(engine: Engine) -> int | None:
    """Step the engine until nothing is running; returns the next wake-up."""
    while True:
        wake = await engine.step()
        if not engine.dispatcher.active:
            return wake
        await engine.dispatcher.wait_idle()


async def run_to_end(eng: Engine, name: str) -> list[Run]:
    """Run a job now and follow its retries to the final attempt (and its delivery)."""
    first = await eng.control.trigger(name)
    for _ in range(500):
        await settle(eng)
        attempts = await eng.store.attempts(first.id)
        last = attempts[-1]
        if last.status.is_final:
            await eng.dispatcher.wait_deliveries()
            return await eng.store.attempts(first.id)
        await asyncio.sleep(max(0.01, (last.not_before - eng.clock.now_ms()) / 1000))
    raise AssertionError("the run did not finish")


async def run_until(engine: Engine, clock: FakeClock, until: int) -> None:
    """Run the schedule on the fake clock, jumping from wake-up to wake-up, up to `until`."""
    wake = await settle(engine)
    while wake is not None and wake <= until:
        clock.set(max(wake, clock.now_ms()))
        wake = await settle(engine)
    clock.set(max(until, clock.now_ms()))
    await settle(engine)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`cronui ARGV` run in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def live_jobs(path: Path) -> dict[str, dict[str, Any]]:
    """The jobs not removed, as rows by name, in the order they were made."""
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute("SELECT * FROM jobs WHERE deleted_at IS NULL ORDER BY id").fetchall()
        return {r["name"]: dict(r) for r in rows}
    finally:
        con.close()


_WRITER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute(sys.argv[2])
print("in", flush=True)
time.sleep(60)
"""


@contextmanager
def sqlite3_inside_a_write(db: Path, statement: str) -> Iterator[subprocess.Popen[str]]:
    """A plain sqlite3 process (not cronui) that has run `statement` in an open write transaction on `db`,
    holding its write lock until the block ends (the process is killed then)."""
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(db), statement], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "in"
        yield writer
    finally:
        writer.kill()
        writer.wait()


def stop_process(pid: int, timeout: float = 5.0) -> None:
    """SIGSTOP `pid` and return once the kernel shows it stopped."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while process_state(pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process_state(pid) == "T"
