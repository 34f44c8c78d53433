"""The job editor's checks, test runs and clones, as a person meets them: every problem of a form shown at
once at its field; a test run of the unsaved job for each kind (a real shell command, a loopback HTTP
server, a loopback OpenAI-compatible server) that saves nothing and leaves the job's history alone; and a
clone that opens prefilled under a new name and saves a second job."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, Static

from cronui.engine.dispatcher import default_executors
from cronui.engine.engine import Engine
from cronui.model import EventKind, Job, TargetKind
from cronui.model.records import RunFilter
from cronui.store.sqlite import SQLiteStore
from cronui.targets import ShellTarget
from cronui.ui.app import CronuiApp
from cronui.ui.screens.job_editor import JobEditor, cloned, unique_copy_name
from cronui.ui.screens.main import MainScreen
from cronui.ui.screens.test_run import TestRunScreen
from tests.engine.servers import ChatServer, Sink
from tests.ui.make_screenshots import settle
from tests.ui.pilot import open_editor, select, until
from tests.ui.test_ui_editor import fully_visible

SIZES = [(80, 24), (120, 36)]


@pytest.fixture
def real_executors(engine: Engine) -> None:
    """Test runs through the real shell, HTTP and agent executors (the UI tier fakes the shell's)."""
    engine.dispatcher.executors.update(default_executors())


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    server = Sink()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def chat() -> AsyncIterator[ChatServer]:
    server = ChatServer()
    await server.start()
    yield server
    await server.stop()


def text_of(editor: Widget, selector: str) -> str:
    return str(editor.query_one(selector, Static).render())


async def fill(pilot: Pilot[object], editor: JobEditor, **fields: str) -> None:
    for field, value in fields.items():
        editor.query_one(f"#{field}", Input).value = value
    await pilot.pause()


async def all_runs(store: SQLiteStore) -> list[int]:
    return [r.id for r in await store.list_runs(RunFilter(limit=1000)) if r.id is not None]


# ---------------------------------------------------------------- every problem at once, at its field


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x36"])
async def test_a_save_marks_every_bad_field_with_its_own_message_and_saves_nothing(
    app: CronuiApp, store: SQLiteStore, size: tuple[int, int]
) -> None:
    before = [j.name for j in await store.list_jobs()]
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click("#kind-http")
        await pilot.pause()
        await fill(
            pilot,
            editor,
            name="bad name",
            url="ftp://example.com",
            headers="no colon here",
            retries="101",
            timeout="0",
        )
        editor.query_one("#tags", Input).focus()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: editor.problems, "the problems")
        expected = {
            "name": ("#error-name", "Name: 'bad name' is not a valid job name"),
            "url": (
                "#error-url",
                "URL: expected an http:// or https:// URL (or ${env:NAME}), got 'ftp://example.com'",
            ),
            "headers": ("#error-headers", "Headers: expected 'Name: value; Other: value', got 'no colon here'"),
            "retries": ("#error-retries", "Retries: expected 0 to 100, got 101"),
            "timeout": ("#error-retries", "Timeout: must be more than 0 seconds"),
        }
        assert sorted(editor.problems) == sorted(expected)
        for field, (line, message) in expected.items():
            assert editor.query_one(f"#{field}").has_class("-invalid"), field
            assert message in text_of(editor, line), field
            assert editor.query_one(line).display
        assert "5 problems, each marked at its field" in text_of(editor, "#editor-error")
        assert app.focused is editor.query_one("#name"), "the first bad field has the focus"
        await pilot.pause()
        assert fully_visible(app, editor.query_one("#error-name")), "its message is on screen"
        marked = [w.id for w in editor.query("#editor-body Input") if w.has_class("-invalid")]
        assert sorted(marked) == sorted(expected), "the fields without a problem are not marked"

        # fixing one field takes its mark and message away; the others stay until the next save
        await fill(pilot, editor, retries="3")
        assert not editor.query_one("#retries").has_class("-invalid")
        assert "retries" not in text_of(editor, "#error-retries")
        assert "Timeout: must be more than 0 seconds" in text_of(editor, "#error-retries")
        assert editor.query_one("#url").has_class("-invalid")
        assert isinstance(app.screen, JobEditor)
    assert [j.name for j in await store.list_jobs()] == before


