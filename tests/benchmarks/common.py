"""What the benchmark scripts share: the clock, /proc readings, percentiles, cronui's daemon on a fresh SQLite
file, and the shell executor's way of running a command. Imported by the scripts next to it (run as files,
their own folder is on sys.path); pytest collects only test_*.py, so nothing here runs in the test suite.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from cronui.engine.clock import SystemClock
from cronui.timefmt import iso_utc

TICK = os.sysconf("SC_CLK_TCK")
_CLOCK = SystemClock()


def now() -> float:
    """Epoch seconds read exactly as cronui's SystemClock reads them (whole milliseconds), on every side."""
    return _CLOCK.now_ms() / 1000


class Run(NamedTuple):
    """One run of a slot, in epoch seconds: the slot, its start (cronui: the claim; a peer: entry into the job,
    just before the spawn), how it ended, when its process was spawned, when it finished."""

    slot: float
    start: float | None
    status: str
    spawned: float | None
    finished: float | None


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))] if s else math.nan


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime: the process and its reaped children, at clock-tick resolution."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def cpu_ns_threads(pid: int) -> int:
    """Time on CPU of all the process's threads in nanoseconds (schedstat: finer than clock ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended between listing and reading
            continue
    return total


def ctx_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of all the process's threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in text.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def threads(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/task").iterdir())


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def sleep_until(t: float) -> None:
    while (d := t - time.time()) > 0:
        time.sleep(min(d, 0.5))


def stop_process(proc: subprocess.Popen[Any], timeout: float = 120) -> None:
    """SIGTERM, then wait; SIGKILL (and raise) if it does not go in time."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The next line a peer process prints, or SystemExit if none comes within timeout."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        raise SystemExit(f"peer process printed nothing within {timeout:.0f} s")
    return proc.stdout.readline().strip()


class Daemon:
    """`cronui --no-ui` on a fresh SQLite file in `root` (a temporary directory the caller owns)."""

    def __init__(self, root: Path, **env: str) -> None:
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CRONUI_")}
        self.env.update(CRONUI_DB=str(root / "bench.db"), CRONUI_TIMEZONE="UTC", CRONUI_CONFIG=str(root / "c.toml"))
        self.env.update(env)
        (root / "c.toml").write_text("")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def db_path(self) -> str:
        return self.env["CRONUI_DB"]

    def cli(self, *argv: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "cronui", *argv], env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def apply(self, jobs_toml: str) -> None:
        """`cronui apply` of a job file with this text."""
        (self.root / "jobs.toml").write_text(jobs_toml)
        self.cli("apply", str(self.root / "jobs.toml"))

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=30)

    def start(self, *, log: bool = True, timeout: float = 60) -> None:
        """Start the daemon and wait until it holds the scheduler lease. log: its JSON event log goes to
        daemon.log (stop() returns the last line); otherwise text lines go to /dev/null (cheapest)."""
        argv = [sys.executable, "-m", "cronui", "--no-ui", "--log-format", "json" if log else "text"]
        self.log_path = self.root / "daemon.log" if log else None
        with (
            open(self.log_path, "w") if self.log_path else open(os.devnull, "w") as out,
            open(self.root / "daemon.err", "w") as err,
        ):
            self.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        while True:  # ready = this process holds the scheduler lease
            with self.db() as con:
                try:
                    row = con.execute("SELECT pid FROM scheduler_lease").fetchone()
                except sqlite3.OperationalError:  # the schema is not there yet
                    row = None
            if row and row[0] == self.proc.pid:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise SystemExit(f"cronui daemon did not start: {(self.root / 'daemon.err').read_text()[-2000:]}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 120) -> dict[str, Any]:
        """SIGTERM and wait; the last JSON line of its log (the `stopped` line: uptime_s, wakeups) if logged."""
        assert self.proc is not None
        stop_process(self.proc, timeout)
        if self.log_path is None:
            return {}
        last = [json.loads(x) for x in self.log_path.read_text().splitlines() if x.startswith("{")]
        return last[-1] if last else {}

    def schedule_runs(self) -> list[Run]:
        """Every run of a scheduled slot, its process-started milestone as `spawned`."""
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT r.scheduled_for, r.started_at, r.status, e.at, r.finished_at FROM runs r "
                "LEFT JOIN run_events e ON e.run_id = r.id AND e.kind = 'milestone' AND e.name = 'process-started' "
                "WHERE r.trigger = 'schedule'"
            ).fetchall()
        finally:
            con.close()
        s = lambda v: None if v is None else v / 1000  # noqa: E731
        return [Run(slot / 1000, s(st), status, s(sp), s(fin)) for slot, st, status, sp, fin in rows]


def body(out_dir: Path) -> str:
    """The job every side runs, as `/bin/sh -c BODY`: it appends one line, `<its slot> <its own start, epoch ns>`,
    to the file named after its job in `out_dir`. The slot and the job come from CRONUI_SCHEDULED_FOR and
    CRONUI_JOB (cronui sets them for every shell run; a peer sets them the same way), so one command text
    serves every job and every side. `date` is the start the child reads itself (dash has no EPOCHREALTIME):
    one exec more per run, the same on every side."""
    return f'date "+$CRONUI_SCHEDULED_FOR %s%N" >> "{out_dir}/$CRONUI_JOB"'


def slot_text(slot: float) -> str:
    """A slot (epoch s) as cronui writes CRONUI_SCHEDULED_FOR."""
    return iso_utc(round(slot * 1000)) or ""


class ChildStarts(NamedTuple):
    """What the jobs wrote: per (job, slot) the start each execution read itself (epoch s), in file order."""

    starts: dict[tuple[str, float], list[float]]

    def executed(self, s0: float, s1: float) -> int:
        """Slots in [s0, s1) executed at least once."""
        return sum(1 for (_, slot) in self.starts if s0 <= slot < s1)

    def duplicates(self, s0: float, s1: float) -> int:
        """Executions beyond the first of a slot in [s0, s1) (none, if exactly once per slot holds)."""
        return sum(len(v) - 1 for (_, slot), v in self.starts.items() if s0 <= slot < s1)

    def lateness_ms(self, s0: float, s1: float) -> list[float]:
        """The child's own start minus its slot (ms), first execution of each slot in [s0, s1)."""
        return [round((v[0] - slot) * 1000, 3) for (_, slot), v in self.starts.items() if s0 <= slot < s1]

    def started_between(self, t0: float, t1: float) -> int:
        """Executions whose child started in [t0, t1)."""
        return sum(1 for v in self.starts.values() for t in v if t0 <= t < t1)


def read_child_starts(out_dir: Path) -> ChildStarts:
    starts: dict[tuple[str, float], list[float]] = {}
    for f in out_dir.iterdir():
        for line in f.read_text().splitlines():
            iso, _, ns = line.partition(" ")
            slot = datetime.fromisoformat(iso).timestamp()
            starts.setdefault((f.name, slot), []).append(int(ns) / 1e9)
    return ChildStarts(starts)


async def spawn_shell(command: str = "true", env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run `/bin/sh -c COMMAND` the way a user of an asyncio scheduler does (own session, stdin from /dev/null,
    stdout and stderr piped and read to the end). Returns (when the process was spawned, its exit code)."""
    p = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env=env,
    )
    spawned = now()
    await p.communicate()
    assert p.returncode is not None
    return spawned, p.returncode
