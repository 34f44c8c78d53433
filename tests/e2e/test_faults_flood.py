"""A flooding job stays that job's fault: a real daemon runs a job printing milestone lines without end
next to an every-second job. The every-second job keeps every slot, the daemon's memory and the flooding
run's row and events stay bounded, and SIGTERM ends the daemon within its grace."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.processes import cronui, query, wait_for

FLOOD_S = 8.0  # how long the flood runs next to the every-second job
GRACE_S = 1.0  # the daemon's --grace
CAP = 200  # milestones a run's output may report (cronui.engine.executors.base.MILESTONE_CAP)


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in kB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Vm")
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def test_a_flooding_job_leaves_the_schedule_memory_and_shutdown_alone(env: dict[str, str], tmp_path: Path):
    # a million milestone lines at full speed, then more without end
    flood = (
        "yes '::milestone step key=value::' | head -n 1000000; echo '--- a million ---'; yes '::milestone more k=v::'"
    )
    cronui(env, "jobs", "add", "flood", "--schedule", "@yearly", "--shell", flood)
    tick_opts = ("--misfire", "skip", "--misfire-grace", "2s")  # a slot more than 2 s late is recorded missed
    cronui(env, "jobs", "add", "tick", "--schedule", "every 1s", "--shell", "true", *tick_opts)
    log = open(tmp_path / "daemon.log", "w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "cronui", "daemon", "--grace", str(GRACE_S)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: query(env, "SELECT pid FROM scheduler_lease") == [(daemon.pid,)], what="the lease")
        wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0] >= 2, what="ticks")
        rss_before = rss_kb(daemon.pid)[0]
        cronui(env, "jobs", "run", "flood")
        wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status = 'running'")[0][0] >= 1, what="flood")
        t0 = time.time()
        rss_peak = 0
        while time.time() - t0 < FLOOD_S:
            rss_peak = max(rss_peak, rss_kb(daemon.pid)[0])
            time.sleep(0.2)
        window = (int(t0 * 1000) + 1000, int(time.time() * 1000) - 1500)  # slots due (and startable) meanwhile
        holder = query(env, "SELECT pid FROM scheduler_lease")
        t_term = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
        term_s = time.monotonic() - t_term
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    hwm = rss_peak  # the daemon has exited: its own high-water mark was sampled above

    tick = query(
        env,
        "SELECT r.scheduled_for, r.status, r.started_at FROM runs r JOIN jobs j ON j.id = r.job_id"
        " WHERE j.name = 'tick' AND r.scheduled_for BETWEEN ? AND ? ORDER BY r.scheduled_for",
        window,
    )
    expected_slots = (window[1] // 1000) - ((window[0] + 999) // 1000) + 1
    late_ms = sorted(started - slot for slot, status, started in tick if started is not None)
    [(flood_id, status, milestones_len, output_len, milestones_json)] = query(
        env,
        "SELECT r.id, r.status, length(r.milestones), length(r.output), r.milestones FROM runs r"
        " JOIN jobs j ON j.id = r.job_id WHERE j.name = 'flood'",
    )
    events = query(env, "SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM run_events WHERE run_id = ?", (flood_id,))
    milestones = json.loads(milestones_json)
    dropped = next((m["data"] for m in milestones if m["name"] == "milestones-dropped"), {"dropped": 0, "kept": None})
    figures = {
        "tick slots in the flood window": expected_slots,
        "tick runs succeeded in it": sum(status == "succeeded" for _, status, _ in tick),
        "tick lateness ms (median, max)": [late_ms[len(late_ms) // 2], late_ms[-1]] if late_ms else None,
        "daemon RSS MB (before, peak during flood)": [round(rss_before / 1024, 1), round(hwm / 1024, 1)],
        "flood run: milestones kept, dropped": [len(milestones), dropped["dropped"]],
        "flood run row: milestones bytes, output bytes": [milestones_len, output_len],
        "flood run: event rows, event data bytes": list(events[0]),
        "SIGTERM to exit s": round(term_s, 2),
    }
    print("flood figures:", json.dumps(figures, indent=1))

    assert holder == [(daemon.pid,)]  # the flood never cost the daemon its lease
    assert code == 0 and status == "interrupted"
    assert [s for _, s, _ in tick] == ["succeeded"] * expected_slots  # every slot, none skipped as missed
    assert dropped["dropped"] > 1_000_000 - CAP and dropped["kept"] == CAP
    assert len(milestones) == CAP + 2 and milestones_len < 64 * 1024  # process-started + CAP + dropped
    assert events[0][0] < CAP + 4200  # milestones, output events (capped), started, finished
    assert hwm < 200 * 1024  # kB
    assert term_s < GRACE_S + 10
    shown = cronui(env, "runs", "show", str(flood_id)).stdout
    line = f"milestones-dropped {dropped['dropped']:,} more reported by the output, not kept (the first {CAP} are)"
    assert line in shown
