"""Widgets on their own, each in a small app with the theme's run-status colours: what a click or a key does
to them, without a store or an engine behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets._footer import FooterKey

from cronui.model import EventKind, RunEvent
from cronui.ui.inflight import InFlight
from cronui.ui.themes import STATUS_VARIABLES
from cronui.ui.widgets.footer import KeysFooter
from cronui.ui.widgets.header import HeaderState, StatusHeader
from cronui.ui.widgets.live import LivePane
from tests.ui.make_screenshots import at_main, demo_app, prepare_demo_db
from tests.ui.pilot import until


class LiveApp(App[None]):
    def __init__(self, inflight: InFlight) -> None:
        super().__init__()
        self.inflight = inflight
        self.opened: list[int] = []

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(STATUS_VARIABLES)

    def compose(self) -> ComposeResult:
        yield LivePane(self.inflight, lambda: 10_000)

    def on_mount(self) -> None:
        self.query_one(LivePane).rebuild()

    def on_live_pane_selected(self, message: LivePane.Selected) -> None:
        self.opened.append(message.run_id)


def one_running_one_finished() -> InFlight:
    live = InFlight(lambda job_id: "job")
    live.apply(
        [
            RunEvent(EventKind.QUEUED, 1000, 7, 1, "backup", data={"trigger": "manual"}),
            RunEvent(EventKind.STARTED, 1004, 7, 1, "backup", data={"trigger": "manual", "attempt": 1}),
            RunEvent(EventKind.QUEUED, 1000, 8, 2, "digest", data={"trigger": "schedule"}),
            RunEvent(EventKind.STARTED, 1004, 8, 2, "digest", data={"trigger": "schedule", "attempt": 1}),
            RunEvent(EventKind.FINISHED, 2000, 8, 2, "digest", data={"status": "succeeded", "duration_ms": 996}),
        ]
    )
    return live


async def test_live_pane_clicks_select_runs_and_skip_the_gap_line() -> None:
    app = LiveApp(one_running_one_finished())
    async with app.run_test(size=(80, 10)) as pilot:
        pane = app.query_one(LivePane)
        await pilot.pause()
        assert pane.current_run_id == 7  # lines: the run in flight, a gap, the finished run
        await pilot.click(LivePane, offset=(5, 1), times=2)  # the gap belongs to no run
        await pilot.pause()
        assert pane.current_run_id == 7 and app.opened == []
        await pilot.click(LivePane, offset=(5, 2))
        await pilot.pause()
        assert pane.current_run_id == 8 and app.opened == []
        await pilot.click(LivePane, offset=(5, 2), times=2)  # a double click opens it
        await pilot.pause()
        assert app.opened == [8]


class HeaderApp(App[None]):
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(STATUS_VARIABLES)

    def compose(self) -> ComposeResult:
        yield StatusHeader()


async def header_line(width: int, state: HeaderState) -> str:
    app = HeaderApp()
    async with app.run_test(size=(width, 3)) as pilot:
        header = app.query_one(StatusHeader)
        header.show(state)
        await pilot.pause()
        return str(header.render())


async def test_the_header_drops_the_database_and_asides_before_what_fires_next_and_never_clips_words() -> None:
    state = HeaderState(
        db="/home/someone/.local/share/cronui/cronui.db",
        scheduler="scheduling (this process)",
        scheduler_kind="owning",
        jobs=12,
        running=3,
        next_text="in 14h21m",
        where="Jobs",
    )
    wide = await header_line(140, state)
    assert "cronui.db" in wide and "12 jobs · 3 running · next in 14h21m" in wide
    narrow = await header_line(80, state)
    assert len(narrow) == 80 and "cronui.db" not in narrow
    assert "● scheduling  12 jobs · 3 running · next in 14h21m" in narrow and narrow.rstrip().endswith("Jobs")
    tight = await header_line(80, HeaderState(**{**state.__dict__, "where": "health-api › run #48"}))
    assert "● scheduling  12 jobs · 3 running " in tight and tight.rstrip().endswith("run #48")
    assert "next" not in tight  # what fires next goes before any word is clipped ("3 run")
    paused = await header_line(80, HeaderState(**{**state.__dict__, "paused": True, "where": "health-api › run #48"}))
    assert "‖ paused" in paused and "3 running" in paused


@pytest.mark.parametrize("width", [80, 120])
async def test_the_footer_shows_whole_keys_and_keeps_help_and_quit(tmp_path: Path, width: int) -> None:
    """At 80 columns the main screen's keys did not fit: the last one showed as '? He'."""
    db = tmp_path / "demo.db"
    await prepare_demo_db(db)
    app = demo_app(db)
    async with app.run_test(size=(width, 24)) as pilot:
        await at_main(pilot)
        footer = app.screen.query_one(KeysFooter)

        def keys() -> list[FooterKey]:
            return list(footer.query(FooterKey))

        await until(pilot, lambda: keys() and all(k.region.right <= width for k in keys()), "keys that fit")
        shown = [k.description for k in keys() if "-command-palette" not in k.classes]
        assert shown[-3:] == ["Help", "Cmd", "Quit"] and "New" in shown
        assert ("Delete" in shown) is (width == 120)  # dropped only where it does not fit
