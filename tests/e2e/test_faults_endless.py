"""A model server that sends as fast as it can, against a real daemon: the job's timeout, `cronui runs cancel`
(what `x` does), SIGTERM and a second ctrl+c each end the endless stream's run promptly, an every-second job
keeps its slots meanwhile, and a tool-call flood (64 MiB of arguments, 100,000 calls) is kept to its caps
with the daemon's memory bounded. The server (tests/engine/endless.py) is a process of its own."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import Processes, cronui, query, wait_for

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 3  # the endless job's --timeout in the timeout case
MiB = 1024 * 1024


@pytest.fixture
def model_url() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.endless"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.kill()
        server.wait()


class Memory:
    """Samples a process's resident memory every 0.1 s, in a thread, until stopped: the peak, in MiB."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return round(self.peak_kb / 1024, 1)


def add_tick(env: dict[str, str]) -> None:
    """An every-second job; a slot started more than 2 s late is recorded missed, not run."""
    opts = ("--misfire", "skip", "--misfire-grace", "2s")
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "true", *opts)


def add_agent(env: dict[str, str], name: str, url: str, model: str, timeout: str) -> None:
    opts = ("--agent", url, "--model", model, "--message", "go", "--timeout", timeout)
    cronui(env, "jobs", "add", name, "--schedule", "@yearly", *opts)


def run_now(env: dict[str, str], name: str) -> int:
    cronui(env, "jobs", "run", name)
    sql = "SELECT r.id FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = ? ORDER BY r.id DESC LIMIT 1"
    [(run_id,)] = query(env, sql, (name,))
    return int(run_id)


def status_of(env: dict[str, str], run_id: int) -> str:
    return str(query(env, "SELECT status FROM runs WHERE id = ?", (run_id,))[0][0])


def streaming(env: dict[str, str], run_id: int) -> None:
    """Until the run is running and has streamed for a second."""
    wait_for(lambda: status_of(env, run_id) == "running", what=f"run #{run_id} running")
    time.sleep(1.0)
    assert status_of(env, run_id) == "running"


def tick_lateness(env: dict[str, str], since_ms: int, until_ms: int) -> tuple[list[str], list[int]]:
    """The statuses of the tick slots due between the two instants, and how late each started (ms)."""
    rows = query(
        env,
        "SELECT r.status, r.started_at - r.scheduled_for FROM runs r JOIN jobs j ON j.id = r.job_id"
        " WHERE j.name = 'tick' AND r.trigger = 'schedule' AND r.scheduled_for BETWEEN ? AND ?"
        " ORDER BY r.scheduled_for",
        (since_ms, until_ms),
    )
    return [r[0] for r in rows], sorted(r[1] for r in rows if r[1] is not None)


def ended_after(env: dict[str, str], run_id: int, at_ms: int) -> int:
    [(finished,)] = query(env, "SELECT finished_at FROM runs WHERE id = ?", (run_id,))
    return int(finished) - at_ms


def now_ms() -> int:
    return int(time.time() * 1000)


