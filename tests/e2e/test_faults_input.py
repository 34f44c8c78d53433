"""Bad input and hostile output through the real CLI (`python -m cronui` as a subprocess): every bad number,
name, URL or header is one line on stderr, exit code 2, no traceback, and the database unchanged; escape
sequences a job prints never reach the terminal raw (but `runs logs --raw` keeps them); a reader that goes
away (`| head -1`) ends the command quietly."""

from __future__ import annotations

import os
import selectors
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIG = "9" * 400
HUGE = "9" * 5000


def cronui(env: dict[str, str], *argv: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cronui", *argv],
        env={**env, **extra_env},
        cwd=Path(env["CRONUI_DB"]).parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def snapshot(env: dict[str, str]) -> list[list[tuple]]:
    con = sqlite3.connect(env["CRONUI_DB"])
    try:
        return [con.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in ("jobs", "runs", "run_events")]
    finally:
        con.close()


def sql(env: dict[str, str], statement: str, params: tuple = ()) -> int | None:
    con = sqlite3.connect(env["CRONUI_DB"])
    try:
        cur = con.execute(statement, params)
        con.commit()
        return cur.lastrowid
    finally:
        con.close()


@pytest.fixture
def db(env: dict[str, str]) -> dict[str, str]:
    """The e2e environment with one good job in its database."""
    res = cronui(env, "jobs", "add", "good", "--schedule", "@daily", "--shell", "true")
    assert res.returncode == 0, res.stderr
    return env


ADD = ["jobs", "add", "n", "--schedule", "@daily"]
AGENT = [*ADD, "--agent", "http://127.0.0.1:9/v1", "--model", "m", "--message", "hi"]
JOB = '[[job]]\nname = "f"\nschedule = "@daily"\n'
CASES: list[tuple[str, list[str], dict[str, str], str | None, str]] = [
    # id, argv, environment, job file text (written to f.toml), what stderr says
    ("grace-400-digits", [*ADD, "--shell", "true", "--misfire-grace", BIG], {}, None, "--misfire-grace: expected at"),
    ("timeout-400d", [*ADD, "--shell", "true", "--timeout", "400d"], {}, None, "--timeout: expected at most 366d"),
    ("retries-5000-digits", [*ADD, "--shell", "true", "--retries", HUGE], {}, None, "--retries: expected 0 to 100"),
    ("name-newline", ["jobs", "add", "n\n", "--schedule", "@daily", "--shell", "true"], {}, None, "name: 'n\\n'"),
    ("url-no-host", [*ADD, "--http", "http://"], {}, None, "http: 'http://' has no host"),
    ("header-crlf", [*ADD, "--http", "https://e.com", "--header", "X: a\r\nB: c"], {}, None, "header: X: the value"),
    ("temperature-nan", [*AGENT, "--temperature", "nan"], {}, None, "--temperature: expected a finite number"),
    ("temperature-3", [*AGENT, "--temperature", "3"], {}, None, "--temperature: expected a number from 0 to 2"),
    ("edit-grace", ["jobs", "edit", "good", "--misfire-grace", BIG], {}, None, "--misfire-grace: expected at most"),
    ("file-1e306", ["apply", "f.toml"], {}, JOB + 'shell = "true"\ntimeout = 1e306\n', "timeout: expected at most"),
    ("file-nan", ["apply", "f.toml"], {}, JOB + 'shell = "true"\nretry_delay = nan\n', "retry_delay: expected a fini"),
    ("file-huge-int", ["apply", "f.toml"], {}, JOB + f'shell = "true"\nretries = {HUGE}\n', "number is too long"),
    ("env-lease-inf", ["jobs", "list"], {"CRONUI_LEASE_TTL": "inf"}, None, "CRONUI_LEASE_TTL: lease.ttl: expected"),
    ("env-timeout-nan", ["jobs", "list"], {"CRONUI_DEFAULT_TIMEOUT": "nan"}, None, "default_timeout: expected a"),
    ("env-grace-nan", [*ADD, "--shell", "true"], {"CRONUI_MISFIRE_GRACE": "nan"}, None, "misfire_grace: expected a"),
    ("env-retention", ["jobs", "list"], {"CRONUI_RETENTION_DAYS": "1e400"}, None, "retention.days: expected a fini"),
    ("env-kill-grace", ["jobs", "list"], {"CRONUI_KILL_GRACE": BIG}, None, "kill_grace: expected at most 366d"),
    ("config-inf", ["jobs", "list"], {"CRONUI_CONFIG": "bad.toml"}, None, "bad.toml: lease.renew: expected a finite"),
]


@pytest.mark.parametrize(("argv", "extra_env", "jobfile", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_no_traceback_and_changes_nothing(
    db: dict[str, str], argv: list[str], extra_env: dict[str, str], jobfile: str | None, message: str
) -> None:
    folder = Path(db["CRONUI_DB"]).parent
    (folder / "bad.toml").write_text("[lease]\nrenew = nan\n")
    if jobfile is not None:
        (folder / "f.toml").write_text(jobfile)
    before = snapshot(db)
    res = cronui(db, *argv, **extra_env)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == ""
    assert len(res.stderr.splitlines()) == 1, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert snapshot(db) == before


def test_a_job_stored_with_an_overflowing_duration_is_reported_not_crashed_on(db: dict[str, str]) -> None:
    sql(db, "UPDATE jobs SET misfire_grace_s = 1e306 WHERE name = 'good'")
    before = snapshot(db)
    listed = cronui(db, "jobs", "list")
    assert listed.returncode == 0 and "good" in listed.stdout and listed.stderr == ""
    shown = cronui(db, "jobs", "show", "good")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    assert "misfire-grace: expected at most 366d, got 1e+306s (a stored value" in shown.stderr
    exported = cronui(db, "export")
    assert (exported.returncode, exported.stdout) == (2, "")
    assert "Traceback" not in exported.stderr
    assert exported.stderr.splitlines()[0].startswith("cronui: job 'good': misfire-grace: expected at most 366d")
    assert snapshot(db) == before
    fixed = cronui(db, "jobs", "edit", "good", "--misfire-grace", "5m")
    assert fixed.returncode == 0, fixed.stderr
    assert cronui(db, "export").returncode == 0


HOSTILE = r"printf '\033]0;pwned\007\033[31mred\033[0m\n'; printf '\033[2J\033[Hgone\n' >&2; exit 3"


def test_escape_sequences_a_job_prints_are_neutralised_in_every_cli_view(db: dict[str, str]) -> None:
    tail = subprocess.Popen(
        [sys.executable, "-m", "cronui", "runs", "tail"], env=db, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert cronui(db, "jobs", "add", "loud", "--schedule", "@daily", "--shell", HOSTILE).returncode == 0
        tailed = b""
        for _ in range(3):  # the tail starts at the end of the event log: a run before it is ready goes unseen
            ran = cronui(db, "jobs", "run", "loud", "--wait")
            assert ran.returncode == 1, ran.stderr
            assert "\x1b" not in ran.stdout + ran.stderr and "^[]0;pwned^G^[[31mred^[[0m" in ran.stdout
            tailed += read_until(tail, b"^[[2J^[[Hgone", timeout=5)
            if b"^[[2J^[[Hgone" in tailed:
                break
        assert b"^[[2J^[[Hgone" in tailed, tailed
    finally:
        tail.kill()
        tail.wait()
    assert b"\x1b" not in tailed and b"\x07" not in tailed
    run_id = max(row[0] for row in snapshot(db)[1])
    shown = cronui(db, "runs", "show", str(run_id))
    assert shown.returncode == 0 and "\x1b" not in shown.stdout + shown.stderr
    assert "^[]0;pwned^G^[[31mred^[[0m" in shown.stdout and "^[[2J^[[Hgone" in shown.stdout
    logs = cronui(db, "runs", "logs", str(run_id))
    assert (logs.stdout, logs.stderr) == ("^[]0;pwned^G^[[31mred^[[0m\n", "^[[2J^[[Hgone\n")
    raw = cronui(db, "runs", "logs", str(run_id), "--raw")
    assert (raw.stdout, raw.stderr) == ("\x1b]0;pwned\x07\x1b[31mred\x1b[0m\n", "\x1b[2J\x1b[Hgone\n")
    sql(db, "UPDATE runs SET error = ? WHERE id = ?", ("exit 3 \x1b[2J\x9b31m", run_id))
    listed = cronui(db, "runs", "list")
    assert listed.returncode == 0 and "exit 3 ^[[2J\\x9b31m" in listed.stdout
    assert not any(c in listed.stdout for c in "\x1b\x9b")


def read_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float) -> bytes:
    """What `proc` writes to stdout until `needle` appears or the time is up."""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got and time.monotonic() < deadline:
        if sel.select(timeout=0.2):
            got += proc.stdout.read() or b""
    return got


def test_runs_list_into_head_ends_quietly(db: dict[str, str]) -> None:
    job_id = snapshot(db)[0][0][0]
    con = sqlite3.connect(db["CRONUI_DB"])
    try:  # more lines than a pipe holds, so the writer meets the closed pipe
        con.executemany(
            "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, error) VALUES (?, 'manual', ?, "
            "'failed', ?, 'exited with code 1')",
            [(job_id, i, i) for i in range(3000)],
        )
        con.commit()
    finally:
        con.close()
    cmd = f'{sys.executable} -m cronui runs list --limit 3000 | head -2; echo "exit=${{PIPESTATUS[0]}}"'
    res = subprocess.run(["bash", "-c", cmd], env=db, capture_output=True, text=True, timeout=60)
    lines = res.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("RUN ") and lines[1].startswith("#3000 "), res.stdout
    assert lines[2] == "exit=141"  # as a process that SIGPIPE ends
    assert res.stderr == ""

    # a reader gone before the first line is written
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        argv = [sys.executable, "-m", "cronui", "runs", "list"]
        done = subprocess.run(argv, env=db, stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, b"")
