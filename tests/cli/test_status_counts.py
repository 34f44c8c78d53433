"""`cronui status` counts runs in the database (every one, without loading them); `runs list` pages."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.helpers import cli


def test_status_counts_every_running_pending_and_waiting_run(capsys, cli_db: Path):
    code, _, err = cli(capsys, "jobs", "add", "busy", "--schedule", "@yearly", "--shell", "true")
    assert code == 0, err
    con = sqlite3.connect(cli_db)
    job_id = con.execute("SELECT id FROM jobs WHERE name = 'busy'").fetchone()[0]
    rows = [("running", 10_001), ("pending", 100_001), ("awaiting_approval", 3)]  # past the caps of old
    for status, n in rows:
        con.executemany(
            "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, output) "
            "VALUES (?, 'manual', ?, ?, ?, ?)",
            ((job_id, i, status, i, "x" * 100) for i in range(n)),
        )
    con.commit()
    con.close()
    code, out, err = cli(capsys, "status", "--json")
    assert code == 1 and err == ""  # 1: no scheduler runs
    data = json.loads(out)
    assert (data["running"], data["pending"], data["awaiting_approval"]) == (10_001, 100_001, 3)


def test_runs_list_takes_up_to_100000_and_before_pages_back(capsys, cli_db: Path):
    code, _, err = cli(capsys, "jobs", "add", "many", "--schedule", "@yearly", "--shell", "true")
    assert code == 0, err
    code, out, err = cli(capsys, "runs", "list", "--limit", "100001")
    assert (code, out, err) == (2, "", "cronui: --limit: expected 1 to 100000, got 100001\n")
    con = sqlite3.connect(cli_db)
    con.executemany(
        "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at) VALUES (1, 'manual', ?, 'succeeded', ?)",
        ((i, i) for i in range(1_002)),
    )
    con.commit()
    con.close()
    code, out, err = cli(capsys, "runs", "list", "--limit", "1000", "--json")
    page = json.loads(out)
    assert code == 0 and len(page) == 1_000
    code, out, err = cli(capsys, "runs", "list", "--limit", "1000", "--before", str(page[-1]["id"]), "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [2, 1]
