"""Job targets and delivery settings as types: old stored shapes load, nothing is lost on a save, and the
CLI's delivery options keep their meaning."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cronui.model import Job
from cronui.targets import AgentTarget, Delivery, HttpTarget, ShellTarget, TargetKind, to_dict
from tests.helpers import cli, live_jobs


def test_nulls_in_old_rows_mean_the_defaults() -> None:
    http = Job("h", "@daily", "UTC", TargetKind.HTTP, {"url": "https://x.example", "method": None, "headers": None})
    assert isinstance(http.target, HttpTarget)
    assert (http.target.method, http.target.headers) == ("GET", {})
    agent = Job("a", "@daily", "UTC", TargetKind.AGENT, {"base_url": "http://m", "model": "m", "conversation": None})
    assert isinstance(agent.target, AgentTarget) and agent.target.conversation == "isolated"
    shell = Job("s", "@daily", "UTC", TargetKind.SHELL, {"command": "true"}, delivery={"mode": None, "format": None})
    assert shell.delivery == Delivery() and not shell.delivery.is_set


def test_keys_from_a_newer_version_are_kept_through_a_save() -> None:
    job = Job("s", "@daily", "UTC", TargetKind.SHELL, {"command": "true", "umask": "022"}, delivery={"retries": 3})
    assert isinstance(job.target, ShellTarget) and job.target.unknown == {"umask": "022"}
    assert to_dict(job.target)["umask"] == "022"
    assert to_dict(job.delivery) == {"format": "json", "retries": 3}


def test_deliver_to_turns_delivery_on_only_when_no_mode_was_chosen(capsys, cli_db: Path) -> None:
    assert cli(capsys, "jobs", "add", "a", "--schedule", "@daily", "--shell", "true")[0] == 0
    assert cli(capsys, "jobs", "edit", "a", "--deliver-to", "https://hook.example/a")[0] == 0
    assert json.loads(live_jobs(cli_db)["a"]["delivery"])["mode"] == "always"
    assert cli(capsys, "jobs", "add", "b", "--schedule", "@daily", "--shell", "true", "--deliver", "never")[0] == 0
    assert cli(capsys, "jobs", "edit", "b", "--deliver-to", "https://hook.example/b")[0] == 0
    assert json.loads(live_jobs(cli_db)["b"]["delivery"]) == {"mode": "never", "to": "https://hook.example/b"} | {
        "format": "json"
    }


def test_jobs_show_json_lists_every_key_of_the_target(capsys, cli_db: Path) -> None:
    assert cli(capsys, "jobs", "add", "s", "--schedule", "@daily", "--shell", "true")[0] == 0
    target = json.loads(cli(capsys, "jobs", "show", "s", "--json")[1])["target"]
    assert target == {"command": "true", "cwd": None, "env": {}}
    assert cli(capsys, "jobs", "add", "h", "--schedule", "@daily", "--http", "https://x.example")[0] == 0
    target = json.loads(cli(capsys, "jobs", "show", "h", "--json")[1])["target"]
    assert set(target) == {"url", "method", "headers", "body", "expect_status", "expect_body"}


def test_export_names_delivery_keys_it_cannot_write_and_keeps_them(capsys, cli_db: Path) -> None:
    assert cli(capsys, "jobs", "add", "r", "--schedule", "@daily", "--shell", "true")[0] == 0
    con = sqlite3.connect(cli_db)
    con.execute(
        """UPDATE jobs SET delivery = '{"mode": "always", "to": "https://h.example/x", "headers": {"X": "1"}}'"""
    )
    con.commit()
    con.close()
    code, out, err = cli(capsys, "export")
    assert code == 0 and "job 'r': delivery.headers is not part of the job-file format; not exported" in err
    assert "headers" not in out
    assert cli(capsys, "jobs", "edit", "r", "--description", "hi")[0] == 0
    assert json.loads(live_jobs(cli_db)["r"]["delivery"])["headers"] == {"X": "1"}
