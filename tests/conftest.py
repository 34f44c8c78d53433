from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from cronui.config import Settings
from cronui.engine.clock import FakeClock, SystemClock
from cronui.engine.engine import Engine
from cronui.model import TargetKind
from cronui.store.sqlite import SQLiteStore
from tests.engine.servers import ChatServer, Sink
from tests.helpers import FakeExecutor, ms

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
    """The tiers are folders; tests/e2e is the slow one (real daemons, real time)."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.slow)
    if config.getoption("--run-slow") or os.environ.get("CI") == "true" or os.environ.get("CRONUI_RUN_SLOW"):
        return
    skip = pytest.mark.skip(reason="end-to-end tier: pass --run-slow (CI always runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's own config or database."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
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


# Loopback servers and a real-time engine for the agent and delivery tests (tests/engine, tests/unit).


@pytest.fixture
async def llm() -> AsyncIterator[ChatServer]:
    """An OpenAI-compatible chat server on loopback (tests/engine/servers.py)."""
    s = ChatServer()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    """A webhook receiver on loopback: what delivery and alerts post."""
    s = Sink()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def eng(store: SQLiteStore, settings: Settings) -> AsyncIterator[Engine]:
    """An engine on the real clock holding the lease, with delivery retries 10 ms apart."""
    e = Engine(store, settings, SystemClock())
    await e.open()
    assert await e.try_acquire()
    e.dispatcher.finisher.delivery_backoff_s = 0.01
    yield e
    await e.close(grace_s=2)
