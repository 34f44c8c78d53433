"""The options and job-file keys of agent jobs that run unattended: fallbacks, a gate, a stagger."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

import pytest

from tests.helpers import cli

AGENT = ["--agent", "http://127.0.0.1:4000/v1", "--model", "main", "--message", "Digest for {job}"]


def add(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    code, out, err = cli(capsys, "jobs", "add", "digest", "--schedule", "0 8 * * *", *AGENT, *argv, "--json")
    return code, (json.loads(out) if code == 0 else {}), err


def test_fallbacks_from_the_cli_in_order_and_cleared_on_edit(capsys, cli_db):
    code, job, err = add(
        capsys, "--fallback", "second", "--fallback", "claude-3-5-sonnet@20240620@https://gw.example/v1"
    )
    assert code == 0, err
    assert job["target"]["fallbacks"] == ["second", "claude-3-5-sonnet@20240620@https://gw.example/v1"]
    code, out, err = cli(capsys, "jobs", "edit", "digest", "--fallback", "", "--json")
    assert code == 0, err
    assert json.loads(out)["target"]["fallbacks"] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fallback", "@https://gw.example/v1"], "fallback: '@https://gw.example/v1' names no model"),
        (["--fallback", " padded"], "fallback: ' padded' must not start or end with spaces"),
        (["--fallback", "m@https://gw example/v1"], "fallback: expected an http:// or https:// URL"),
    ],
)
def test_bad_fallbacks_are_refused_naming_the_problem(capsys, cli_db, argv, message):
    code, _, err = add(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert cli(capsys, "jobs", "list", "--json")[1].strip() == "[]"


def test_a_fallback_on_a_shell_job_is_refused(capsys, cli_db):
    code, _, err = cli(capsys, "jobs", "add", "x", "--schedule", "@daily", "--shell", "true", "--fallback", "m")
    assert code == 2 and "only for --agent jobs" in err


JOB_FILE = """
[[job]]
name = "digest"
schedule = "0 8 * * 1-5"

[job.agent]
base_url = "http://127.0.0.1:4000/v1"
model = "main"
message = "Digest for {job}"
fallbacks = ["second", "local@http://127.0.0.1:11434/v1"]
"""


def test_fallbacks_in_a_job_file_apply_and_export_back(capsys, cli_db, tmp_path: Path):
    (tmp_path / "jobs.toml").write_text(JOB_FILE)
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    code, exported, _ = cli(capsys, "export")
    agent = tomllib.loads(exported)["job"][0]["agent"]
    assert agent["fallbacks"] == ["second", "local@http://127.0.0.1:11434/v1"]
    (tmp_path / "jobs.toml").write_text(JOB_FILE.replace('"second", ', ""))
    code, out, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0 and "1 changed" in out, out + err


def test_a_bad_fallback_in_a_job_file_names_its_key(capsys, cli_db, tmp_path: Path):
    (tmp_path / "jobs.toml").write_text(JOB_FILE.replace('"second"', '"@http://x/v1"'))
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 2 and "agent.fallbacks" in err and "names no model" in err, err


def test_a_gate_from_the_cli_and_a_job_file(capsys, cli_db, tmp_path: Path):
    code, job, err = add(capsys, "--gate", "test -s ~/inbox/new.txt && cat ~/inbox/new.txt")
    assert code == 0, err
    assert job["target"]["gate"] == "test -s ~/inbox/new.txt && cat ~/inbox/new.txt"
    code, out, err = cli(capsys, "jobs", "edit", "digest", "--gate", "", "--json")
    assert code == 0 and json.loads(out)["target"]["gate"] is None, err
    code, _, err = cli(capsys, "jobs", "edit", "digest", "--gate", "   ")
    assert code == 2 and "gate: the check to run is empty" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "jobs.toml").write_text(JOB_FILE.replace("fallbacks =", 'gate = "./has-news"\nfallbacks ='))
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    assert tomllib.loads(cli(capsys, "export")[1])["job"][0]["agent"]["gate"] == "./has-news"


def test_notify_retries_from_the_cli_and_a_job_file(capsys, cli_db, tmp_path: Path):
    code, _, err = add(capsys, "--notify-retries")
    assert code == 2 and "notify-retries: retry notices need a target (--deliver-to or --alert-to)" in err
    code, _, err = add(capsys, "--notify-retries", "--alert-to", "https://hooks.example/alerts")
    assert code == 0, err
    assert tomllib.loads(cli(capsys, "export")[1])["job"][0]["notify_retries"] is True
    code, _, err = cli(capsys, "jobs", "edit", "digest", "--no-notify-retries")
    assert code == 0, err
    assert "notify_retries" not in tomllib.loads(cli(capsys, "export")[1])["job"][0]
    cli(capsys, "jobs", "rm", "digest")
    text = JOB_FILE.replace("[job.agent]", 'alert_to = "https://hooks.example/a"\nnotify_retries = true\n\n[job.agent]')
    (tmp_path / "jobs.toml").write_text(text)
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    assert tomllib.loads(cli(capsys, "export")[1])["job"][0]["notify_retries"] is True


def test_max_cost_from_the_cli_and_a_job_file(capsys, cli_db, tmp_path: Path):
    code, _, err = add(capsys, "--max-cost", "0")
    assert code == 2 and "--max-cost: expected a number above 0" in err and len(err.strip().splitlines()) == 1
    code, job, err = add(capsys, "--max-cost", "0.25")
    assert code == 0 and job["target"]["max_cost_usd"] == 0.25, err
    cli(capsys, "jobs", "rm", "digest")
    (tmp_path / "jobs.toml").write_text(JOB_FILE.replace("fallbacks =", "max_cost = 1.5\nfallbacks ="))
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    assert tomllib.loads(cli(capsys, "export")[1])["job"][0]["agent"]["max_cost"] == 1.5
    (tmp_path / "jobs.toml").write_text(JOB_FILE.replace("fallbacks =", "max_cost = -1\nfallbacks ="))
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 2 and "agent.max_cost" in err, err


async def test_runs_show_says_which_model_answered_and_where_the_cost_came_from(capsys, cli_db):
    from tests.engine.test_agent_unattended import USAGE, Answer, ScriptedChat

    chat = ScriptedChat()
    chat.script["main"] = [Answer("overloaded", status=503)]
    chat.script["second"] = [Answer("Two items.", usage={**USAGE, "cost": 0.0042})]
    await chat.start()
    try:
        argv = ["--agent", f"{chat.url}/v1", "--model", "main", "--message", "hi", "--fallback", "second"]
        code, _, err = await asyncio.to_thread(cli, capsys, "jobs", "add", "d", "--schedule", "@daily", *argv)
        assert code == 0, err
        code, out, err = await asyncio.to_thread(cli, capsys, "jobs", "run", "d", "--wait", "--json")
        assert code == 0, err
        run_id = json.loads(out)["id"]
        code, out, err = await asyncio.to_thread(cli, capsys, "runs", "show", str(run_id))
        assert code == 0, err
        lines = [line.strip() for line in out.splitlines()]
        assert "tokens in 1000 · out 500 · total 1500 · cost $0.004200 (gateway)" in lines
        assert "answered by second" in lines
        assert "model main failed: HTTP 503 Service Unavailable: " + '{"error": {"message": "overloaded"}}' in lines
    finally:
        await chat.stop()
