"""The TUI at scale: first paint and key latency with 10,000 jobs and 1,000,000 runs. Prints numbers;
asserts nothing.

    python tests/benchmarks/bench_ui.py                  # 10,000 jobs, 1,000,000 runs (the DB is cached)
    python tests/benchmarks/bench_ui.py --jobs 1000 --runs 100000
    python tests/benchmarks/bench_ui.py --datatable      # also time a naive DataTable with every job row
    python tests/benchmarks/bench_ui.py --detail         # only: the run detail of huge runs (below)

What is measured, in the app as `cronui` runs it (its own engine in the event loop, owning the scheduler),
headless at 120x36:
  first paint     from creating the app to the first frame that draws job rows
  key latency     from a key press to the frame that draws the row under the new cursor (p50 / p95 /
                  max) for cursor moves, page and end jumps and sorting in the job list, and moves and
                  paging in `:runs` over every run; typing a filter: the key to the filtered rows drawn
  run detail      (--detail) a run with 100,000 milestones and a run with one 256 KB line of output: from
                  opening the run to the run read from the store, to the first frame that draws its
                  content, to the content laid out in full, and the longest the event loop (which the
                  embedded scheduler shares) was held meanwhile (reading the run included);
                  `--shots DIR` also saves SVG screenshots at 80x24 and 120x36
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

NOW = 1_790_000_000_000  # the seeded runs end here; the app's clock reads the real time


def seed(path: Path, jobs: int, runs: int) -> None:
    """Jobs and runs written straight into a fresh database (the store's schema, bulk inserts)."""
    from cronui.model import Job, TargetKind
    from cronui.store.rows import job_to_row
    from cronui.store.sqlite import SQLiteStore

    async def schema() -> None:
        store = SQLiteStore(path)
        await store.open()
        await store.close()

    asyncio.run(schema())
    con = sqlite3.connect(path)
    now = int(time.time() * 1000)
    kinds = [TargetKind.SHELL, TargetKind.HTTP, TargetKind.AGENT]
    rows = []
    for i in range(jobs):
        job = Job(
            name=f"job-{i:05d}",
            schedule=["*/5 * * * *", "0 9 * * 1-5", "30 2 * * *", "every 15m"][i % 4],
            timezone=["UTC", "Europe/Berlin", "America/New_York"][i % 3],
            kind=kinds[i % 3],
            target={"command": "true"},
            created_at=now,
            updated_at=now,
            next_run_at=now + 86_400_000 + i * 1000,  # nothing fires while the benchmark runs
            tags=["ops"] if i % 3 == 0 else [],
        )
        row = job_to_row(job)
        row.pop("id")
        rows.append(row)
    cols = list(rows[0])
    con.executemany(
        f"INSERT INTO jobs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [tuple(r[c] for c in cols) for r in rows],
    )
    rng = random.Random(1)
    start = now - 20 * 86_400_000  # inside the default 30-day retention

    def gen():  # type: ignore[no-untyped-def]
        step = 20 * 86_400_000 // max(1, runs)
        for k in range(runs):
            job_id = k % jobs + 1
            status = "succeeded" if rng.random() < 0.93 else "failed"
            at = start + k * step
            yield (job_id, "schedule", at, status, at, at, at + 1200, at + 1200, 1200, "[]")

    con.executemany(
        "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, started_at, finished_at, "
        "duration_ms, output_bytes, milestones) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        gen(),
    )
    con.commit()
    con.close()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def report(name: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(f"  {name:<34} n={len(ms):<4} p50={pct(ms, 0.5):7.1f} ms  p95={pct(ms, 0.95):7.1f} ms  max={max(ms):7.1f} ms")


class PaintProbe:
    """Records when a table draws a row with the cursor on it: the moment a key's effect is on screen
    (the pilot's own waits for idleness are not part of the latency a person sees)."""

    def __init__(self) -> None:
        from cronui.ui.widgets.table import VirtualTable

        self.first_rows: float | None = None
        self.tables: dict[int, float] = {}  # id(table) -> when it first drew a row
        self.cursor_painted: dict[int, float] = {}
        original = VirtualTable.render_line
        probe = self

        def render_line(table, y):  # type: ignore[no-untyped-def]
            strip = original(table, y)
            if y >= 1 and table.rows:
                now = time.perf_counter()
                if probe.first_rows is None:
                    probe.first_rows = now
                probe.tables.setdefault(id(table), now)
                if int(table.scroll_y) + y - 1 == table.cursor:
                    probe.cursor_painted.setdefault(id(table) ^ table.cursor, now)
            return strip

        VirtualTable.render_line = render_line  # type: ignore[method-assign]

    def clear(self) -> None:
        self.cursor_painted.clear()


async def measure(db: Path, probe: PaintProbe) -> None:
    from cronui.config import Settings
    from cronui.store.sqlite import SQLiteStore
    from cronui.ui.app import make_app
    from cronui.ui.screens.main import MainScreen
    from cronui.ui.screens.run_detail import RunDetailScreen
    from cronui.ui.screens.runs import RunsScreen
    from cronui.ui.widgets.job_table import JobTable
    from cronui.ui.widgets.run_table import RunTable
    from cronui.ui.widgets.table import VirtualTable

    settings = Settings(db=str(db), timezone="UTC", timezone_source="bench")
    t0 = time.perf_counter()
    app = make_app(settings, SQLiteStore(db), manage=True, cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        t_started = time.perf_counter() - t0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while probe.first_rows is None or not isinstance(app.screen, MainScreen):
            if loop.time() > deadline:
                raise TimeoutError("no job rows after 60 s")
            await asyncio.sleep(0.001)
        t_paint = probe.first_rows - t0
        while not app.ready.is_set():
            await asyncio.sleep(0.01)
        t_ready = time.perf_counter() - t0
        print(f"first paint with {len(app.catalog):,} jobs ({app.screen.query_one(JobTable).rows[0].name} on top)")
        print(f"  app started, empty frame             {t_started * 1000:7.1f} ms")
        print(f"  first frame with job rows            {t_paint * 1000:7.1f} ms")
        print(f"  loaded, engine started               {t_ready * 1000:7.1f} ms")

        async def keys(table_of: Callable[[], VirtualTable[object]], key: str, repeat: int) -> list[float]:
            """Press -> the row under the new cursor drawn."""
            out = []
            for _ in range(repeat):
                table = table_of()
                probe.clear()
                t = time.perf_counter()
                await pilot.press(key)
                target = id(table) ^ table.cursor
                while target not in probe.cursor_painted:
                    await asyncio.sleep(0.001)
                out.append(probe.cursor_painted[target] - t)
            return out

        async def until(cond: Callable[[], object], what: str = "") -> None:
            deadline = loop.time() + 30
            while not cond():
                if loop.time() > deadline:
                    raise TimeoutError(f"waited 30 s for {what or cond} (screen: {app.screen!r})")
                await asyncio.sleep(0.001)

        def jobs() -> VirtualTable[object]:
            return app.screen.query_one(JobTable)  # type: ignore[return-value]

        def runs() -> VirtualTable[object]:
            return app.screen.query_one(RunTable)  # type: ignore[return-value]

        await pilot.pause(1.0)
        print("key latency: key press -> the row under the cursor drawn")
        report("down (job list)", await keys(jobs, "down", 60))
        report("pagedown (job list)", await keys(jobs, "pagedown", 20))
        report("end (job list)", await keys(jobs, "end", 1) + await keys(jobs, "home", 1) + await keys(jobs, "end", 1))
        report("sort cycle (s)", await keys(jobs, "s", 6))
        await pilot.press("slash")
        typed = []
        for ch in "job-0999":
            probe.first_rows = None
            t = time.perf_counter()
            await pilot.press(ch)
            await until(lambda: probe.first_rows is not None)
            typed.append((probe.first_rows or 0) - t)
        report("filter, per key typed (10k jobs)", typed)
        await pilot.press("enter")
        print(f"  filter 'job-0999' shows {len(jobs().rows)} jobs")
        await pilot.press("escape")

        async def open_view(command: str) -> float:
            await pilot.press("colon")
            for ch in command:
                await pilot.press(ch)
            t = time.perf_counter()
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, RunsScreen) and id(runs()) in probe.tables)
            return probe.tables[id(runs())] - t

        print(f"  :runs (1M runs) enter -> first page shown    {await open_view('runs') * 1000:7.1f} ms")
        report("down (runs view)", await keys(runs, "down", 40))
        report("pagedown (runs view, paging in)", await keys(runs, "pagedown", 40))
        print(f"  runs loaded after 40 page-downs: {len(runs().rows):,}")
        t = time.perf_counter()
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run is not None)
        print(f"  enter -> run detail shown                    {(time.perf_counter() - t) * 1000:7.1f} ms")
        await pilot.press("escape")
        await pilot.press("escape")
        print(f"  :failed (last 24 h) enter -> first page      {await open_view('failed') * 1000:7.1f} ms")


