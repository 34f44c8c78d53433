"""Real app states on the fixed demo data (a frozen clock, seeded runs), rendered to SVG.

    python -m tests.ui.make_screenshots --out screenshots   # writes screenshots/*.svg (main, editor, run detail)
    python -m tests.ui.make_screenshots --out DIR --size 120x36
    python -m tests.ui.make_screenshots --demo              # open the demo app in this terminal, to try it

The folder given to `--out` (default: `screenshots` in the current directory) is created if missing. The
snapshot tests build their apps with `demo_app` too, so the README pictures and the tests show the same
thing. Developer tooling: it lives under tests/ and is not part of the installed package.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from cronui.config import Retention, Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.store.sqlite import SQLiteStore
from cronui.ui.app import CronuiApp, make_app
from tests.ui.demo_data import DEMO_DB, DEMO_NODE, DEMO_NOW, seed_demo

BACKGROUND_GROUPS = {"engine", "bridge"}


async def prepare_demo_db(path: str | Path, now_ms: int = DEMO_NOW) -> None:
    store = SQLiteStore(path)
    await store.open()
    try:
        await seed_demo(store, now_ms, DEMO_NODE)
    finally:
        await store.close()


def demo_app(path: str | Path, *, now_ms: int = DEMO_NOW, local_zone: str = "Europe/Berlin") -> CronuiApp:
    """An app over a demo database that `prepare_demo_db` filled; it opens the store in its own loop."""
    # keep the demo's year of history: the engine applies the retention policy when it takes the lease
    settings = Settings(db=DEMO_DB, timezone=local_zone, timezone_source="demo", retention=Retention(days=3650))
    store = SQLiteStore(path)
    engine = Engine(store, settings, FakeClock(now_ms))
    engine.node = engine.dispatcher.node = DEMO_NODE  # the demo's runs in flight are this engine's
    return make_app(settings, store, engine=engine, manage=True, cursor_blink=False)


async def settle(pilot: Pilot[object], *, owning: bool = True, timeout_s: float = 10.0) -> None:
    """Wait until the app has loaded, (optionally) holds the lease, and its loads have finished."""
    app = pilot.app
    assert isinstance(app, CronuiApp)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        busy = [w for w in app.workers if w.group not in BACKGROUND_GROUPS and not w.is_finished]
        if app.ready.is_set() and not busy and (not owning or app.bridge.owning):
            await pilot.pause()
            busy = [w for w in app.workers if w.group not in BACKGROUND_GROUPS and not w.is_finished]
            if not busy:
                await pilot.pause()
                return
        await pilot.pause(0.02)
    raise TimeoutError("the app did not settle")


async def select_job(pilot: Pilot[object], name: str) -> None:
    app = pilot.app
    assert isinstance(app, CronuiApp)
    job = app.catalog.by_name[name]
    assert job.id is not None
    app.screen.select_job(job.id)  # type: ignore[attr-defined]
    await settle(pilot)


async def at_main(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await select_job(pilot, "research-digest")


async def at_editor(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    screen = pilot.app.screen
    screen.query_one("#name", Input).value = "research-digest-eu"
    presets = screen.query_one("#presets", OptionList)
    presets.highlighted = 9  # Weekdays at 09:00
    presets.action_select()
    screen.query_one("#timezone", Input).value = "Europe/Berlin"
    await pilot.click("#kind-agent")
    await settle(pilot)
    screen.query_one("#base_url", Input).value = "http://127.0.0.1:11434/v1"
    screen.query_one("#model", Input).value = "llama3.1:8b"
    screen.query_one("#message", Input).value = "Summarise what changed in {job} since {scheduled_for}"
    await settle(pilot)
    screen.query_one("#schedule", Input).focus()
    await settle(pilot)


async def at_run_detail(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await select_job(pilot, "research-digest")
    await pilot.press("2", "down", "enter")  # its newest finished run (the newest one is in flight)
    await settle(pilot)


async def at_overview(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("o")
    await settle(pilot)
    await pilot.press("2")  # the last 7 days
    await settle(pilot)


async def at_alerts(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("exclamation_mark")
    await settle(pilot)


SHOTS: dict[str, Callable[[Pilot[object]], Awaitable[None]]] = {
    "main": at_main,
    "job-editor": at_editor,
    "run-detail": at_run_detail,
    "overview": at_overview,
    "alerts": at_alerts,
}


async def render(name: str, size: tuple[int, int], workdir: Path) -> str:
    db = workdir / f"{name}.db"
    await prepare_demo_db(db)
    app = demo_app(db)
    async with app.run_test(size=size) as pilot:
        await SHOTS[name](pilot)
        return app.export_screenshot(title="cronui")


async def render_all(out: Path, size: tuple[int, int], names: list[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            svg = await render(name, size, Path(tmp))
            path = out / f"{name}.svg"
            path.write_text(svg, encoding="utf-8", newline="\n")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="screenshots", help="folder for the SVGs (created if missing)")
    parser.add_argument("--size", default="120x36", help="COLUMNSxROWS")
    parser.add_argument("--only", action="append", choices=sorted(SHOTS), help="render just this one (repeatable)")
    parser.add_argument("--demo", action="store_true", help="open the demo app in this terminal instead")
    args = parser.parse_args(argv)
    if args.demo:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "demo.db"
            asyncio.run(prepare_demo_db(db))
            demo_app(db).run()
        return 0
    cols, _, rows = args.size.partition("x")
    for path in asyncio.run(render_all(Path(args.out), (int(cols), int(rows)), args.only or list(SHOTS))):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