async def test_problems_that_need_the_store_are_shown_with_the_others(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "e")  # nightly-backup
        await fill(pilot, editor, name="research-digest", on_failure="no-such-job", misfire_grace="400d")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(editor.problems) == 3, "three problems")
        assert "Name: a job named 'research-digest' already exists" in text_of(editor, "#error-name")
        assert "On failure: no job named 'no-such-job'" in text_of(editor, "#error-on_failure")
        assert "Grace: expected at most 366d, got '400d'" in text_of(editor, "#error-misfire")
        assert app.focused is editor.query_one("#name")
    job = await store.get_job_by_name("nightly-backup")
    assert job is not None and job.on_failure == [] and job.misfire_grace_s == 300


async def test_a_bad_schedule_and_other_problems_come_together(app: CronuiApp, store: SQLiteStore) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await fill(pilot, editor, name="later", schedule="0 61 * * *", command="")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(editor.problems) == 2, "two problems")
        assert "hour field: 61 is out of range 0-23" in text_of(editor, "#schedule-check")
        assert "Command: the command is empty" in text_of(editor, "#error-command")
        assert editor.query_one("#schedule").has_class("-invalid")
        assert app.focused is editor.query_one("#schedule")
    assert await store.get_job_by_name("later") is None


# ---------------------------------------------------------------- test runs


async def start_test_run(pilot: Pilot[object], app: CronuiApp) -> TestRunScreen:
    await pilot.press("ctrl+t")
    await until(pilot, lambda: isinstance(app.screen, TestRunScreen), "the test run")
    screen = app.screen
    assert isinstance(screen, TestRunScreen)
    await until(pilot, lambda: screen.run is not None, "the test run to end")
    await pilot.pause()
    return screen


@pytest.mark.usefixtures("real_executors")
async def test_a_test_run_of_a_shell_job_runs_the_command_and_changes_nothing(
    app: CronuiApp, store: SQLiteStore
) -> None:
    before = await store.get_job_by_name("nightly-backup")
    runs_before = await all_runs(store)
    jobs_before = [j.name for j in await store.list_jobs()]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "e")  # nightly-backup: its unsaved edit is what runs
        command = "echo '::milestone fetched rows=42::'; echo hello from $CRONUI_JOB; echo oops >&2; exit 3"
        await fill(pilot, editor, command=command)
        screen = await start_test_run(pilot, app)
        assert screen.run is not None and screen.run.id is None, "never stored"
        status = text_of(screen, "#test-status")
        assert "failed" in status
        assert "exit code 3" in text_of(screen, "#test-facts")
        assert "hello from nightly-backup" in text_of(screen, "#test-output")
        assert "oops" in text_of(screen, "#test-output")
        milestones = text_of(screen, "#test-milestones")
        assert "fetched" in milestones and "rows=42" in milestones
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is editor, "back in the editor")
        assert editor.query_one("#command", Input).value == command, "the form is as it was"
    assert await store.get_job_by_name("nightly-backup") == before
    assert await all_runs(store) == runs_before
    assert [j.name for j in await store.list_jobs()] == jobs_before
    events = [e for e in await store.events_since(0) if e.kind is EventKind.TEST_RUN]
    assert [(e.job_name, e.data["status"], e.data["exit_code"], e.run_id) for e in events] == [
        ("nightly-backup", "failed", 3, None)
    ]


@pytest.mark.usefixtures("real_executors")
async def test_a_test_run_of_a_new_http_job_calls_the_url(app: CronuiApp, store: SQLiteStore, sink: Sink) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click("#kind-http")
        await pilot.pause()
        await fill(pilot, editor, name="ping", url=f"{sink.url}/status/201", headers="X-Probe: yes")
        screen = await start_test_run(pilot, app)
        assert "succeeded" in text_of(screen, "#test-status")
        assert "HTTP 201" in text_of(screen, "#test-facts")
    assert [(r.method, r.path, r.headers.get("x-probe")) for r in sink.requests] == [("GET", "/status/201", "yes")]
    assert await store.get_job_by_name("ping") is None
    assert await all_runs(store) == []


