"""Job files: `cronui apply`, `cronui export`, and what they promise — validate all before writing,
one transaction, idempotent, --prune only this file's jobs, export -> apply -> export round trips."""

from __future__ import annotations

import json
import sqlite3
import tomllib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control
from cronui.jobfile import JobFile, dump_json, dump_toml, load_entries, parse_text, plan_apply, view
from cronui.model import Job, MisfirePolicy, OverlapPolicy, TargetKind
from cronui.model.params import PARAM_TYPES, ParamDecl
from cronui.schedule.calendars import Calendar
from cronui.schedule.multi import join_specs
from cronui.store.sqlite import SQLiteStore
from cronui.timefmt import duration_spec
from tests.helpers import cli, live_jobs, ms


def jobs_rows(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    finally:
        con.close()


def event_count(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM run_events").fetchone()[0]
    finally:
        con.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def daily(name: str, *more: str) -> str:
    """A `[[job]]` table: job `name` runs `true` daily, with the lines `more` added."""
    return "".join(
        f"{line}\n" for line in ("[[job]]", f'name = "{name}"', 'schedule = "@daily"', 'shell = "true"', *more)
    )


BASIC = """\
[[job]]
name = "backup"
schedule = "30 2 * * *"
timezone = "Europe/Berlin"
shell = "restic backup ~"
env = { RESTIC_PASSWORD = "${env:RESTIC_PASSWORD}" }
timeout = "2h"
retries = 2

[[job]]
name = "health"
schedule = "every 5m"
http = { url = "https://example.com/health", expect_status = 200 }
on_failure = ["backup"]

[[job]]
name = "digest"
schedule = "0 9 * * 1-5"
agent = { base_url = "http://127.0.0.1:11434/v1", model = "llama3", message = "Digest for {job}" }
deliver_to = "${env:SLACK_WEBHOOK}"
deliver_format = "slack"
"""


# ---------------------------------------------------------------- apply


def test_apply_creates_the_jobs_with_the_file_as_their_source(capsys, cli_db, tmp_path):
    write(tmp_path / "jobs.toml", BASIC)
    code, out, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    assert out.splitlines() == [
        '+ backup  shell "30 2 * * *" (Europe/Berlin): restic backup ~',
        '+ health  http "every 5m" (UTC): GET https://example.com/health',
        '+ digest  agent "0 9 * * 1-5" (UTC): llama3 @ http://127.0.0.1:11434/v1',
        "applied jobs.toml: 3 added, 0 changed, 0 removed, 0 unchanged",
    ]
    jobs = live_jobs(cli_db)
    assert set(jobs) == {"backup", "health", "digest"}
    assert {j["source"] for j in jobs.values()} == {f"file:{tmp_path / 'jobs.toml'}"}
    backup = jobs["backup"]
    assert json.loads(backup["target"]) == {
        "command": "restic backup ~",
        "cwd": None,
        "env": {"RESTIC_PASSWORD": "${env:RESTIC_PASSWORD}"},
    }
    assert (backup["timeout_s"], backup["max_retries"], backup["timezone"]) == (7200, 2, "Europe/Berlin")
    assert jobs["health"]["timezone"] == "UTC"  # no timezone in the file: the settings' zone, stored explicitly
    assert json.loads(jobs["health"]["target"]) == {
        "url": "https://example.com/health",
        "method": "GET",
        "headers": {},
        "body": None,
        "expect_status": 200,
        "expect_body": None,
    }
    assert json.loads(jobs["health"]["on_failure"]) == ["backup"]
    assert json.loads(jobs["digest"]["delivery"]) == {"mode": "always", "to": "${env:SLACK_WEBHOOK}", "format": "slack"}
    agent = json.loads(jobs["digest"]["target"])
    assert agent["conversation"] == "isolated" and agent["api_key_env"] is None


def test_applying_the_same_file_twice_changes_nothing(capsys, cli_db, tmp_path):
    write(tmp_path / "jobs.toml", BASIC)
    assert cli(capsys, "apply", "jobs.toml")[0] == 0
    before, events = jobs_rows(cli_db), event_count(cli_db)
    code, out, _ = cli(capsys, "apply", "jobs.toml")
    assert code == 0
    assert out == "jobs.toml: no changes (3 jobs up to date)\n"
    assert jobs_rows(cli_db) == before  # not even updated_at moved
    assert event_count(cli_db) == events  # no job_updated events


def test_dry_run_prints_the_diff_and_writes_nothing(capsys, cli_db, tmp_path):
    write(tmp_path / "jobs.toml", BASIC)
    cli(capsys, "apply", "jobs.toml")
    changed = (
        BASIC.replace('schedule = "30 2 * * *"', 'schedule = "0 3 * * *"')
        .replace('timeout = "2h"', 'timeout = "90m"\ncwd = "/srv"')
        .replace("expect_status = 200 }", 'expect_status = 204, headers = { Authorization = "Bearer abc123" } }')
        .replace('deliver_format = "slack"\n', "")
    )
    changed = changed[: changed.index('[[job]]\nname = "digest"')] + (
        '[[job]]\nname = "cleanup"\nschedule = "@hourly"\nshell = "find /tmp -mtime +7 -delete"\n'
    )
    write(tmp_path / "jobs.toml", changed)
    before, events = jobs_rows(cli_db), event_count(cli_db)
    code, out, err = cli(capsys, "apply", "jobs.toml", "--dry-run", "--prune")
    assert code == 0, err
    assert out.splitlines() == [
        '+ cleanup  shell "@hourly" (UTC): find /tmp -mtime +7 -delete',
        "~ backup",
        '    schedule: "30 2 * * *" → "0 3 * * *"',
        '    cwd: (unset) → "/srv"',
        "    timeout: 2h → 90m",
        "~ health",
        "    http.headers.Authorization: (unset) → ••••••••",
        "    http.expect_status: 200 → 204",
        "- digest",
        "dry run: 1 to add, 2 to change, 1 to remove, 0 unchanged; nothing written",
    ]
    assert jobs_rows(cli_db) == before and event_count(cli_db) == events
    # and then for real: the same diff, and the state it described
    code, out, _ = cli(capsys, "apply", "jobs.toml", "--prune")
    assert out.splitlines()[-1] == "applied jobs.toml: 1 added, 2 changed, 1 removed, 0 unchanged"
    jobs = live_jobs(cli_db)
    assert set(jobs) == {"backup", "health", "cleanup"}
    assert (jobs["backup"]["schedule"], jobs["backup"]["timeout_s"]) == ("0 3 * * *", 5400)
    assert cli(capsys, "apply", "jobs.toml", "--prune")[1] == "jobs.toml: no changes (3 jobs up to date)\n"


def test_apply_json_lists_the_changes(capsys, cli_db, tmp_path):
    write(tmp_path / "jobs.toml", BASIC)
    cli(capsys, "apply", "jobs.toml")
    write(tmp_path / "jobs.toml", BASIC.replace("retries = 2", "retries = 3"))
    code, out, _ = cli(capsys, "apply", "jobs.toml", "--dry-run", "--json")
    assert code == 0
    assert json.loads(out) == {
        "file": str(tmp_path / "jobs.toml"),
        "dry_run": True,
        "changed": True,
        "added": [],
        "updated": [{"name": "backup", "adopted_from": None, "changes": [{"key": "retries", "old": 2, "new": 3}]}],
        "removed": [],
        "stale": [],
        "unchanged": 2,
    }


def test_a_job_without_timezone_moved_to_another_machine_shows_the_zone_change(capsys, cli_db, tmp_path, monkeypatch):
    write(tmp_path / "jobs.toml", daily("n"))
    cli(capsys, "apply", "jobs.toml")
    monkeypatch.setenv("CRONUI_TIMEZONE", "Europe/Berlin")
    code, out, _ = cli(capsys, "apply", "jobs.toml", "--dry-run")
    assert code == 0
    assert out.splitlines() == [
        "~ n",
        '    timezone: "UTC" → "Europe/Berlin"  (the file sets no timezone: this machine\'s default zone)',
        "dry run: 0 to add, 1 to change, 0 to remove, 0 unchanged; nothing written",
    ]


def test_prune_removes_only_this_files_jobs(capsys, cli_db, tmp_path):
    two = daily("a1") + daily("a2")
    write(tmp_path / "a.toml", two)
    write(tmp_path / "b.toml", daily("b1"))
    cli(capsys, "apply", "a.toml")
    cli(capsys, "apply", "b.toml")
    cli(capsys, "jobs", "add", "c1", "--schedule", "@daily", "--shell", "true")
    write(tmp_path / "a.toml", daily("a1"))
    # without --prune the job dropped from the file is kept, and said so
    code, out, _ = cli(capsys, "apply", "a.toml")
    assert out.splitlines() == [
        "! a2  (no longer in a.toml; kept: --prune removes it)",
        "a.toml: no changes (1 jobs up to date)",
    ]
    assert set(live_jobs(cli_db)) == {"a1", "a2", "b1", "c1"}
    code, out, _ = cli(capsys, "apply", "a.toml", "--prune")
    assert out.splitlines() == ["- a2", "applied a.toml: 0 added, 0 changed, 1 removed, 1 unchanged"]
    assert set(live_jobs(cli_db)) == {"a1", "b1", "c1"}
    # an emptied file with --prune removes all of its jobs, and nothing else
    write(tmp_path / "a.toml", "")
    code, out, _ = cli(capsys, "apply", "a.toml", "--prune")
    assert code == 0 and out.splitlines() == ["- a1", "applied a.toml: 0 added, 0 changed, 1 removed, 0 unchanged"]
    assert set(live_jobs(cli_db)) == {"b1", "c1"}


def test_prune_refuses_to_remove_a_job_another_job_chains_to(capsys, cli_db, tmp_path):
    write(tmp_path / "a.toml", daily("target"))
    cli(capsys, "apply", "a.toml")
    cli(capsys, "jobs", "add", "user", "--schedule", "@daily", "--shell", "true", "--on-success", "target")
    write(tmp_path / "a.toml", "")
    before = jobs_rows(cli_db)
    code, out, err = cli(capsys, "apply", "a.toml", "--prune")
    assert code == 2 and out == ""
    assert err == (
        "cronui: a.toml: --prune: cannot remove 'target': job 'user' (from cli) chains to it; edit that job first\n"
    )
    assert jobs_rows(cli_db) == before


def test_a_job_made_elsewhere_is_adopted_and_then_belongs_to_the_file(capsys, cli_db, tmp_path):
    cli(capsys, "jobs", "add", "report", "--schedule", "0 9 * * *", "--shell", "./report.sh")
    write(tmp_path / "jobs.toml", '[[job]]\nname = "report"\nschedule = "0 9 * * *"\nshell = "./report.sh"\n')
    _, out, _ = cli(capsys, "apply", "jobs.toml")
    assert out.splitlines() == [
        "~ report  (adopted from cli: from now on it belongs to this file)",
        "applied jobs.toml: 0 added, 1 changed (1 adopted), 0 removed, 0 unchanged",
    ]
    assert live_jobs(cli_db)["report"]["source"] == f"file:{tmp_path / 'jobs.toml'}"
    write(tmp_path / "jobs.toml", "")
    _, out, _ = cli(capsys, "apply", "jobs.toml", "--prune")
    assert out.splitlines()[0] == "- report" and live_jobs(cli_db) == {}


def test_leaving_enabled_out_keeps_a_job_switched_off_elsewhere(capsys, cli_db, tmp_path):
    write(tmp_path / "jobs.toml", daily("n"))
    cli(capsys, "apply", "jobs.toml")
    cli(capsys, "jobs", "disable", "n")
    assert cli(capsys, "apply", "jobs.toml")[1] == "jobs.toml: no changes (1 jobs up to date)\n"
    assert live_jobs(cli_db)["n"]["enabled"] == 0
    write(tmp_path / "jobs.toml", daily("n", "enabled = true"))
    _, out, _ = cli(capsys, "apply", "jobs.toml")
    assert out.splitlines()[:2] == ["~ n", "    enabled: false → true"]
    assert live_jobs(cli_db)["n"]["enabled"] == 1 and live_jobs(cli_db)["n"]["next_run_at"] is not None


def test_an_at_body_file_is_relative_to_the_job_file(capsys, cli_db, tmp_path):
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf" / "body.json", "{}")
    write(
        tmp_path / "conf" / "jobs.toml",
        '[[job]]\nname = "post"\nschedule = "@daily"\n'
        'http = { url = "https://example.com/hook", method = "post", body = "@body.json" }\n',
    )
    code, _, err = cli(capsys, "apply", "conf/jobs.toml")
    assert code == 0, err
    target = json.loads(live_jobs(cli_db)["post"]["target"])
    assert (target["method"], target["body"]) == ("POST", f"@{tmp_path / 'conf' / 'body.json'}")


# ---------------------------------------------------------------- invalid files


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[job]]\nname = "x"\nschedule = \n', "bad.toml:3: invalid TOML: Invalid value (column 12)"),
        (
            '[[job]]\nname = "x"\nschedul = "@daily"\nshell = "true"\n',
            "bad.toml:3: job 'x': schedul: unknown key (did you mean 'schedule'?)",
        ),
        ('[[job]]\nname = "x"\nshell = "true"\n', "bad.toml:1: job 'x': schedule: missing (required)"),
        ('[[job]]\nschedule = "@daily"\nshell = "true"\n', "bad.toml:1: job #1: name: missing (required)"),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\nhttp = { url = "https://e.com" }\n',
            "bad.toml:5: job 'x': http: a job runs one thing: shell and http are both given; keep one",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\n',
            "bad.toml:1: job 'x': shell: say what the job runs: one of shell, http or agent",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\ntimeout = "soon"\n',
            "bad.toml:5: job 'x': timeout: expected a duration like 30s, 10m or 2h, got 'soon'",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\nretries = "3"\n',
            "bad.toml:5: job 'x': retries: expected a whole number, got '3'",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\noverlap = "sometimes"\n',
            "bad.toml:5: job 'x': overlap: expected one of skip, queue, allow, got 'sometimes'",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "0 61 * * *"\nshell = "true"\n',
            "bad.toml:3: job 'x': schedule: hour field: 61 is out of range 0-23",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\ntimezone = "Mars/Base"\nshell = "true"\n',
            "bad.toml:4: job 'x': timezone: unknown time zone: 'Mars/Base'",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "in 20m"\nshell = "true"\n',
            "bad.toml:3: job 'x': schedule: 'in 20m' counts from when the file is applied; write 'at YYYY-MM-DDTHH:MM'",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\n\n'
            '[[job]]\nname = "x"\nschedule = "@hourly"\nshell = "true"\n',
            "bad.toml:6: job 'x': name: declared twice in the file (lines 1 and 6)",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\non_success = ["nope"]\n',
            "bad.toml:1: job 'x': on_success: no job named 'nope'",
        ),
        (
            '[[job]]\nname = "a"\nschedule = "@daily"\nshell = "true"\non_success = "b"\n\n'
            '[[job]]\nname = "b"\nschedule = "@daily"\nshell = "true"\non_failure = ["a"]\n',
            "bad.toml:1: job 'a': chain: this would make a cycle (a -> b -> a)",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nhttp = { url = "https://e.com", verb = "GET" }\n',
            "bad.toml:4: job 'x': http.verb: unknown key (known keys: url, method, headers, body, expect_status, "
            "expect_body)",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nagent = { base_url = "http://h/v1", model = "m" }\n',
            "bad.toml:4: job 'x': agent.message: missing (required)",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nhttp = { url = "ftp://e.com" }\n',
            "bad.toml:4: job 'x': http.url: expected an http:// or https:// URL (or ${env:NAME}), got 'ftp://e.com'",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\ndeliver = "always"\n',
            "bad.toml:1: job 'x': deliver_to: deliver = 'always' needs a deliver_to URL (or ${env:NAME})",
        ),
        (
            '[[job]]\nname = "x"\nschedule = "@daily"\nhttp = { url = "https://e.com" }\ncwd = "/tmp"\n',
            "bad.toml:5: job 'x': cwd: only shell jobs have a working directory",
        ),
        ('[[jobs]]\nname = "x"\n', "bad.toml: unknown top-level key 'jobs' (a job file holds [[job]] tables)"),
    ],
)
def test_invalid_files_name_the_file_job_and_key_and_change_nothing(capsys, cli_db, tmp_path, text, message):
    cli(capsys, "jobs", "add", "existing", "--schedule", "@daily", "--shell", "true")
    before = jobs_rows(cli_db)
    write(tmp_path / "bad.toml", text)
    code, out, err = cli(capsys, "apply", "bad.toml")
    assert (code, out) == (2, "")
    assert err.startswith(f"cronui: {message}"), err
    assert len(err.splitlines()) == 1
    assert jobs_rows(cli_db) == before


