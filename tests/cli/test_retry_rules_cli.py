"""Retry rules through the CLI and job files: set, shown, exported and applied back; refused in one line
on the wrong kind, both exit lists at once, or a bad code, with nothing changed."""

from __future__ import annotations

import json

from tests.helpers import cli, live_jobs


def test_rules_are_set_shown_cleared_and_exported(capsys, cli_db):
    code, _, _ = cli(capsys, "jobs", "add", "tf", "--schedule", "@daily", "--shell", "exit 75", "--retries", "2",
                     "--retry-on-exit", "111,75")  # fmt: skip
    assert code == 0
    code, out, _ = cli(capsys, "jobs", "show", "tf")
    assert "retry only on exit 75, 111" in out
    assert cli(capsys, "jobs", "edit", "tf", "--retry-on-exit", "", "--no-retry-on-exit", "2")[0] == 0
    code, out, _ = cli(capsys, "jobs", "show", "tf", "--json")
    data = json.loads(out)
    assert (data["retry_on_exit"], data["no_retry_on_exit"], data["retry_on_status"]) == (None, [2], None)
    code, _, _ = cli(capsys, "jobs", "add", "web", "--schedule", "@daily", "--http", "https://example.com/h",
                     "--retry-on-status", "503,502")  # fmt: skip
    assert code == 0
    code, out, _ = cli(capsys, "export")
    assert "no_retry_on_exit = [2]" in out and "retry_on_status = [502, 503]" in out and "\nretry_on_exit" not in out
    before = live_jobs(cli_db)
    (cli_db.parent / "jobs.toml").write_text(out)
    assert cli(capsys, "apply", "jobs.toml")[0] == 0
    assert live_jobs(cli_db)["web"]["retry_on_status"] == before["web"]["retry_on_status"] == "[502,503]"
    assert cli(capsys, "export")[1] == out  # nothing changed by the round trip


def test_wrong_rules_are_refused_in_one_line_and_nothing_is_saved(capsys, cli_db):
    shell, http = ["--shell", "x"], ["--http", "https://e.com"]
    cases = [
        ([*shell, "--retry-on-status", "503"], "retry-on-status: only http jobs have it, not shell jobs"),
        ([*http, "--retry-on-exit", "75"], "retry-on-exit: only shell jobs have it, not http jobs"),
        ([*shell, "--retry-on-exit", "75", "--no-retry-on-exit", "2"], "no-retry-on-exit: a job retries only"),
        ([*shell, "--retry-on-exit", "75,abc"], "retry-on-exit: 'abc' is not a code from 1 to 255"),
    ]
    for argv, message in cases:
        code, _, err = cli(capsys, "jobs", "add", "j", "--schedule", "@daily", *argv)
        assert code == 2 and err.startswith(f"cronui: {message}") and len(err.strip().splitlines()) == 1, err
    assert live_jobs(cli_db) == {}


def test_a_job_file_with_wrong_rules_is_refused_key_by_key(capsys, cli_db):
    (cli_db.parent / "jobs.toml").write_text(
        '[[job]]\nname = "w"\nschedule = "@daily"\nhttp = { url = "https://e.com/" }\nretry_on_exit = [75]\n\n'
        '[[job]]\nname = "t"\nschedule = "@daily"\nshell = "true"\nretry_on_exit = "75"\n'
    )
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 2
    assert "job 'w': retry_on_exit: only shell jobs have it, not http jobs" in err
    assert "job 't': retry_on_exit: expected a list of whole numbers like [75, 111]" in err
    assert not cli_db.exists() or live_jobs(cli_db) == {}
