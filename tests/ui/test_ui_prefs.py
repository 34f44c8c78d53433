"""UI choices remembered between sessions: the theme, how times are shown, and `:zone NAME`."""

from __future__ import annotations

from cronui.config import Settings
from cronui.engine.engine import Engine
from cronui.store.sqlite import SQLiteStore
from cronui.ui import prefs
from cronui.ui.app import CronuiApp, make_app
from cronui.ui.times import ZoneMode
from tests.ui.pilot import until


async def command(pilot, text: str) -> None:
    await pilot.press("colon", *text, "enter")
    await pilot.pause()


async def test_theme_zone_mode_and_zone_are_remembered_for_the_next_session(
    app: CronuiApp, settings: Settings, store: SQLiteStore, engine: Engine
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        other = next(t for t in sorted(app.available_themes) if t != app.theme and t.startswith("cronui"))
        await command(pilot, f"theme {other}")
        await command(pilot, "zone Asia/Tokyo")
        await until(pilot, lambda: app.zone_mode is ZoneMode.LOCAL, "local times")
        assert app.ctx.local_zone == "Asia/Tokyo"
    assert prefs.load() == {"local_zone": "Asia/Tokyo", "theme": other, "zone_mode": "local"}
    again = make_app(settings, store, engine=engine, cursor_blink=False)
    async with again.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert again.theme == other
        assert again.zone_mode is ZoneMode.LOCAL and again.ctx.local_zone == "Asia/Tokyo"


async def test_an_unknown_zone_is_refused_in_place_and_changes_nothing(app: CronuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        before = (app.zone_mode, app.ctx.local_zone)
        await command(pilot, "zone Mars/Olympus")
        assert (app.zone_mode, app.ctx.local_zone) == before
        assert any("unknown time zone: 'Mars/Olympus'" in str(n.message) for n in app._notifications)
    assert "local_zone" not in prefs.load()


async def test_a_theme_named_in_the_config_wins_over_the_remembered_one(
    settings: Settings, store: SQLiteStore, engine: Engine
) -> None:
    prefs.save(theme="textual-light")
    settings.theme = "cronui-light"
    app = make_app(settings, store, engine=engine, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "cronui-light"