def test_a_new_one_shot_in_the_past_is_refused_but_a_done_one_is_kept(capsys, cli_db, tmp_path):
    write(tmp_path / "once.toml", '[[job]]\nname = "once"\nschedule = "at 2000-01-01T09:00"\nshell = "true"\n')
    code, out, err = cli(capsys, "apply", "once.toml")
    assert (code, out) == (2, "")
    assert err == (
        "cronui: once.toml:1: job 'once': schedule: 'at 2000-01-01T09:00:00' is in the past; it would never run "
        "(enabled = false keeps it anyway)\n"
    )
    write(
        tmp_path / "once.toml",
        '[[job]]\nname = "once"\nschedule = "at 2000-01-01T09:00"\nshell = "true"\nenabled = false\n',
    )
    assert cli(capsys, "apply", "once.toml")[0] == 0


def test_toml_dates_cannot_go_into_a_json_request(capsys, cli_db, tmp_path):
    write(
        tmp_path / "d.toml",
        '[[job]]\nname = "d"\nschedule = "@daily"\n[job.agent]\nbase_url = "http://h/v1"\nmodel = "m"\n'
        'message = "hi"\nextra = { since = 2026-01-01 }\n',
    )
    code, _, err = cli(capsys, "apply", "d.toml")
    assert code == 2
    assert err == (
        "cronui: d.toml:8: job 'd': agent.extra: holds a date, time, nan or inf, which a JSON request cannot carry; "
        "write it as a string\n"
    )


