"""Watching in the TUI: each job's health in the job list (a mark and a colour, sortable, `/health:` filters),
the overview worst health first, the alerts view (`!`, `:alerts`, the palette), and a check's fields in the
job editor."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from textual.widgets import Checkbox, Input

from cronui.config import Settings
from cronui.engine.alerts import raise_alert
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.model import TargetKind
from cronui.model.alerts import FAILED, HEALTHS, SENT, AlertKind, job_subject
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp, make_app
from cronui.ui.commands import run_command
from cronui.ui.filters import FilterError, parse_filter
from cronui.ui.screens.alerts import AlertsScreen
from cronui.ui.screens.fleet import FleetScreen
from cronui.ui.widgets.job_table import JobTable
from cronui.ui.widgets.status import HEALTH_MARK
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.widgets.table import VirtualTable
from tests.helpers import make_job, ms
from tests.helpers import settle as settle_engine
from tests.ui.make_screenshots import settle
from tests.ui.pilot import main, on_top, open_editor, until
from tests.ui.test_ui_editor import fully_visible

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


async def late(store: SQLiteStore, name: str, now: int) -> int:
    """Open a `late` episode for the job called `name`; its id."""
    job = await store.get_job_by_name(name)
    assert job is not None and job.id is not None
    assert await raise_alert(store, job_subject(job.id), AlertKind.LATE, "slot-1", f"⏰ {name} late", job_id=job.id)
    return job.id


def names(app: CronuiApp) -> list[str]:
    return [j.name for j in main(app).query_one(JobTable).rows]


def shown(app: CronuiApp, selector: str, width: int = 118) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(app.screen.query_one(selector, StyledStatic).content)
    return console.export_text()


# ---------------------------------------------------------------- the filter grammar


def test_health_terms_name_a_health_and_apply_to_jobs_only() -> None:
    flt = parse_filter("health:late,no-success")
    job = make_job("a")
    assert flt.matches_job(job, health="late") and flt.matches_job(job, health="no_success")
    assert not flt.matches_job(job, health="ok") and not flt.matches_job(job, health=None)
    assert parse_filter("-health:ok").matches_job(job, health="failing")
    with pytest.raises(FilterError, match="unknown health 'lat' — did you mean late"):
        parse_filter("health:lat")
    with pytest.raises(FilterError, match="health: applies to jobs"):
        parse_filter("health:late", for_runs=True)


# ---------------------------------------------------------------- the job list


async def test_the_job_list_shows_filters_and_sorts_by_health(
    app: CronuiApp, store: SQLiteStore, clock: FakeClock
) -> None:
    await late(store, "research-digest", clock.now_ms())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = main(app).query_one(JobTable)
        health = {j.name: app.catalog.health_of(j.id) for j in table.rows}
        assert health == {"nightly-backup": "never_ran", "research-digest": "late", "sync-crm": "never_ran"}
        row = [str(c) for c in table.render_cells(app.catalog.by_name["research-digest"], 0)]
        assert "! late" in row, row

        await pilot.press("slash", *"health:late", "enter")
        await until(pilot, lambda: names(app) == ["research-digest"], "the filter")
        assert main(app).query_one("#jobs-pane").border_subtitle == "/health:late"
        await pilot.press("escape")
        await until(pilot, lambda: len(names(app)) == 3, "the filter cleared")

        while table.sort_key != "health":  # `s` steps through the orders
            await pilot.press("s")
        await until(pilot, lambda: names(app)[0] == "research-digest", "the worst first")
        assert "HEALTH ▲" in [str(t) for t in table.header_cells()]
        await pilot.press("S")
        await until(pilot, lambda: names(app)[-1] == "research-digest", "the worst last")
        table.post_message(VirtualTable.HeaderClicked(table, "name"))  # a click on a column's title
        await until(pilot, lambda: table.sort_key == "name", "sorted by name")
        table.post_message(VirtualTable.HeaderClicked(table, "health"))
        await until(pilot, lambda: names(app)[0] == "research-digest" and not table.sort_reverse, "by health again")


async def test_health_that_changes_is_shown_at_the_next_read(
    app: CronuiApp, store: SQLiteStore, clock: FakeClock
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"health:late", "enter")
        await until(pilot, lambda: names(app) == [], "nothing late yet")
        await late(store, "sync-crm", clock.now_ms())
        await app._read_health()  # what the app does every few seconds
        await until(pilot, lambda: names(app) == ["sync-crm"], "the late job")


async def test_the_overview_lists_the_worst_health_first(app: CronuiApp, store: SQLiteStore, clock: FakeClock) -> None:
    await late(store, "sync-crm", clock.now_ms())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await until(pilot, lambda: on_top(app, FleetScreen), "the overview")
        await settle(pilot)
        lines = [ln for ln in shown(app, "#fleet").splitlines() if ln.strip()]
        assert lines[0].split()[:2] == ["Job", "Health"]
        assert lines[1].split()[:3] == ["sync-crm", "!", "late"], lines


def next_cell(app: CronuiApp, name: str) -> str:
    """The NEXT cell of the job's row, as the job list shows it now."""
    table = main(app).query_one(JobTable)
    [row] = [j for j in table.rows if j.name == name]
    return str(table.render_cells(row, 0)[[c.key for c in table.columns].index("next")])


