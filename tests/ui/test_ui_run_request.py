"""Run detail: what was sent (agent: model, settings, messages as rendered; HTTP: method, URL, headers
masked, body), the tool calls with their arguments and the whole error behind `v`; an HTTP error body
summarised to its status and first line in the detail and the NOTE column; milestone data on one line."""

from __future__ import annotations

import io

from rich.console import Console
from textual.pilot import Pilot

from cronui.cost import context_text, context_window, window_text
from cronui.engine.engine import Engine
from cronui.model import Job, Milestone, Run, RunStatus, TargetKind, Trigger
from cronui.secrets import MASK
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp
from cronui.ui.screens.run_detail import RunDetailScreen
from cronui.ui.screens.run_text import details_text, sent_request
from cronui.ui.widgets.output import OutputView
from cronui.ui.widgets.run_table import RunTable
from cronui.ui.widgets.styled import StyledStatic
from cronui.ui.widgets.timeline import TimelineView
from tests.ui.make_screenshots import settle
from tests.ui.pilot import main, select, until

ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>501 Not Implemented</title></head>\n<body>\n"
    "<h1>Not Implemented</h1>\n" + "<p>The server does not support this.</p>\n" * 40 + "</body></html>"
)
AGENT_REQUEST = {
    "method": "POST",
    "url": "http://127.0.0.1:11434/v1/chat/completions",
    "headers": {"Content-Type": "application/json", "Authorization": MASK},
    "body": {
        "model": "llama3.1:8b",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Summarise the incidents of 2026-03-02\nas three bullets"},
        ],
        "temperature": 0.2,
        "max_tokens": 400,
    },
}


async def add_agent_job(engine: Engine) -> Job:
    target = {"base_url": "http://127.0.0.1:11434/v1", "model": "llama3.1:8b", "message": "Summarise"}
    return await engine.control.add_job(
        Job(name="digest", schedule="@daily", timezone="UTC", kind=TargetKind.AGENT, target=target)
    )


async def insert(store: SQLiteStore, job: Job, at: int, **fields: object) -> Run:
    assert job.id is not None
    run = Run(
        job_id=job.id,
        trigger=Trigger.MANUAL,
        scheduled_for=at,
        queued_at=at,
        started_at=at,
        finished_at=at + 2_000,
        duration_ms=2_000,
        **fields,  # type: ignore[arg-type]
    )
    stored = await store.insert_run(run)
    assert stored is not None
    return stored


async def open_detail(pilot: Pilot[object], app: CronuiApp, run_id: int) -> RunDetailScreen:
    app.open_run(run_id)
    await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run is not None, "detail")
    assert isinstance(app.screen, RunDetailScreen)
    await settle(pilot)
    return app.screen


def rendered(widget: StyledStatic) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.render())
    return console.export_text()


async def test_agent_run_shows_the_request_as_sent_and_its_tool_calls(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    job = await add_agent_job(engine)
    at = engine.clock.now_ms() - 60_000
    run = await insert(
        store,
        job,
        at,
        status=RunStatus.SUCCEEDED,
        output="Three bullets.",
        request=AGENT_REQUEST,
        tool_calls=[{"name": "search_incidents", "arguments": '{"day": "2026-03-02", "limit": 5}'}],
        prompt_tokens=1200,
        completion_tokens=80,
        total_tokens=1280,
        milestones=[Milestone("setup-completed", at + 8, {"messages": 2, "model": "llama3.1:8b"})],
    )
    assert run.id is not None
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        detail = await open_detail(pilot, app, run.id)
        output = detail.query_one("#output", OutputView)
        assert output.stdout == "Three bullets." and output.display
        assert "model llama3.1:8b" in rendered(detail.query_one("#detail-facts", StyledStatic))
        await pilot.press("v")
        details = detail.query_one("#details", OutputView)
        assert details.display and not output.display and details.has_focus
        milestones = detail.query_one("#milestones-pane")
        await until(pilot, lambda: not milestones.display, "80 columns: the request takes the milestones' room")
        lines = details.stdout.splitlines()
        assert lines[:2] == ["REQUEST", "POST http://127.0.0.1:11434/v1/chat/completions"]
        assert f"  Authorization: {MASK}" in lines
        assert "model     llama3.1:8b" in lines
        settings = next(line for line in lines if line.startswith("settings  "))
        assert sorted(settings[10:].split(" · ")) == ["max_tokens 400", "temperature 0.2"]
        at_user = lines.index("── user ──")
        assert lines[at_user + 1 : at_user + 3] == ["  Summarise the incidents of 2026-03-02", "  as three bullets"]
        at_tool = lines.index("── search_incidents ──")
        assert lines[at_tool + 1 : at_tool + 5] == ["  {", '    "day": "2026-03-02",', '    "limit": 5', "  }"]
        assert "in 1,200 · out 80 · total 1,280" in lines
        assert str(detail.query_one("#output-pane").border_title).startswith("Request")
        await pilot.press("slash", *"incidents", "enter")  # search finds it in what is shown
        assert details.matches
        await pilot.press("escape", "escape")  # the prompt, then back to the output
        assert output.display and not details.display
        await until(pilot, lambda: milestones.display, "the milestones again")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunDetailScreen), "back")


