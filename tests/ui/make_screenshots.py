"""Real app states on the fixed demo data (a frozen clock, seeded runs), rendered to SVG.

    python -m tests.ui.make_screenshots --out screenshots   # writes screenshots/*.svg (main, editor, run detail...)
    python -m tests.ui.make_screenshots --only health --png  # one of them, and a PNG beside it (rsvg-convert)
    python -m tests.ui.make_screenshots --out DIR --size 120x36
    python -m tests.ui.make_screenshots --demo              # open the demo app in this terminal, to try it

The folder given to `--out` (default: `screenshots` in the current directory) is created if missing. The
snapshot tests build their apps with `demo_app` too, so the README pictures and the tests show the same
thing. Developer tooling: it lives under tests/ and is not part of the installed package.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from cronui.config import Retention, Settings
from cronui.engine.clock import FakeClock
from cronui.engine.engine import Engine
from cronui.engine.pings import Ping, PingKind, ping_from_exit, record_ping
from cronui.model import Job, RunEvent, TargetKind
from cronui.schedule import parse
from cronui.store.base import Store
from cronui.store.sqlite import SQLiteStore
from cronui.targets import ShellTarget
from cronui.ui.app import CronuiApp, make_app
from cronui.ui.widgets.job_table import JobTable
from tests.ui.demo_data import DEMO_DB, DEMO_NODE, DEMO_NOW, seed_demo

BACKGROUND_GROUPS = {"engine", "bridge"}


async def prepare_demo_db(path: str | Path, now_ms: int = DEMO_NOW) -> None:
    store = SQLiteStore(path)
    await store.open()
    try:
        await seed_demo(store, now_ms, DEMO_NODE)
    finally:
        await store.close()


DAY = 86_400_000
MIN = 60_000

# The health shot adds what the demo lacks to the jobs it has: checks that crontab runs and pings (one whose
# slot this morning had no ping, one started and not ended), and a job too new to have run.
WATCHED: list[tuple[Job, list[int], int]] = [  # the job, its pings' exit codes oldest first (a day each), minutes
    (
        Job(
            "ledger-export",
            "45 7 * * *",
            "UTC",
            TargetKind.SHELL,
            ShellTarget("/usr/local/bin/ledger-export --day yesterday"),
            description="Run by crontab through cronui exec",
            tags=["billing"],
            is_check=True,
            grace_s=1800,
        ),
        [0] * 9 + [1] + [0] * 10,
        4,
    ),
    (
        Job(
            "offsite-copy",
            "30 8 * * *",
            "UTC",
            TargetKind.SHELL,
            ShellTarget("rclone sync /srv/backup offsite:backup"),
            description="Run by crontab through cronui exec",
            tags=["ops", "nightly"],
            timeout_s=7200,
            alert_overrun_s=1500,
            is_check=True,
            grace_s=900,
        ),
        [0] * 20,
        12,
    ),
]
NEW_JOB = Job(
    "certs-renew",
    "0 4 1 * *",
    "UTC",
    TargetKind.SHELL,
    ShellTarget("certbot renew --quiet"),
    tags=["ops"],
    description="Added yesterday: first run on the 1st",
)


async def seed_watching(store: Store, now_ms: int = DEMO_NOW) -> None:
    """Add the health shot's jobs to a demo database: their pings go through the path `cronui exec` takes,
    on a clock set to each ping's time; the alerts are left to the app's own engine to find."""
    clock = FakeClock(now_ms)

    async def emit(event: RunEvent) -> None:
        await store.append_events([event])

    for template, codes, minutes in WATCHED:
        job = copy.deepcopy(template)
        job.source = "demo"
        job.created_at = job.updated_at = now_ms - (len(codes) + 1) * DAY
        schedule = parse(job.schedule, job.timezone, now_ms=job.created_at)
        job.next_run_at = schedule.next_after(job.created_at)
        job = await store.create_job(job)
        assert job.id is not None and job.next_run_at is not None
        slot = job.next_run_at
        for i, code in enumerate(codes):
            started = slot + (7 + i % 5) * 1_000
            clock.set(started)
            await record_ping(store, clock, await _fresh(store, job.id), Ping(PingKind.START), emit)
            clock.set(started + (minutes * MIN if code == 0 else 40_000) + i * 3_100)
            end = ping_from_exit(code)
            end.message = "ledger: upstream closed the connection" if code else ""
            await record_ping(store, clock, await _fresh(store, job.id), end, emit)
            slot = schedule.next_after(slot) or slot
        if job.alert_overrun_s is not None and slot <= now_ms:  # today's run began and has not ended
            clock.set(slot + 5_000)
            await record_ping(store, clock, await _fresh(store, job.id), Ping(PingKind.START), emit)
    job = copy.deepcopy(NEW_JOB)
    job.source = "demo"
    job.created_at = job.updated_at = now_ms - DAY
    job.next_run_at = parse(job.schedule, job.timezone, now_ms=now_ms).next_after(now_ms)
    await store.create_job(job)
    # this morning's unpinged slot recorded missed by the scheduler's own planner, before the app reads its jobs
    settings = Settings(db=DEMO_DB, timezone="UTC", timezone_source="demo", retention=Retention(days=3650))
    engine = Engine(store, settings, clock)
    clock.set(now_ms)
    await engine.planner.materialize(await store.due_jobs(now_ms), now_ms, False)


async def _fresh(store: Store, job_id: int) -> Job:
    job = await store.get_job(job_id)
    assert job is not None
    return job


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


HEALTHS = {"ledger-export": "late", "offsite-copy": "overrun", "certs-renew": "never_ran"}


async def at_health(pilot: Pilot[object]) -> None:
    """The job list sorted by health, the worst first, once the app's engine has found what is late and what
    overruns (it looks on its own; the list reads every job's health every few seconds)."""
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, CronuiApp)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30.0
    while {n: app.catalog.health_of(app.catalog.by_name[n].id) for n in HEALTHS} != HEALTHS:
        if loop.time() > deadline:
            raise TimeoutError("the engine did not find the health the shot shows")
        await pilot.pause(0.1)
    table = app.screen.query_one(JobTable)
    while table.sort_key != "health":  # `s` steps through the columns' orders: health puts the worst first
        await pilot.press("s")
    await select_job(pilot, "ledger-export")


