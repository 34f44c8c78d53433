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
DEEP = "[" * 5000 + "]" * 5000 + "\n"  # nested 5,000 deep: tomllib and json recurse into it


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
    # texts: NUL where exec, the environment, a path or a URL would meet it; sizes; ${env:} references
    ("file-deep-5000", ["apply", "f.toml"], {}, JOB + 'shell = "true"\ntags = ' + DEEP, "f.toml: invalid TOML: it"),
    ("file-nul-command", ["apply", "f.toml"], {}, JOB + 'shell = "echo a\\u0000b"\n', "shell: holds a NUL character"),
    ("file-nul-cwd", ["apply", "f.toml"], {}, JOB + 'shell = "true"\ncwd = "/tmp\\u0000"\n', "cwd: holds a NUL"),
    ("file-nul-env", ["apply", "f.toml"], {}, JOB + 'shell = "true"\nenv = { A = "x\\u0000" }\n', "env: A: the value"),
    ("file-nul-url", ["apply", "f.toml"], {}, JOB + 'http = { url = "${env:U}\\u0000" }\n', "http.url: holds a NUL"),
    ("file-20mb-command", ["apply", "f.toml"], {}, JOB + f'shell = "{"a" * 20_000_000}"\n', "shell: is 20,000,000"),
    (
        "file-1mb-schedule",
        ["apply", "f.toml"],
        {},
        '[[job]]\nname = "f"\nshell = "true"\nschedule = "*/5 ' + "1," * 500_000 + '1 * * *"\n',
        "schedule: is 1,000,011 bytes long; at most 1 KiB",
    ),
    (
        "file-100k-tags",
        ["apply", "f.toml"],
        {},
        JOB + 'shell = "true"\ntags = [' + '"t",' * 100_000 + "]\n",
        "tags: 100,000 tags; at most 64",
    ),
    (
        "file-body-unclosed",
        ["apply", "f.toml"],
        {},
        JOB + 'http = { url = "https://e.com", body = "${env:B" }\n',
        "job 'f': body: the reference '${env:B' is never closed",
    ),
    ("env-unclosed", [*ADD, "--shell", "true", "--env", "A=${env:B"], {}, None, "env: A: the reference '${env:B' is"),
    ("env-empty-ref", [*ADD, "--shell", "true", "--env", "A=${env:}"], {}, None, "'${env:}' does not name a variable"),
    ("header-unclosed", [*ADD, "--http", "https://e.com", "--header", "X: ${env:A"], {}, None, "header: X: the ref"),
    ("url-bad-ref", [*ADD, "--http", "https://e.com/${env:1X}"], {}, None, "http: the reference '${env:1X}' does"),
    ("deliver-bad-ref", [*ADD, "--shell", "true", "--deliver-to", "${env:A"], {}, None, "deliver-to: the reference"),
    ("ref-in-command", [*ADD, "--shell", "echo ${env:A}"], {}, None, "shell: holds ${env:...}, which is resolved in"),
    ("gate-nul-and-huge", [*AGENT, "--gate", "x" * 70_000], {}, None, "gate: is 70,000 bytes long; at most 64 KiB"),
    ("description-escape", [*ADD, "--shell", "true", "--description", "a\x1b[2J"], {}, None, "description: holds a"),
    ("tag-100-bytes", [*ADD, "--shell", "true", "--tag", "t" * 100], {}, None, "is 100 bytes long; at most 64 bytes"),
    (
        "schedule-80kb",
        ["jobs", "add", "n", "--schedule", "*/5 " + "1," * 40_000 + "1 * * *", "--shell", "true"],
        {},
        None,
        "schedule: is 80,011 bytes long; at most 1 KiB",
    ),
    ("header-9kb", [*ADD, "--http", "https://e.com", "--header", "X: " + "v" * 9000], {}, None, "header: X: is 9,00"),
    ("retries-1e9", [*ADD, "--shell", "true", "--retries", "1000000000"], {}, None, "--retries: expected 0 to 100"),
    ("retry-delay-negative", [*ADD, "--shell", "true", "--retry-delay=-5s"], {}, None, "--retry-delay:"),
    ("timeout-1e308", [*ADD, "--shell", "true", "--timeout", "1e308"], {}, None, "--timeout: expected a duration"),
    ("config-deep", ["jobs", "list"], {"CRONUI_CONFIG": "deep.toml"}, None, "deep.toml: invalid TOML: it nests"),
    (
        "config-db-nul",
        ["jobs", "list"],
        {"CRONUI_CONFIG": "nul.toml"},
        None,
        "nul.toml: db: 'x\\x00.db' holds a control",
    ),
]


@pytest.mark.parametrize(("argv", "extra_env", "jobfile", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_no_traceback_and_changes_nothing(
    db: dict[str, str], argv: list[str], extra_env: dict[str, str], jobfile: str | None, message: str
) -> None:
    folder = Path(db["CRONUI_DB"]).parent
    (folder / "bad.toml").write_text("[lease]\nrenew = nan\n")
    (folder / "deep.toml").write_text("x = " + DEEP)
    (folder / "nul.toml").write_text('db = "x\\u0000.db"\n')
    if jobfile is not None:
        (folder / "f.toml").write_text(jobfile)
    before = snapshot(db)
    res = cronui(db, *argv, **extra_env)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == ""
    assert len(res.stderr.splitlines()) == 1, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert snapshot(db) == before


def test_a_json_job_file_nested_5000_deep_is_one_line_exit_2(db: dict[str, str]) -> None:
    folder = Path(db["CRONUI_DB"]).parent
    entry = '{"name": "f", "schedule": "@daily", "shell": "true", "tags": ' + DEEP + "}"
    (folder / "f.json").write_text('{"job": [' + entry + "]}")
    before = snapshot(db)
    res = cronui(db, "apply", "f.json")
    assert (res.returncode, res.stdout) == (2, "")
    assert res.stderr == "cronui: f.json: invalid JSON: it nests arrays or tables more than 32 levels deep\n"
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