async def datatable(jobs: int) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class Naive(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    app = Naive()
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.query_one(DataTable)
        table.add_columns("NAME", "SCHEDULE", "READS AS", "ZONE", "KIND", "LAST", "NEXT")
        t = time.perf_counter()
        table.add_rows(
            [(f"job-{i:05d}", "*/5 * * * *", "Every 5 minutes", "UTC", "shell", "ok", "in 04:00") for i in range(jobs)]
        )
        await pilot.pause()
        print(f"naive DataTable, {jobs:,} rows added and painted: {(time.perf_counter() - t) * 1000:.0f} ms")


def seed_detail(path: Path, milestones: int, line_kb: int) -> tuple[int, int]:
    """One job with two finished runs: one with `milestones` milestones, one whose output is one line."""
    from cronui.model import Job, Milestone, TargetKind
    from cronui.store.rows import milestones_to_json
    from cronui.store.sqlite import SQLiteStore

    now = int(time.time() * 1000)

    async def schema() -> None:
        store = SQLiteStore(path)
        await store.open()
        job = Job(name="flood", schedule="@yearly", timezone="UTC", kind=TargetKind.SHELL, target={"command": "x"})
        job.created_at = job.updated_at = now
        await store.create_job(job)
        await store.close()

    asyncio.run(schema())
    flood = [Milestone(f"step-{i}", now - 60_000 + i, {"i": i, "note": "rows copied"}) for i in range(milestones)]
    line = " ".join(f"word{i}" for i in range(line_kb * 1024 // 5))[: line_kb * 1024]
    con = sqlite3.connect(path)
    ids = []
    for k, (ms, out) in enumerate([(flood, "done\n"), ([], line)]):
        cur = con.execute(
            "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, started_at, finished_at, "
            "duration_ms, output, output_bytes, milestones) VALUES (1, 'manual', ?, 'succeeded', ?, ?, ?, ?, ?, ?, ?)",
            (now - 60_000 - k, now - 60_000, now - 60_000, now, 60_000, out, len(out), milestones_to_json(ms)),
        )
        ids.append(int(cur.lastrowid or 0))
    con.commit()
    con.close()
    return ids[0], ids[1]


async def heartbeat(stalls: list[float], stop: asyncio.Event) -> None:
    """How late each 5 ms sleep of the event loop wakes: how long something else held the loop."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t = loop.time()
        await asyncio.sleep(0.005)
        stalls.append(loop.time() - t - 0.005)


async def measure_detail(db: Path, runs: dict[str, int], shots: Path | None) -> None:
    from cronui.config import Settings
    from cronui.store.sqlite import SQLiteStore
    from cronui.ui.app import make_app
    from cronui.ui.screens.main import MainScreen
    from cronui.ui.screens.run_detail import RunDetailScreen
    from cronui.ui.widgets.output import OutputView
    from cronui.ui.widgets.timeline import TimelineView

    drawn: dict[str, float] = {}
    for cls, key in ((TimelineView, "timeline"), (OutputView, "output")):
        original = cls.render_line

        def render_line(widget, y, original=original, key=key):  # type: ignore[no-untyped-def]
            strip = original(widget, y)
            if y == 0 and widget.virtual_size.height > 0 and key not in drawn:
                drawn[key] = time.perf_counter()
            return strip

        cls.render_line = render_line  # type: ignore[method-assign]

    settings = Settings(db=str(db), timezone="UTC", timezone_source="bench")
    for size in ((120, 36), (80, 24)):
        app = make_app(settings, SQLiteStore(db), manage=True, cursor_blink=False)
        async with app.run_test(size=size) as pilot:
            loop = asyncio.get_running_loop()
            while not app.ready.is_set() or not isinstance(app.screen, MainScreen):
                await asyncio.sleep(0.01)
            await pilot.pause(1.0)
            print(f"run detail at {size[0]}x{size[1]} (the app owns the scheduler, in the same event loop)")
            for what, run_id in runs.items():
                key = "timeline" if "milestones" in what else "output"
                stalls: list[float] = []
                beating = asyncio.Event()
                beater = asyncio.create_task(heartbeat(stalls, beating))
                drawn.clear()
                t = time.perf_counter()
                app.open_run(run_id)
                deadline = loop.time() + 120
                while not (isinstance(app.screen, RunDetailScreen) and app.screen.run is not None):
                    if loop.time() > deadline:
                        raise TimeoutError(f"{what}: not loaded after 120 s")
                    await asyncio.sleep(0.001)
                loaded = time.perf_counter() - t
                while key not in drawn:
                    if loop.time() > deadline:
                        raise TimeoutError(f"{what}: nothing drawn after 120 s")
                    await asyncio.sleep(0.001)
                first = drawn[key] - t
                screen = app.screen
                assert isinstance(screen, RunDetailScreen)
                widget = screen.query_one(TimelineView if key == "timeline" else OutputView)
                while widget.preparing or screen.run is None:
                    await asyncio.sleep(0.001)
                full = time.perf_counter() - t
                await pilot.pause(0.2)
                beating.set()
                await beater
                print(
                    f"  {what:<20} read from the store {loaded * 1000:6.0f} ms  first frame {first * 1000:6.0f} ms  "
                    f"laid out {full * 1000:6.0f} ms  "
                    f"loop held at most {max(stalls) * 1000:5.0f} ms"
                )
                if shots is not None:
                    shots.mkdir(parents=True, exist_ok=True)
                    name = f"detail-{what.split()[-1]}-{size[0]}x{size[1]}.svg"
                    app.save_screenshot(name, str(shots))
                await pilot.press("escape")
                await pilot.pause(0.3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--cache", default=tempfile.gettempdir(), help="where the seeded database is kept")
    parser.add_argument("--datatable", action="store_true", help="also time a naive DataTable")
    parser.add_argument("--detail", action="store_true", help="only the run detail of huge runs")
    parser.add_argument("--milestones", type=int, default=100_000, help="(--detail) milestones of the one run")
    parser.add_argument("--line-kb", type=int, default=256, help="(--detail) KB of the other run's one line")
    parser.add_argument("--shots", type=Path, help="(--detail) save SVG screenshots here")
    args = parser.parse_args()
    os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp())  # no user themes or config in the numbers
    if args.detail:
        with tempfile.TemporaryDirectory() as work:
            db = Path(work) / "detail.db"
            flood, wide = seed_detail(db, args.milestones, args.line_kb)
            runs = {f"{args.milestones:,} milestones": flood, f"one {args.line_kb} KB line": wide}
            asyncio.run(measure_detail(db, runs, args.shots))
        return 0
    base = Path(args.cache) / f"cronui-bench-ui-{args.jobs}-{args.runs}.db"
    if not base.exists():
        t = time.perf_counter()
        tmp = base.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        seed(tmp, args.jobs, args.runs)
        tmp.rename(base)
        print(f"seeded {args.jobs:,} jobs and {args.runs:,} runs in {time.perf_counter() - t:.1f} s ({base})")
    with tempfile.TemporaryDirectory() as work:
        db = Path(work) / "bench.db"
        db.write_bytes(base.read_bytes())  # a fresh copy: the app's engine writes (lease, retention)
        asyncio.run(measure(db, PaintProbe()))
    if args.datatable:
        asyncio.run(datatable(args.jobs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