SHOTS: dict[str, Callable[[Pilot[object]], Awaitable[None]]] = {
    "main": at_main,
    "job-editor": at_editor,
    "run-detail": at_run_detail,
    "overview": at_overview,
    "alerts": at_alerts,
    "health": at_health,
}
SEEDS: dict[str, Callable[[Store], Awaitable[None]]] = {"health": seed_watching}  # beyond the demo's data


async def prepare_shot_db(name: str, db: Path) -> None:
    """The demo database, and what this shot adds to it."""
    await prepare_demo_db(db)
    if name in SEEDS:
        store = SQLiteStore(db)
        await store.open()
        try:
            await SEEDS[name](store)
        finally:
            await store.close()


async def render(name: str, size: tuple[int, int], workdir: Path) -> str:
    db = workdir / f"{name}.db"
    await prepare_shot_db(name, db)
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
    parser.add_argument("--png", action="store_true", help="also write a PNG beside each SVG (needs rsvg-convert)")
    parser.add_argument("--demo", action="store_true", help="open the demo app in this terminal instead")
    args = parser.parse_args(argv)
    if args.demo:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "demo.db"
            asyncio.run(prepare_demo_db(db))
            demo_app(db).run()
        return 0
    cols, _, rows = args.size.partition("x")
    if args.png and shutil.which("rsvg-convert") is None:
        parser.error("--png needs rsvg-convert (Debian: apt-get install librsvg2-bin)")
    for path in asyncio.run(render_all(Path(args.out), (int(cols), int(rows)), args.only or list(SHOTS))):
        print(path)
        if args.png:
            png = path.with_suffix(".png")
            subprocess.run(["rsvg-convert", str(path), "-o", str(png)], check=True)
            print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
