"""The TUI attached to a daemon in another process takes over scheduling when the daemon dies ("run now"
from an attached TUI, executed by the daemon, is tested in test_ui_app.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cronui.config import Lease, Settings
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import make_app
from cronui.ui.widgets.header import StatusHeader
from tests.helpers import make_job
from tests.ui.make_screenshots import settle
from tests.ui.pilot import main, until


@pytest.fixture
def daemon(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cronui", "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


async def test_taking_over_when_the_daemon_dies(env: dict[str, str], daemon: subprocess.Popen[bytes]) -> None:
    settings = Settings(db=env["CRONUI_DB"], timezone="UTC", timezone_source="test", lease=Lease(ttl=3, renew=1))
    store = SQLiteStore(settings.db)
    await store.open()
    try:
        control = Control(store, settings, SystemClock())
        await control.add_job(make_job("hello", schedule="0 0 1 1 *", command="echo hello from the daemon"))
        for _ in range(1000):  # the daemon schedules first
            lease = await store.get_lease()
            if lease is not None and lease.pid == daemon.pid:
                break
            assert daemon.poll() is None, "the daemon exited"
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the daemon did not take the lease")
        app = make_app(settings, store)  # the real engine and clock: a second process on the same file
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot, owning=False)

            def header() -> StatusHeader:
                return main(app).query_one(StatusHeader)

            await until(
                pilot,
                lambda: header().state.scheduler_kind == "attached" and f":{daemon.pid}" in header().state.scheduler,
                "the header to say attached",
                timeout=20,
            )
            assert header().state.scheduler.startswith("attached to daemon ")
            assert not app.engine.holding

            daemon.kill()
            daemon.wait()
            await until(pilot, lambda: app.engine.holding, "this process to take over", timeout=20)
            await until(pilot, lambda: header().state.scheduler_kind == "owning", "the header to say so")
    finally:
        await store.close()