def test_the_diff_masks_literal_secrets_but_shows_references(capsys, cli_db, tmp_path):
    write(
        tmp_path / "s.toml",
        daily(
            "s",
            'env = { API_TOKEN = "tok-123", TOKEN_REF = "${env:TOKEN}", REGION = "eu" }',
            'deliver_to = "https://hooks.slack.com/services/T000/B000/XXXX"',
        ),
    )
    cli(capsys, "apply", "s.toml")
    write(tmp_path / "s.toml", daily("s"))
    _, out, _ = cli(capsys, "apply", "s.toml", "--dry-run")
    assert out.splitlines()[:7] == [
        "~ s",
        "    env.API_TOKEN: •••••••• → (unset)",
        '    env.REGION: "eu" → (unset)',
        '    env.TOKEN_REF: "${env:TOKEN}" → (unset)',
        '    deliver: "always" → (unset)',
        '    deliver_to: "https://hooks.slack.com/••••••••" → (unset)',
        '    deliver_format: "json" → (unset)',
    ]
    assert "tok-123" not in out and "XXXX" not in out
    code, out, _ = cli(capsys, "apply", "s.toml", "--dry-run", "--json")
    assert code == 0 and "tok-123" not in out and "XXXX" not in out


def test_every_problem_of_a_file_is_listed_at_once(capsys, cli_db, tmp_path):
    write(
        tmp_path / "bad.toml",
        daily("a", 'timeout = "soon"', "retries = -1") + "\n" + daily("b", 'misfire = "never"'),
    )
    code, out, err = cli(capsys, "apply", "bad.toml")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "cronui: bad.toml:5: job 'a': timeout: expected a duration like 30s, 10m or 2h, got 'soon'",
        "cronui: bad.toml:6: job 'a': retries: expected 0 to 100, got -1",
        "cronui: bad.toml:12: job 'b': misfire: expected one of skip, run_once, run_all, got 'never'",
        "cronui: bad.toml: 3 problems; nothing applied",
    ]