async def test_a_checks_slot_recorded_missed_moves_its_next_run_in_the_list(
    app: CronuiApp, engine: Engine, clock: FakeClock
) -> None:
    """This process schedules: the planner's `missed` (a skip) reaches the row through the engine's events."""
    await engine.control.add_job(make_job("backup", "0 * * * *", command="", is_check=True, grace_s=600))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        clock.set(ms("2026-03-02T09:05:00Z"))
        main(app).query_one(JobTable).refresh()
        assert next_cell(app, "backup") == "due", "within its grace the slot waits for its ping"
        clock.set(ms("2026-03-02T09:10:01Z"))
        await settle_engine(engine)  # the grace passed: the slot is recorded missed
        await until(pilot, lambda: next_cell(app, "backup") == "in 49:59", "the next slot in the list")


async def test_a_checks_slot_missed_by_another_process_moves_its_next_run_in_the_list(
    settings: Settings, store: SQLiteStore, engine: Engine, clock: FakeClock
) -> None:
    """Another process schedules (the app is attached): the `missed` reaches the row through the event log."""
    await engine.control.add_job(make_job("backup", "0 * * * *", command="", is_check=True, grace_s=600))
    settings.lease.ttl = 7200.0  # the holder keeps its lease across the clock's jump: the app stays attached
    assert await engine.try_acquire()
    own = SQLiteStore(settings.db)
    await own.open()
    try:
        app = make_app(settings, own, clock, cursor_blink=False)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot, owning=False)
            assert not app.engine.holding
            clock.set(ms("2026-03-02T09:10:01Z"))
            await settle_engine(engine)
            await engine.bus.flush()
            await until(pilot, lambda: next_cell(app, "backup") == "in 49:59", "the next slot in the list")
            assert not app.engine.holding
    finally:
        await own.close()


def test_every_health_label_keeps_a_gap_before_the_next_column() -> None:
    width = next(c.width for c in JobTable.BASE_COLUMNS if c.key == "health")
    longest = max(len(f"{HEALTH_MARK[h]} {h.replace('_', ' ')}") for h in HEALTHS)
    assert width > longest, "'∅ no success' flush against SCHEDULE reads as one word"


# ---------------------------------------------------------------- the alerts view


