"""The UI tier: the app on a real store and engine, with the fake clock and the fake executor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp, make_app
from tests.helpers import make_job


@pytest.fixture
async def app(settings: Settings, store: SQLiteStore, engine: Engine) -> AsyncIterator[CronuiApp]:
    for name, kw in [
        ("nightly-backup", {"schedule": "30 2 * * *", "tags": ["ops"]}),
        ("research-digest", {"schedule": "0 9 * * 1-5", "timezone": "Europe/Berlin"}),
        ("sync-crm", {"schedule": "every 15m", "command": "fail"}),
    ]:
        await engine.control.add_job(make_job(name, **kw))
    yield make_app(settings, store, engine=engine, cursor_blink=False)