def test_a_missing_file_is_one_line(capsys, cli_db):
    assert cli(capsys, "apply", "nope.toml") == (2, "", "cronui: nope.toml: no such file\n")


# ---------------------------------------------------------------- export and round trips

FULL = """\
[[job]]
name = "backup"
description = "Nightly backup — \\"restic\\""
schedule = "30 2 * * *"
timezone = "Europe/Berlin"
shell = "restic backup ~\\necho done"
cwd = "/srv"
env = { RESTIC_PASSWORD = "${env:RESTIC_PASSWORD}", MODE = "full" }
timeout = "2h"
retries = 3
retry_delay = 1.5
overlap = "queue"
queue_limit = 5
misfire = "run_all"
misfire_grace = "1h"
pool = "io"
on_failure = ["alert"]
tags = ["nightly", "ops"]
deliver = "on_failure"
deliver_to = "${env:SLACK_WEBHOOK}"
deliver_format = "slack"
alert_to = "https://hooks.example.com/alerts"
alert_after = 3
alert_cooldown = "30m"

[[job]]
name = "alert"
schedule = "at 2099-01-01T00:00"
enabled = false
http.url = "https://example.com/alert"
http.method = "POST"
http.body = "{\\"x\\": 1}"
http.expect_body = "ok"
http.headers = { Authorization = "Bearer ${env:TOKEN}", "X-Trace.Id" = "1" }

[[job]]
name = "digest"
schedule = "0 9 * * 1-5"

[job.agent]
base_url = "http://127.0.0.1:11434/v1"
model = "llama3"
message = "Digest: {\\"a\\": 1} for {job}"
system = "Be brief"
api_key_env = "OPENAI_API_KEY"
conversation = "persistent"
max_tokens = 500
temperature = 0.2
idle_timeout = "45s"
extra = { top_p = 0.9, stop = ["END"], response_format = { type = "json_object" } }
"""