def test_timeout_cancel_and_sigterm_each_end_an_endless_stream_while_every_second_slots_run(
    env: dict[str, str], procs: Processes, model_url: str
):
    add_tick(env)
    add_agent(env, "endless-3s", model_url, "endless", f"{TIMEOUT_S}s")
    add_agent(env, "endless", model_url, "endless", "10m")
    daemon = procs.spawn("daemon", "--grace", "1", env=env, name="daemon")
    memory = Memory(daemon.pid)
    wait_for(lambda: query(env, "SELECT pid FROM scheduler_lease") == [(daemon.pid,)], what="the lease")
    wait_for(lambda: tick_lateness(env, 0, now_ms())[0].count("succeeded") >= 2, what="ticks")
    figures: dict[str, object] = {}

    # the job's timeout
    t0 = now_ms()
    timed = run_now(env, "endless-3s")
    wait_for(lambda: status_of(env, timed) != "running" and status_of(env, timed) != "pending", what="the timeout")
    [(started, error)] = query(env, "SELECT started_at, error FROM runs WHERE id = ?", (timed,))
    assert status_of(env, timed) == "timed_out" and error == f"timed out after {TIMEOUT_S}s"
    figures["timeout: deadline to run ended ms"] = ended_after(env, timed, started + TIMEOUT_S * 1000)

    # a cancel, written to the database by another process (`cronui runs cancel`, as `x` does)
    cancelled = run_now(env, "endless")
    streaming(env, cancelled)
    at = now_ms()
    cronui(env, "runs", "cancel", str(cancelled))
    wait_for(lambda: status_of(env, cancelled) == "cancelled", what="the cancel")
    figures["cancel: command to run ended ms"] = ended_after(env, cancelled, at)

    # SIGTERM: the grace (1 s), then the run is interrupted and the daemon exits
    interrupted = run_now(env, "endless")
    streaming(env, interrupted)
    window = (t0 + 1000, now_ms() - 1500)  # tick slots due (and startable) while the streams ran
    at, t_term = now_ms(), time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=60)
    figures["SIGTERM (grace 1 s): to process gone s"] = round(time.monotonic() - t_term, 2)
    figures["SIGTERM (grace 1 s): to run ended ms"] = ended_after(env, interrupted, at)
    figures["daemon RSS peak MiB"] = memory.stop()
    statuses, late = tick_lateness(env, *window)
    figures["tick slots while streaming (succeeded of due)"] = f"{statuses.count('succeeded')} of {len(statuses)}"
    figures["tick lateness ms (median, max)"] = [late[len(late) // 2], late[-1]] if late else None
    print("endless stream figures:", *(f"{k}: {v}" for k, v in figures.items()), sep="\n  ")

    assert code == 0
    assert status_of(env, interrupted) == "interrupted"
    assert statuses and statuses == ["succeeded"] * len(statuses)  # no slot missed
    assert figures["daemon RSS peak MiB"] < 200  # type: ignore[operator]


def test_ctrl_c_says_what_it_waits_for_and_a_second_ctrl_c_stops_at_once(
    env: dict[str, str], procs: Processes, model_url: str
):
    add_agent(env, "endless", model_url, "endless", "10m")
    daemon = procs.spawn("daemon", "--log-format", "text", env=env, name="daemon")  # the default grace: 30 s
    wait_for(lambda: query(env, "SELECT pid FROM scheduler_lease") == [(daemon.pid,)], what="the lease")
    run_id = run_now(env, "endless")
    streaming(env, run_id)
    log = Path(daemon.log_path)  # type: ignore[attr-defined]
    daemon.send_signal(signal.SIGINT)
    wait_for(lambda: "state=stopping " in log.read_text(), what="the stopping line")
    [stopping] = [line for line in log.read_text().splitlines() if "state=stopping " in line]
    assert f"waiting_for=#{run_id} endless (running " in stopping and "grace_s=30 " in stopping
    assert "ctrl+c again" in stopping
    time.sleep(1.0)
    assert daemon.poll() is None and status_of(env, run_id) == "running"  # within its grace: it waits
    t0 = time.monotonic()
    daemon.send_signal(signal.SIGINT)
    assert daemon.wait(timeout=30) == 0
    print(f"second ctrl+c to process gone: {time.monotonic() - t0:.2f} s")
    [(status, error)] = query(env, "SELECT status, error FROM runs WHERE id = ?", (run_id,))
    assert (status, error) == ("interrupted", "the scheduler stopped before the run finished")
    assert f"state=stopping-now signal=SIGINT interrupting=#{run_id} endless" in log.read_text()


def test_a_tool_call_flood_is_capped_and_another_jobs_slots_keep_running(
    env: dict[str, str], procs: Processes, model_url: str
):
    add_tick(env)
    add_agent(env, "flood", model_url, "tool-flood", "10m")
    daemon = procs.spawn("daemon", "--grace", "1", env=env, name="daemon")
    wait_for(lambda: query(env, "SELECT pid FROM scheduler_lease") == [(daemon.pid,)], what="the lease")
    wait_for(lambda: tick_lateness(env, 0, now_ms())[0].count("succeeded") >= 2, what="ticks")
    memory = Memory(daemon.pid)
    t0 = now_ms()
    run_id = run_now(env, "flood")
    wait_for(lambda: status_of(env, run_id) not in ("pending", "running"), timeout=120, what="the flood's end")
    time.sleep(2.5)  # the tick slots due at the flood's end have started
    peak = memory.stop()
    [(status, error, calls_json, milestones_json, duration, started)] = query(
        env, "SELECT status, error, tool_calls, milestones, duration_ms, started_at FROM runs WHERE id = ?", (run_id,)
    )
    statuses, late = tick_lateness(env, t0 + 1000, started + duration)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    calls = json.loads(calls_json)
    [capped] = [m["data"] for m in json.loads(milestones_json) if m["name"] == "tool-calls-capped"]
    figures = {
        "flood run: duration s": round(duration / 1000, 2),
        "flood run: tool_calls column KiB": round(len(calls_json) / 1024, 1),
        "flood run: tool-calls-capped": capped,
        "daemon RSS peak MiB": peak,
        "tick slots during the flood (succeeded of due)": f"{statuses.count('succeeded')} of {len(statuses)}",
        "tick lateness ms (median, max)": [late[len(late) // 2], late[-1]] if late else None,
    }
    print("tool-call flood figures:", *(f"{k}: {v}" for k, v in figures.items()), sep="\n  ")

    assert status == "failed" and error.startswith("the reply ended in tool calls and no text: write_file(")
    assert capped["calls"] == 100_001 and capped["kept"] == len(calls) == 128 and capped["arguments_cut"] == 1
    assert calls[0]["arguments_chars"] > 60 * MiB
    assert len(calls_json) < MiB
    assert statuses and statuses == ["succeeded"] * len(statuses)  # no slot missed
    assert peak < 300