async def sent_alerts(store: SQLiteStore, now: int) -> None:
    """A late alert for research-digest, sent to a mailbox, and failed for good to a Telegram chat."""
    job_id = await late(store, "research-digest", now)
    [ep] = await store.open_alert_episodes([job_id])
    assert ep.id is not None
    mail, chat = "mailto://ops:hunter2@mail.example.com", f"tgram://{TOKEN}/-100123"
    await store.route_alert(ep.id, "late", [(mail, None), (chat, None)], now)
    for s in await store.take_alert_sends("test-node", now, 1):
        if s.channel == mail:
            await store.record_alert_send(s.id, "test-node", SENT, "250 2.0.0 OK queued", now + 1000, None)
        else:
            answer = '{"ok":false,"error_code":401,"description":"Unauthorized"}\n(and more lines)'
            await store.record_alert_send(s.id, "test-node", FAILED, answer, now + 2000, None)


@pytest.mark.parametrize("how", ["key", "command", "palette"])
async def test_the_alerts_view_lists_what_was_sent_with_channels_masked(
    app: CronuiApp, store: SQLiteStore, clock: FakeClock, how: str
) -> None:
    await sent_alerts(store, clock.now_ms())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        if how == "key":
            await pilot.press("exclamation_mark")
        elif how == "command":
            await pilot.press("colon", *"alerts", "enter")
        else:
            await pilot.press("ctrl+p")
            await pilot.press(*"Alerts")
            await pilot.pause(0.3)
            await pilot.press("enter")
        await until(pilot, lambda: on_top(app, AlertsScreen), "the alerts view")
        await until(pilot, lambda: "research-digest" in shown(app, "#alerts"), "the sends")
        text = shown(app, "#alerts")
        assert "hunter2" not in text and "AAHdqTcv" not in text and "123456789" not in text
        lines = [ln for ln in text.splitlines() if "research-digest" in ln]
        assert len(lines) == 2
        assert lines[0].split()[2:3] == ["late"] and "failed" in lines[0] and '{"ok":false' in lines[0], lines
        assert "sent" in lines[1] and "250 2.0.0 OK" in lines[1]
        wide = [ln for ln in shown(app, "#alerts", width=240).splitlines() if "failed" in ln]
        assert '"Unauthorized"} (and more lines)' in wide[0], "the answer on one line"
        assert app.screen.query_one("#alerts-pane").border_title == "Alerts · 2 sent · 1 failed"
        await pilot.press("escape")
        await until(pilot, lambda: on_top(app, type(main(app))) if app.screen_stack else False, "back")


def test_alerts_is_a_command_with_its_aliases() -> None:
    opened: list[str] = []

    class Target:
        def open_alerts(self) -> None:
            opened.append("alerts")

    for text in ("alerts", ":alert", "al"):
        assert run_command(Target(), text) is None  # type: ignore[arg-type]
    assert opened == ["alerts"] * 3


# ---------------------------------------------------------------- the editor: checks


async def test_a_check_is_made_in_the_editor_a_shell_job_with_its_grace(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        editor.query_one("#name", Input).value = "offsite-sync"
        await pilot.click("#kind-http")
        grace = editor.query_one("#grace", Input)
        assert grace.disabled, "a grace only for a check"
        editor.query_one("#check", Checkbox).value = True
        await until(pilot, lambda: not grace.disabled, "the grace field")
        assert editor.form_values()["kind"] is TargetKind.SHELL, "a check is a shell job"
        assert "optional" in editor.query_one("#command", Input).placeholder
        grace.value = "10m"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "offsite-sync" in app.catalog.by_name, "the saved job")
    job = await store.get_job_by_name("offsite-sync")
    assert job is not None and job.is_check and job.grace_s == 600 and job.kind is TargetKind.SHELL


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
async def test_the_check_and_watch_fields_are_reachable(app: CronuiApp, size: tuple[int, int]) -> None:
    fields = ["#check", "#grace", "#alert_late", "#alert_overrun", "#alert_short", "#alert_no_success"]
    fields += ["#alert_rate", "#alert_on"]
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        editor.query_one("#check", Checkbox).value = True
        for selector in fields:
            widget = editor.query_one(selector)
            widget.focus()
            await pilot.pause()
            await until(pilot, lambda w=widget: fully_visible(app, w), f"{selector} in view")