@pytest.fixture
def with_pool(tmp_path: Path) -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[pools]\nio = 2\n")
    return str(cfg)


def test_export_apply_export_round_trips(capsys, cli_db, tmp_path, monkeypatch, with_pool):
    monkeypatch.setenv("TOKEN", "s3cr3t-token-value")
    write(tmp_path / "full.toml", FULL)
    code, _, err = cli(capsys, "--config", with_pool, "apply", "full.toml")
    assert code == 0, err
    code, first, err = cli(capsys, "export")
    assert code == 0 and err == ""
    assert "${env:TOKEN}" in first and "s3cr3t" not in first
    # to a fresh database
    monkeypatch.setenv("CRONUI_DB", str(tmp_path / "fresh.db"))
    write(tmp_path / "export.toml", first)
    code, out, err = cli(capsys, "--config", with_pool, "apply", "export.toml")
    assert code == 0, err
    assert out.splitlines()[-1] == "applied export.toml: 3 added, 0 changed, 0 removed, 0 unchanged"
    assert cli(capsys, "export")[1] == first
    # the same through JSON
    code, as_json, _ = cli(capsys, "export", "--json")
    monkeypatch.setenv("CRONUI_DB", str(tmp_path / "fresh2.db"))
    write(tmp_path / "export.json", as_json)
    assert cli(capsys, "--config", with_pool, "apply", "export.json")[0] == 0
    assert cli(capsys, "export")[1] == first
    # and the file states the same jobs as the original
    assert tomllib.loads(first)["job"][2]["agent"]["extra"] == {
        "top_p": 0.9,
        "stop": ["END"],
        "response_format": {"type": "json_object"},
    }