@pytest.mark.usefixtures("real_executors")
async def test_a_test_run_of_an_agent_job_shows_the_reply(app: CronuiApp, store: SQLiteStore, chat: ChatServer) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click("#kind-agent")
        await pilot.pause()
        await fill(pilot, editor, name="digest", base_url=f"{chat.url}/v1", model="echo", message="what is new?")
        screen = await start_test_run(pilot, app)
        assert "succeeded" in text_of(screen, "#test-status")
        assert "Hello! You said: what is new?" in text_of(screen, "#test-output")
        assert "total 17" in text_of(screen, "#test-facts")
    assert [r.json()["model"] for r in chat.requests] == ["echo"]
    assert await store.get_job_by_name("digest") is None
    assert await all_runs(store) == []


@pytest.mark.usefixtures("real_executors")
async def test_a_test_run_gives_the_tokens_against_a_known_models_context_window(
    app: CronuiApp, chat: ChatServer
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click("#kind-agent")
        await pilot.pause()
        await fill(pilot, editor, name="digest", base_url=f"{chat.url}/v1", model="gpt-4o-mini", message="hi")
        screen = await start_test_run(pilot, app)
        assert "succeeded" in text_of(screen, "#test-status")
        assert "total 17 / 128k context (<0.1%)" in text_of(screen, "#test-facts")  # a gateway: known by name


@pytest.mark.usefixtures("real_executors")
async def test_a_test_run_of_an_invalid_form_shows_its_problems_and_runs_nothing(
    app: CronuiApp, store: SQLiteStore, sink: Sink
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.click("#kind-http")
        await pilot.pause()
        await fill(pilot, editor, name="ping", url=f"{sink.url}/ok", expect_status="700")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: editor.problems, "the problems")
        assert "Expect status: expected 100 to 599, got 700" in text_of(editor, "#error-expect_status")
        await pilot.pause()
        assert app.screen is editor
    assert sink.requests == []


# ---------------------------------------------------------------- clone


async def test_clone_opens_a_prefilled_copy_that_saves_as_a_second_job(app: CronuiApp, store: SQLiteStore) -> None:
    original = await store.get_job_by_name("nightly-backup")
    assert original is not None
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await select(pilot, app, "nightly-backup")
        editor = await open_editor(pilot, app, "c")
        assert editor.query_one("#editor").border_title == "New job · a copy of nightly-backup"
        assert editor.query_one("#name", Input).value == "nightly-backup-copy"
        assert editor.query_one("#schedule", Input).value == "30 2 * * *"
        assert editor.query_one("#tags", Input).value == "ops"
        assert await store.get_job_by_name("nightly-backup-copy") is None, "unsaved until saved"
        await fill(pilot, editor, command="restic backup ~/other")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor to close")
        await until(pilot, lambda: "nightly-backup-copy" in app.catalog.by_name, "the copy in the list")

        await select(pilot, app, "nightly-backup")
        again = await open_editor(pilot, app, "c")
        assert again.query_one("#name", Input).value == "nightly-backup-copy-2"
    copy = await store.get_job_by_name("nightly-backup-copy")
    assert copy is not None and copy.id != original.id
    assert isinstance(copy.target, ShellTarget) and copy.target.command == "restic backup ~/other"
    assert (copy.schedule, copy.tags, copy.source) == ("30 2 * * *", ["ops"], "tui")
    assert await store.get_job_by_name("nightly-backup") == original


def test_a_clone_has_no_identity_or_history_of_its_own() -> None:
    job = Job("a", "@daily", "UTC", TargetKind.SHELL, ShellTarget(command="x"), id=4, consecutive_failures=3)
    copy = cloned(job, "a-copy")
    assert (copy.id, copy.name, copy.consecutive_failures, copy.next_run_at) == (None, "a-copy", 0, None)
    assert copy.target is not job.target
    assert unique_copy_name("a", {"a", "a-copy", "a-copy-2"}) == "a-copy-3"
    assert len(unique_copy_name("x" * 80, set())) == 80
