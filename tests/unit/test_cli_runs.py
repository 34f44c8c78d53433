"""`cronui runs`: a header row over the list, help for every option, errors that name the option at fault,
JSON that says what happened (no missed slots for a run that ran), error bodies summarised in the list."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest

from cronui.main import build_parser
from cronui.present import error_summary
from tests.helpers import cli


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("CRONUI_DB", str(path))
    monkeypatch.setenv("CRONUI_TIMEZONE", "UTC")
    return path


def test_runs_list_has_a_header_row_over_aligned_runs(capsys, db):
    assert cli(capsys, "jobs", "add", "hello", "--schedule", "@daily", "--shell", "echo hi")[0] == 0
    assert cli(capsys, "jobs", "run", "hello", "--wait")[0] == 0
    code, out, err = cli(capsys, "runs", "list")
    assert code == 0 and err == ""
    header, row = out.splitlines()
    assert header.split() == ["RUN", "JOB", "STATUS", "TRIGGER", "#", "STARTED", "(UTC)", "DURATION", "NOTE"]
    assert row.startswith("#1 ") and " hello " in row and " succeeded " in row
    assert row.index("hello") == header.index("JOB") and row.index("succeeded") == header.index("STATUS")


def test_runs_list_with_nothing_to_list_says_so_on_stderr(capsys, db):
    code, out, err = cli(capsys, "runs", "list")
    assert (code, out, err.strip()) == (0, "", "no runs yet")
    code, out, err = cli(capsys, "runs", "list", "--status", "failed")
    assert (code, out, err.strip()) == (0, "", "no runs match")


def test_runs_show_json_reports_no_missed_slots_for_a_run_that_ran(capsys, db):
    cli(capsys, "jobs", "add", "hello", "--schedule", "@daily", "--shell", "true")
    code, out, _ = cli(capsys, "jobs", "run", "hello", "--wait", "--json")
    assert code == 0
    shown = json.loads(cli(capsys, "runs", "show", str(json.loads(out)["id"]), "--json")[1])
    assert shown["status"] == "succeeded" and shown["missed_count"] == 0


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


@pytest.mark.parametrize("verb", ["list", "show", "logs", "tail", "cancel"])
def test_every_runs_option_has_help(capsys, verb):
    parser = subparsers(subparsers(build_parser())["runs"])[verb]
    options = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    assert options
    for action in options:
        assert action.help, f"runs {verb}: {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit) as done:
        cli(capsys, "runs", verb, "--help")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert all(str(a.help).split()[0] in out for a in options)


def snapshot(path: Path) -> list:
    con = sqlite3.connect(path)
    try:
        return [con.execute("SELECT * FROM jobs ORDER BY id").fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["jobs", "add", "x", "--schedule", "@daily", "--tz", "Mars/Olympus", "--shell", "true"],
            "timezone: unknown time zone: 'Mars/Olympus' (--tz)",
        ),
        (["jobs", "edit", "existing", "--tz", "Mars/Olympus"], "timezone: unknown time zone: 'Mars/Olympus' (--tz)"),
        (["runs", "list", "--limit", "lots"], "--limit: expected a whole number"),
        (["runs", "list", "--limit", "0"], "--limit"),
        (["runs", "list", "--job", "ghost"], "no job named 'ghost'"),
        (["runs", "logs", "#x"], "RUN_ID: expected a whole number"),
    ],
)
def test_bad_input_names_the_option_in_one_line_and_exits_2(capsys, db, argv, message):
    assert cli(capsys, "jobs", "add", "existing", "--schedule", "@daily", "--shell", "true")[0] == 0
    before = snapshot(db)
    code, out, err = cli(capsys, *argv)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "schedule:" not in err
    assert "Traceback" not in err
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        (
            "HTTP 501 Not Implemented: <!DOCTYPE html> <html><head><title>501 &amp; Not Implemented</title>"
            "</head><body><h1>Not Implemented</h1>" + "<p>x</p>" * 200 + "</body></html>",
            "HTTP 501 Not Implemented: 501 & Not Implemented",
        ),
        ("HTTP 502 Bad Gateway: <html><body><h1>Bad gateway</h1><p>upstream</p></body></html>", None),
        (
            'HTTP 500 Internal Server Error: {"error": "boom"}\nmore',
            'HTTP 500 Internal Server Error: {"error": "boom"}',
        ),
        ("exited with code 1\nTraceback (most recent call last):", "exited with code 1"),
        ("\n\nlate first line", "late first line"),
        ("x" * 500, "x" * 119 + "…"),
    ],
)
def test_error_summary_is_the_status_and_the_first_line_of_text(error, summary):
    if summary is None:
        assert error_summary(error) == "HTTP 502 Bad Gateway: Bad gateway upstream"
    else:
        assert error_summary(error) == summary