def test_applying_the_export_onto_the_same_database_changes_no_job(capsys, cli_db, tmp_path, with_pool):
    write(tmp_path / "full.toml", FULL)
    cli(capsys, "--config", with_pool, "apply", "full.toml")
    cli(capsys, "jobs", "add", "by-hand", "--schedule", "*/5 * * * *", "--shell", "date", "--env", "A=1")
    cli(capsys, "jobs", "disable", "by-hand")
    before = live_jobs(cli_db)
    write(tmp_path / "export.toml", cli(capsys, "export")[1])
    code, out, err = cli(capsys, "--config", with_pool, "apply", "export.toml")
    assert code == 0, err
    # the jobs change owner (the export is now their source) and nothing else
    assert [line for line in out.splitlines() if not line.startswith("~ ")] == [
        "applied export.toml: 0 added, 4 changed (4 adopted), 0 removed, 0 unchanged"
    ]
    after = live_jobs(cli_db)
    for name, row in before.items():
        for col in ("source", "updated_at"):
            row.pop(col), after[name].pop(col)
        assert after[name] == row, name
    again = cli(capsys, "--config", with_pool, "apply", "export.toml")[1]
    assert again == "export.toml: no changes (4 jobs up to date)\n"


async def test_jobs_saved_with_sparse_targets_export_to_files_that_change_nothing(tmp_path):
    """The CLI saves only the keys it was given; a file fills in every default. Same meaning, no change."""
    settings = Settings(db=str(tmp_path / "s.db"), timezone="UTC")
    store = SQLiteStore(settings.db)
    await store.open()
    try:
        control = Control(store, settings, FakeClock(ms("2026-03-02T08:59:30Z")))
        jobs = [
            Job("sh", "@daily", "UTC", TargetKind.SHELL, {"command": "true"}),
            Job("web", "@daily", "UTC", TargetKind.HTTP, {"url": "https://e.com", "method": "get", "body": None}),
            Job(
                "ai",
                "@daily",
                "UTC",
                TargetKind.AGENT,
                {"base_url": "http://h/v1", "model": "m", "message": "hi", "conversation": "isolated"},
                delivery={"to": "https://hook.example.com", "mode": "always"},
            ),
        ]
        await control.apply(jobs, [], [])
        text, warnings = dump_toml(await store.list_jobs())
        assert warnings == []
        data, headers = parse_text(text, "x.toml")
        loaded = load_entries(data, "x.toml", settings, ms("2026-03-02T08:59:30Z"), text=text, headers=headers)
        live = await store.list_jobs()
        jf = JobFile("x.toml", "cli", loaded)  # same source: no adoption either
        for j in live:
            j.source = "cli"
        plan = plan_apply(jf, live, prune=False)
        assert plan.empty and plan.unchanged == 3
    finally:
        await store.close()


def test_export_warns_about_fields_the_format_does_not_know(capsys, cli_db, tmp_path):
    write(tmp_path / "jobs.toml", daily("n"))
    cli(capsys, "apply", "jobs.toml")
    con = sqlite3.connect(cli_db)
    con.execute("""UPDATE jobs SET target = '{"command": "true", "umask": "022"}'""")
    con.commit()
    con.close()
    code, out, err = cli(capsys, "export")
    assert code == 0
    assert err == "cronui: warning: job 'n': shell.umask is not part of the job-file format; not exported\n"
    assert "umask" not in out


def test_export_of_no_jobs_is_a_file_apply_accepts(capsys, cli_db, tmp_path):
    code, out, _ = cli(capsys, "export")
    assert code == 0 and tomllib.loads(out) == {}
    write(tmp_path / "empty.toml", out)
    assert cli(capsys, "apply", "empty.toml")[1] == "empty.toml: no changes (0 jobs up to date)\n"


# ---------------------------------------------------------------- scale


