"""The alerts every face lists (`watch.recent_alerts`): newest first, a page at most, channels masked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cronui.application import watch
from cronui.application.context import Cronui
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control
from cronui.model.alerts import AlertEpisode, AlertKind
from cronui.store.sqlite import SQLiteStore
from tests.helpers import ms

CHAT = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123"


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Cronui]:
    store = SQLiteStore(settings.db)
    await store.open()
    clock = FakeClock(ms("2026-03-02T08:59:30Z"))
    try:
        yield Cronui(settings, store, Control(store, settings, clock), clock)
    finally:
        await store.close()


async def test_recent_alerts_are_newest_first_bounded_and_masked(app: Cronui) -> None:
    now = app.clock.now_ms()
    for i in range(3):
        [ep] = await app.store.open_alerts([AlertEpisode(f"endpoint:e{i}", AlertKind.INFRA, "1", f"e{i} down", now)])
        assert ep.id is not None
        await app.store.route_alert(ep.id, "infra", [(CHAT, None), ("${env:HOOK}", "json")], now + i)
    sends = await watch.recent_alerts(app)
    assert len(sends) == 6 and [s.subject for s in sends[:2]] == ["endpoint:e2", "endpoint:e2"]
    assert all("AAHdqTcv" not in s.channel and "123456789" not in s.channel for s in sends)
    assert {s.channel for s in sends if s.channel.startswith("$")} == {"${env:HOOK}"}, "a reference as written"
    assert len(await watch.recent_alerts(app, 2)) == 2
    assert len(await watch.recent_alerts(app, 10**9)) == 6, "never more than a page, whatever is asked"
