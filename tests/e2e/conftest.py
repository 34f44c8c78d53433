"""The end-to-end tier: cronui as separate processes (daemons, the CLI, the TUI attached to a daemon), in
real time with a short scheduler lease. Opt-in locally (`--run-slow`), always run in CI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import Processes


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment for cronui processes: their own database and empty config, UTC, a 3 s lease."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("CRONUI_")}
    e.update(
        CRONUI_DB=str(tmp_path / "shared.db"),
        CRONUI_TIMEZONE="UTC",
        CRONUI_LEASE_TTL="3",
        CRONUI_LEASE_RENEW="1",
        CRONUI_CONFIG=str(tmp_path / "none.toml"),
        PYTHONUNBUFFERED="1",
    )
    (tmp_path / "none.toml").write_text("")
    return e


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Long-lived cronui processes, killed when the test ends (see processes.py)."""
    started = Processes(tmp_path)
    yield started
    started.stop_all()