def test_ten_thousand_jobs_apply_in_one_go(capsys, cli_db, tmp_path):
    """Functional only: timing is in tests/benchmarks/bench_apply.py."""
    n = 10_000
    text = "".join(
        f'[[job]]\nname = "job{i:05d}"\nschedule = "{i % 60} * * * *"\nshell = "echo {i}"\n'
        + (f'on_success = ["job{i - 1:05d}"]\n' if i % 100 == 1 else "")
        for i in range(n)
    )
    write(tmp_path / "big.toml", text)
    code, out, err = cli(capsys, "apply", "big.toml")
    assert code == 0, err
    assert out.splitlines()[-1] == f"applied big.toml: {n} added, 0 changed, 0 removed, 0 unchanged"
    jobs = live_jobs(cli_db)
    assert len(jobs) == n and all(j["next_run_at"] for j in jobs.values())
    assert json.loads(jobs["job00042"]["target"])["command"] == "echo 42"
    assert cli(capsys, "apply", "big.toml")[1] == f"big.toml: no changes ({n} jobs up to date)\n"


# ---------------------------------------------------------------- property: what export writes, apply reads back

_names = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
_seconds = st.one_of(st.integers(1, 10**6).map(float), st.floats(0.001, 10**5, allow_nan=False))
_header_value = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)  # no CR/LF, no controls
# a description may hold line breaks and tabs, and no other control character (cronui.job_texts)
_description = st.text(
    st.one_of(st.characters(blacklist_categories=("Cs", "Cc")), st.sampled_from("\n\t")), max_size=30
)
_headers = st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9.-]{0,10}", fullmatch=True), _header_value, max_size=3)