async def test_agent_run_tokens_are_read_against_the_models_context_window_where_it_is_known(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    job = await add_agent_job(engine)
    at = engine.clock.now_ms() - 60_000
    via_gateway = {**AGENT_REQUEST, "url": "http://127.0.0.1:4000/v1/chat/completions"}
    via_gateway["body"] = {**AGENT_REQUEST["body"], "model": "gpt-4o-mini"}  # type: ignore[dict-item]
    usage = {"prompt_tokens": 12_000, "completion_tokens": 345, "total_tokens": 12_345}
    known = await insert(store, job, at, status=RunStatus.SUCCEEDED, request=via_gateway, **usage)
    fallback = await insert(  # the job's model failed; a fallback with a 1M window answered
        store,
        job,
        at + 10_000,
        status=RunStatus.SUCCEEDED,
        request=via_gateway,
        milestones=[
            Milestone("model-failed", at + 10_100, {"model": "gpt-4o-mini", "error": "HTTP 503"}),
            Milestone("usage-calculated", at + 10_200, {"model": "gpt-4.1", "cost_source": "table"}),
        ],
        **usage,
    )
    local = await insert(store, job, at + 20_000, status=RunStatus.SUCCEEDED, request=AGENT_REQUEST, **usage)
    assert known.id is not None and fallback.id is not None and local.id is not None
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        detail = await open_detail(pilot, app, known.id)
        facts = rendered(detail.query_one("#detail-facts", StyledStatic))
        assert "tokens   in 12,000 · out 345 · total 12,345 / 128k context (9.6%)" in facts
        await pilot.press("v")
        lines = detail.query_one("#details", OutputView).stdout.splitlines()
        assert "in 12,000 · out 345 · total 12,345 / 128k context (9.6%)" in lines
        await pilot.press("escape", "escape")
        await until(pilot, lambda: not isinstance(app.screen, RunDetailScreen), "back")

        detail = await open_detail(pilot, app, fallback.id)
        facts = rendered(detail.query_one("#detail-facts", StyledStatic))
        assert "total 12,345 / 1M context (1.2%)" in facts  # the model that answered, not the job's own
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunDetailScreen), "back")

        detail = await open_detail(pilot, app, local.id)  # a local model the price table does not know
        facts = rendered(detail.query_one("#detail-facts", StyledStatic))
        assert "tokens   in 12,000 · out 345 · total 12,345" in facts and "context" not in facts


def test_context_windows_come_from_the_price_table_by_url_else_by_name() -> None:
    assert context_window("gpt-4o-mini", "https://api.openai.com/v1") == 128_000
    assert context_window("gpt-4o-mini", "http://127.0.0.1:4000/v1") == 128_000  # a gateway: by name
    assert context_window("claude-sonnet-4-5") == 200_000
    assert context_window("llama3.1:8b", "http://127.0.0.1:11434/v1") is None
    assert [window_text(n) for n in (128_000, 1_000_000, 1_048_576, 8192, 200_000)] == [
        "128k",
        "1M",
        "1.05M",
        "8.2k",
        "200k",
    ]
    assert context_text(12_345, 128_000) == "/ 128k context (9.6%)"
    assert context_text(50, 1_000_000) == "/ 1M context (<0.1%)"
    assert context_text(140_000, 128_000) == "/ 128k context (109.4%)"  # more than fits: said as it is


