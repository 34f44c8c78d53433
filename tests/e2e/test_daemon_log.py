"""The daemon's event log on stdout: a stalled reader never freezes the scheduler, and a run's output
is cut on its log lines."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.processes import cronui, query, wait_for

FLOOD = "head -c 300000 /dev/zero | tr '\\\\0' a"  # 300,000 characters of output, in big pieces


def test_a_stalled_stdout_never_holds_the_scheduler_nor_sigterm(env, tmp_path: Path):
    cronui(env, "jobs", "add", "flood", "--schedule", "every 1s", "--shell", FLOOD)
    # stdout is a pipe nobody reads: once its buffer (64 KiB) is full, every write to it blocks
    d = subprocess.Popen([sys.executable, "-m", "cronui", "daemon"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        # before: the first output event blocked the loop on the full pipe, and no second run ever finished
        wait_for(lambda: query(env, "SELECT COUNT(*) FROM runs WHERE status='succeeded'")[0][0] >= 3, timeout=60)
        d.send_signal(signal.SIGTERM)
        out, _ = d.communicate(timeout=60)  # reading now lets the writer finish
    finally:
        if d.poll() is None:
            d.kill()
            d.wait()
    assert d.returncode == 0
    lines = [json.loads(line) for line in out.splitlines()]
    outputs = [e for e in lines if e["event"] == "output"]
    assert outputs and all(len(e["text"]) < 4200 for e in outputs)
    assert any("more characters not shown in the log" in e["text"] for e in outputs)
    assert lines[-1]["event"] == "scheduler" and lines[-1]["state"] == "stopped"