CALENDARS = {"xmas": Calendar(frozenset({date(2026, 12, 24)})), "ops-freeze": Calendar(frozenset({date(2026, 12, 31)}))}


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    kind = draw(st.sampled_from(list(TargetKind)))
    if kind is TargetKind.SHELL:
        target = {
            "command": draw(_text.filter(lambda s: s.strip())),
            "cwd": draw(st.one_of(st.none(), _text.filter(bool))),
            "env": draw(st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), _text, max_size=3)),
        }
    elif kind is TargetKind.HTTP:
        target = {
            "url": "https://example.com/" + draw(st.from_regex(r"[a-z0-9/]{0,10}", fullmatch=True)),
            "method": draw(st.sampled_from(["GET", "POST", "PUT"])),
            "headers": draw(_headers),
            "body": draw(st.one_of(st.none(), _text)),
            "expect_status": draw(st.one_of(st.none(), st.integers(100, 599))),
            "expect_body": draw(st.one_of(st.none(), _text)),
        }
    else:
        target = {
            "base_url": "http://127.0.0.1:8080/v1",
            "model": draw(_header_value.filter(lambda s: s.strip() == s and s)),  # a model name: no controls
            "message": draw(_text.filter(lambda s: s.strip())),
            "system": draw(st.one_of(st.none(), _text)),
            "api_key_env": draw(st.one_of(st.none(), st.just("OPENAI_API_KEY"))),
            "conversation": draw(st.sampled_from(["isolated", "persistent", "session:team-1"])),
            "max_tokens": draw(st.one_of(st.none(), st.integers(1, 100_000))),
            "temperature": draw(st.one_of(st.none(), st.floats(0, 2, allow_nan=False))),
            "headers": draw(_headers),
            "extra": draw(st.dictionaries(_names, st.one_of(st.integers(), _text, st.booleans()), max_size=2)),
        }
    delivery = draw(
        st.one_of(
            st.just({}),
            st.fixed_dictionaries(
                {
                    "mode": st.sampled_from(["always", "on_failure", "never"]),
                    "to": st.just("${env:HOOK}"),
                    "format": st.sampled_from(["slack", "discord", "json"]),
                    "alert_after": st.integers(1, 9),
                    "alert_cooldown_s": _seconds,
                }
            ),
        )
    )
    # chains to names a drawn job name never has; each edge plain or with a condition
    on_success = draw(st.lists(st.sampled_from(["Next.A", "Next.B"]), unique=True, max_size=2))
    when = st.one_of(st.none(), st.sampled_from(["contains:READY", "regex:^ok$", 'contains:a "quoted" word']))
    conditions = {n: {"when": w} for n in on_success if (w := draw(when)) is not None}
    job = Job(
        name=draw(_names),
        schedule=draw(st.sampled_from(["@daily", "*/5 * * * *", "every 15m", "0 9 * * 1-5"])),
        timezone=draw(st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"])),
        kind=kind,
        target=target,
        description=draw(_description),
        enabled=draw(st.booleans()),
        overlap=draw(st.sampled_from(list(OverlapPolicy))),
        queue_limit=draw(st.integers(1, 50)),
        misfire=draw(st.sampled_from(list(MisfirePolicy))),
        misfire_grace_s=draw(_seconds),
        max_retries=draw(st.integers(0, 100)),
        retry_delay_s=draw(_seconds),
        timeout_s=draw(_seconds),
        delivery=delivery,
        tags=draw(st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), max_size=3)),
        on_success=on_success,
        chain_options={"on_success": conditions},
        skip_calendar=draw(st.lists(st.sampled_from(sorted(CALENDARS)), unique=True, max_size=2)),
        only_calendar=draw(st.lists(st.sampled_from(sorted(CALENDARS)), unique=True, max_size=2)),
    )
    # retry rules (cronui.retry_rules): each kind's own, unset or a list of codes
    codes = st.one_of(st.none(), st.lists(st.integers(1, 255), min_size=1, max_size=3, unique=True).map(sorted))
    if kind is TargetKind.SHELL:
        job.retry_on_exit = draw(codes)
        job.no_retry_on_exit = draw(codes) if job.retry_on_exit is None else None
    elif kind is TargetKind.HTTP:
        statuses = st.lists(st.integers(100, 599), min_size=1, max_size=3, unique=True).map(sorted)
        job.retry_on_status = draw(st.one_of(st.none(), statuses))
    # several schedules (a list in the file) and a window (wall times in the job's zone, an offset where needed)
    several = draw(st.lists(st.sampled_from(["@daily", "*/5 * * * *", "every 15m", "0 11 * * 0,6"]), unique=True))
    if len(several) > 1:
        job.schedule = join_specs(several)
    bound = st.one_of(st.none(), st.integers(ms("2020-01-01T00:00:00Z") // 1000, ms("2035-01-01T00:00:00Z") // 1000))
    starts, ends = draw(bound), draw(bound)
    if starts is not None and ends is not None and ends < starts:
        starts, ends = ends, starts
    job.starts_at = None if starts is None else starts * 1000
    job.ends_at = None if ends is None else ends * 1000
    job.params = draw(_params(required_ok=not job.enabled))  # a scheduled (enabled) job's params all have defaults
    return job


_PARAM_VALUES = {
    "str": _text,
    "int": st.integers(-(10**9), 10**9),
    "float": st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
}


@st.composite
def _params(draw: st.DrawFn, required_ok: bool) -> dict[str, ParamDecl]:
    """Run-time parameters of every type, with or without a default (required: only on a disabled job) and
    choices."""
    out: dict[str, ParamDecl] = {}
    names = draw(st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), unique=True, max_size=3))
    for name in names:
        kind = draw(st.sampled_from(PARAM_TYPES))
        values = _PARAM_VALUES[kind]
        default = None if required_ok and draw(st.booleans()) else draw(values)
        choices = draw(st.one_of(st.none(), st.lists(values, min_size=1, max_size=3)))
        if choices is not None and default is not None and default not in choices:
            choices.append(default)
        out[name] = ParamDecl(type=kind, default=default, choices=choices)
    return out


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job=jobs(), as_json=st.booleans())
@example(
    job=Job(name="a", schedule="@daily", timezone="UTC", kind=TargetKind.SHELL, target={"command": "x", "cwd": "\r\n"}),
    as_json=False,
)
@example(  # the second pass of Berlin's repeated hour: written with its offset to read back the same
    job=Job(
        name="b",
        schedule=join_specs(["0 9 * * 1-5", "0 11 * * 0,6"]),
        timezone="Europe/Berlin",
        kind=TargetKind.SHELL,
        target={"command": "x"},
        starts_at=ms("2026-10-25T01:30:00Z"),
        ends_at=ms("2026-10-25T01:30:00Z"),
    ),
    as_json=False,
)
def test_property_what_export_writes_apply_reads_back_the_same(job, as_json):
    settings = Settings(db="unused", timezone="America/Chicago", default_timeout=77, misfire_grace=11)
    settings.calendars = CALENDARS
    text, warnings = (dump_json if as_json else dump_toml)([job])
    assert warnings == []
    data, headers = parse_text(text, "x", as_json=as_json)
    (loaded,) = load_entries(data, "x", settings, ms("2026-03-02T08:59:30Z"), text=text, headers=headers)
    assert view(loaded.job) == view(job)
    assert (loaded.job.schedule, loaded.job.starts_at, loaded.job.ends_at) == (job.schedule, job.starts_at, job.ends_at)


def test_durations_are_written_in_the_largest_exact_unit():
    assert [duration_spec(s) for s in (0, 45, 90, 600, 7200, 86400, 1.5)] == [
        "0s",
        "45s",
        "90s",
        "10m",
        "2h",
        "1d",
        1.5,
    ]
