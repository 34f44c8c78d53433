from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from cronui.cli import main
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.executors.base import Outcome, RunContext
from cronui.model import Job, RunStatus, TargetKind
from cronui.store.sqlite import SQLiteStore

# Property tests: randomized on a developer's machine (new cases each run), derandomized in CI (the same
# cases every run, so a red CI is reproducible); every case a run ever found is pinned as an @example.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev")
hypothesis_settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the end-to-end tier (real daemons, real time); always on when CI=true",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get("CI") == "true" or os.environ.get("CRONUI_RUN_SLOW"):
        return
    skip = pytest.mark.skip(reason="end-to-end tier: pass --run-slow (CI always runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def ms(text: str) -> int:
    """'2026-03-02T09:00:00Z' -> epoch ms."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000)


class FakeExecutor:
    """Behaves as the job's command says: 'ok', 'fail', 'perm' (permanent failure), 'crash', 'gate'
    (waits until the test opens the gate), 'print:TEXT'."""

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
        raise AssertionError(f"unknown fake command {cmd!r}")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's own config or database."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    for var in [v for v in os.environ if v.startswith("CRONUI_") and v != "CRONUI_TEST_POSTGRES_URL"]:
        monkeypatch.delenv(var)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "cronui.db"), timezone="UTC", timezone_source="test")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ms("2026-03-02T08:59:30Z"))  # a Monday


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(settings.db)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def fake() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture
async def engine(store: SQLiteStore, settings: Settings, clock: FakeClock, fake: FakeExecutor) -> AsyncIterator[Engine]:
    eng = Engine(store, settings, clock, executors={TargetKind.SHELL: fake}, rng=random.Random(7))
    await eng.open()
    assert await eng.try_acquire()
    yield eng
    fake.gate.set()
    await eng.close(grace_s=1.0)


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


async def run_until(engine: Engine, clock: FakeClock, until: int) -> None:
    """Run the schedule on the fake clock, jumping from wake-up to wake-up, up to `until`."""
    wake = await settle(engine)
    while wake is not None and wake <= until:
        clock.set(max(wake, clock.now_ms()))
        wake = await settle(engine)
    clock.set(max(until, clock.now_ms()))
    await settle(engine)


# --- job files and crontab


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The database that `cli(...)` commands use (through CRONUI_DB), in a UTC default zone; the working
    directory is tmp_path, so the file names a command is given are relative to it."""
    path = tmp_path / "cli.db"
    monkeypatch.setenv("CRONUI_DB", str(path))
    monkeypatch.setenv("CRONUI_TIMEZONE", "UTC")
    monkeypatch.chdir(tmp_path)
    return path


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