async def test_http_error_body_is_summarised_and_shown_whole_on_demand(
    app: CronuiApp, store: SQLiteStore, engine: Engine
) -> None:
    target = {"url": "https://example.test/hook", "method": "POST", "headers": {"X-Api-Key": "${env:HOOK_KEY}"}}
    job = await engine.control.add_job(
        Job(name="hook", schedule="@daily", timezone="UTC", kind=TargetKind.HTTP, target=target)
    )
    at = engine.clock.now_ms() - 60_000
    error = "HTTP 501 Not Implemented: " + ERROR_PAGE.replace("\n", " ")[:200]
    request = {
        "method": "POST",
        "url": "https://example.test/hook",
        "headers": {"X-Api-Key": MASK, "Content-Type": "application/json"},
        "body": '{"event": "nightly", "n": 3}',
    }
    milestone_data = {"status": 501, "bytes": len(ERROR_PAGE), "note": "first line\nsecond line"}
    run = await insert(
        store,
        job,
        at,
        status=RunStatus.FAILED,
        error=error,
        http_status=501,
        output=ERROR_PAGE,
        request=request,
        milestones=[Milestone("response-received", at + 1_900, milestone_data)],
    )
    assert run.id is not None
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await select(pilot, app, "hook")
        runs = main(app).query_one(RunTable)
        await until(pilot, lambda: bool(runs.rows), "the run")
        note = str(runs.render_cells(runs.rows[0], 0)[-1])
        assert note == "HTTP 501 Not Implemented: 501 Not Implemented"
        detail = await open_detail(pilot, app, run.id)
        facts = rendered(detail.query_one("#detail-facts", StyledStatic))
        assert "error    HTTP 501 Not Implemented: 501 Not Implemented (v: in full)" in facts
        assert "<p>" not in facts
        timeline = detail.query_one(TimelineView).plain_lines
        words = " ".join(" ".join(line.split()) for line in timeline)
        assert f"response-received bytes={len(ERROR_PAGE)} note=first line second line status=501" in words
        assert all(line.startswith(" ") and "\n" not in line for line in timeline)  # never from column 0
        await pilot.press("v")
        lines = detail.query_one("#details", OutputView).stdout.splitlines()
        assert lines[:2] == ["REQUEST", "POST https://example.test/hook"]
        assert f"  X-Api-Key: {MASK}" in lines
        assert lines[lines.index("body") + 1 : lines.index("body") + 3] == ["  {", '    "event": "nightly",']
        assert lines[lines.index("ERROR") + 1] == error  # the whole error
        await pilot.press("v")
        assert detail.query_one("#output", OutputView).stdout == ERROR_PAGE  # the whole body, as it came


def test_a_running_runs_request_comes_from_its_milestone() -> None:
    run = Run(job_id=1, trigger=Trigger.MANUAL, scheduled_for=0, status=RunStatus.RUNNING)
    sent = {"url": "http://llm/v1/chat/completions", "model": "m", "messages": [{"role": "user", "content": "hi"}]}
    milestones = [Milestone("setup-completed", 5, {"messages": 1, "model": "m", "request": sent})]
    assert sent_request(run, milestones) == {
        "method": "POST",
        "url": "http://llm/v1/chat/completions",
        "headers": {},
        "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    }
    text = details_text(run, milestones)
    assert text.splitlines()[:4] == [
        "REQUEST",
        "POST http://llm/v1/chat/completions",
        "model     m",
        "settings  the server's defaults",
    ]
    http = [
        Milestone(
            "request-sent",
            5,
            {"method": "GET", "url": "https://x.test/", "request": {"headers": {"A": "b"}, "body": None}},
        )
    ]
    assert details_text(run, http).splitlines()[:4] == ["REQUEST", "GET https://x.test/", "headers", "  A: b"]
    shell = Run(job_id=1, trigger=Trigger.MANUAL, scheduled_for=0, status=RunStatus.SUCCEEDED)
    assert "nothing recorded" in details_text(shell, [])
    ran = {"command": "restic backup ~/work\nrestic forget", "cwd": "/srv", "env": ["MODE", "TOKEN"]}
    started = [Milestone("process-started", 3, {"pid": 41, "request": ran})]
    assert details_text(shell, started).splitlines() == [
        "COMMAND (run with /bin/sh -c)",
        "  restic backup ~/work",
        "  restic forget",
        "cwd       /srv",
        "env       MODE TOKEN",
    ]
    started[0].data["request"]["env"] = []
    assert details_text(shell, started).splitlines()[-1] == "env       none set by the job"
