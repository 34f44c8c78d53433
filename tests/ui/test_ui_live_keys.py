"""Live work shows what is live, and keys say what they do, at 80x24 as a new user meets them: `l` in the
live pane follows the run streaming now (not the finished one the cursor sat on), the pane shows the reply
so far, the header keeps counting under a dialog; ctrl+c does what escape does in a dialog and names `q`
elsewhere; the help and the `:` prompt list every command, and a refused command leaves the prompt empty."""

from __future__ import annotations

import asyncio

from textual.widgets import Static

from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.executors.base import Outcome, RunContext
from cronui.model import RunStatus, TargetKind
from cronui.ui.app import CronuiApp
from cronui.ui.commands import VERBS
from cronui.ui.screens.confirm import ConfirmScreen
from cronui.ui.screens.help import HelpScreen
from cronui.ui.screens.main import MainScreen
from cronui.ui.screens.run_detail import RunDetailScreen
from cronui.ui.screens.test_run import TestRunScreen
from cronui.ui.widgets.header import StatusHeader
from cronui.ui.widgets.live import LivePane
from cronui.ui.widgets.prompt import Prompt
from tests.helpers import make_job
from tests.ui.make_screenshots import settle
from tests.ui.pilot import main, on_top, open_editor, select, until

SIZE = (80, 24)
TOKENS = ["Hello", " from", " the", " model."]


class Streamer:
    """A job that streams a reply token by token, each token its own output event, then waits."""

    def __init__(self) -> None:
        self.done = asyncio.Event()

    async def __call__(self, ctx: RunContext) -> Outcome:
        cmd = ctx.job.target.command  # type: ignore[union-attr]
        if cmd != "stream":
            return Outcome(RunStatus.SUCCEEDED, exit_code=0)
        for token in TOKENS:
            ctx.output("stdout", token.encode())
            await asyncio.sleep(0.25)  # past the dispatcher's output interval: one event per token
        await self.done.wait()
        return Outcome(RunStatus.SUCCEEDED, exit_code=0)


def toasts(app: CronuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_follow_in_the_live_pane_lands_on_the_run_streaming_now(app: CronuiApp, engine: Engine) -> None:
    streamer = Streamer()
    engine.dispatcher.executors[TargetKind.SHELL] = streamer
    await engine.control.add_job(make_job("ping-local", command="ok"))
    await engine.control.add_job(make_job("agent-digest", command="stream"))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, "ping-local")
            await pilot.press("r")
            await until(pilot, lambda: bool(app.inflight.recent), "ping-local to finish")
            await pilot.press("3")  # the live pane: only the finished run, the cursor on it
            live = main(app).query_one(LivePane)
            await until(pilot, lambda: app.focused is live and live.current_run_id is not None, "the live pane")
            finished = live.current_run_id
            await select(pilot, app, "agent-digest")
            await pilot.press("1", "r")
            await until(pilot, lambda: bool(app.inflight.runs), "the streaming run")
            await pilot.press("3")
            streaming = next(iter(app.inflight.runs))
            await until(pilot, lambda: live.current_run_id == streaming, "the cursor on the run that arrived")
            await until(
                pilot,
                lambda: any("▌ Hello from the model." in text.plain for text, _ in live._lines),
                "the reply so far, not its last token",
            )
            await pilot.press("l")
            await until(pilot, lambda: on_top(app, RunDetailScreen), "the run followed")
            detail = app.screen
            assert isinstance(detail, RunDetailScreen) and detail.run_id == streaming != finished
    finally:
        streamer.done.set()


async def test_l_on_a_finished_run_in_the_live_pane_says_why_and_moves_nothing(app: CronuiApp, engine: Engine) -> None:
    await engine.control.add_job(make_job("ping-local", command="ok"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "ping-local")
        await pilot.press("r")
        await until(pilot, lambda: bool(app.inflight.recent), "ping-local to finish")
        await pilot.press("3")
        live = main(app).query_one(LivePane)
        await until(pilot, lambda: app.focused is live, "the live pane")
        await pilot.press("l")
        await until(pilot, lambda: any("nothing running now (enter opens #" in t for t in toasts(app)), "why not")
        assert isinstance(app.screen, MainScreen)


async def test_the_header_keeps_counting_while_the_editor_is_open(app: CronuiApp, clock: FakeClock) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = main(app).query_one(StatusHeader)
        await until(pilot, lambda: bool(header.state.next_text), "what fires next")
        before = header.state.next_text
        await open_editor(pilot, app, "n")
        clock.advance(7 * 60)  # the next fire is 7 minutes nearer
        app._tick()
        await pilot.pause()
        assert header.state.next_text != before, "the countdown under the dialog moved"


async def test_ctrl_c_in_the_editor_does_what_escape_does(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the editor closed (nothing was changed)")
        editor = await open_editor(pilot, app, "n")
        await pilot.press(*"abc")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: on_top(app, ConfirmScreen), "the discard question, as escape asks it")
        await pilot.press("ctrl+c")  # no: keep editing
        await until(pilot, lambda: app.screen is editor, "back in the editor")


async def test_ctrl_c_stops_a_test_run(app: CronuiApp, engine: Engine, fake: object) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = await open_editor(pilot, app, "n")
        editor.query_one("#name").value = "waits"  # type: ignore[attr-defined]
        editor.query_one("#command").value = "gate"  # type: ignore[attr-defined]
        await pilot.press("ctrl+t")
        await until(pilot, lambda: on_top(app, TestRunScreen), "the test run")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: app.screen is editor, "the test run stopped, back in the editor")


async def test_ctrl_c_on_the_main_screen_names_the_apps_quit_key(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: any(t.startswith("Press q to quit") for t in toasts(app)), "which key quits")
        assert not any("ctrl+q" in t for t in toasts(app))
        assert app.is_running


async def test_help_and_the_prompt_list_every_command(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        prompt = main(app).query_one(Prompt)
        await until(pilot, lambda: prompt.has_focus, "the prompt")
        for verb in ("approvals", "overview", "nodes"):
            assert verb in str(prompt.placeholder), verb
        assert prompt.placeholder == VERBS and len(VERBS) <= prompt.content_region.width, "the hint fits"
        await pilot.press("escape", "question_mark")
        await until(pilot, lambda: on_top(app, HelpScreen), "the help")
        shown = "\n".join(str(s.render()) for s in app.screen.query(Static))
        for verb in VERBS.split():
            assert f":{verb}" in shown, verb


async def test_a_refused_command_leaves_the_prompt_ready_for_the_next(app: CronuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"foo", "enter")
        prompt = main(app).query_one(Prompt)
        await until(pilot, lambda: prompt.has_class("-error"), "the refusal")
        assert prompt.value == "" and "unknown command 'foo'" in str(prompt.placeholder)
        await pilot.press(*"zone Berlin", "enter")
        await until(pilot, lambda: "did you mean 'Europe/Berlin'?" in str(prompt.placeholder), "the zone's refusal")
        assert not any("'foozone" in t or "'foo:zone" in t for t in toasts(app)), "the old text was not kept"
        await pilot.press(*"zone Europe/Berlin", "enter")
        await until(pilot, lambda: not prompt.is_open, "the command ran")
        assert app.ctx.view_zone == "Europe/Berlin"
