"""Daily budgets from the command line, job files and config: refused values, and what `jobs show` and
`runs show` say about a budget once runs have cost something."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.unit.test_agent_options import JOB_FILE, add


def test_daily_budget_from_the_cli_edited_and_removed(capsys, cli_db):
    code, _, err = add(capsys, "--daily-budget", "0")
    assert code == 2 and "--daily-budget: expected a number above 0" in err and len(err.strip().splitlines()) == 1
    assert cli(capsys, "jobs", "list", "--json")[1].strip() == "[]"
    code, job, err = add(capsys, "--daily-budget", "2.5")
    assert code == 0 and job["target"]["daily_budget_usd"] == 2.5, err
    code, out, err = cli(capsys, "jobs", "edit", "digest", "--daily-budget", "nan", "--json")
    assert code == 2 and "--daily-budget: expected a finite number" in err, err
    code, out, err = cli(capsys, "jobs", "edit", "digest", "--daily-budget", "", "--json")
    assert code == 0 and json.loads(out)["target"]["daily_budget_usd"] is None, err


def test_daily_budget_on_a_shell_job_is_refused(capsys, cli_db):
    code, _, err = cli(capsys, "jobs", "add", "x", "--schedule", "@daily", "--shell", "true", "--daily-budget", "1")
    assert code == 2 and "only for --agent jobs" in err


def test_daily_budget_in_a_job_file(capsys, cli_db, tmp_path: Path):
    (tmp_path / "jobs.toml").write_text(JOB_FILE.replace("fallbacks =", "daily_budget = 3\nfallbacks ="))
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    assert tomllib.loads(cli(capsys, "export")[1])["job"][0]["agent"]["daily_budget"] == 3
    (tmp_path / "jobs.toml").write_text(JOB_FILE.replace("fallbacks =", "daily_budget = 'lots'\nfallbacks ="))
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 2 and "agent.daily_budget" in err, err


def test_a_bad_budget_in_the_config_is_refused_in_one_line(capsys, cli_db, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CRONUI_BUDGET_DAILY_USD", "-1")
    code, _, err = cli(capsys, "jobs", "list")
    assert code == 2 and "budget.daily_usd" in err and len(err.strip().splitlines()) == 1, err


async def test_a_spent_budget_skips_the_run_and_jobs_and_runs_show_say_so(capsys, cli_db, monkeypatch):
    from tests.engine.test_agent_unattended import USAGE, Answer, ScriptedChat

    monkeypatch.setenv("CRONUI_BUDGET_DAILY_USD", "10")
    chat = ScriptedChat()
    chat.script["main"] = [Answer("Two items.", usage={**USAGE, "cost": 0.004})]
    await chat.start()
    try:
        argv = ["--agent", f"{chat.url}/v1", "--model", "main", "--message", "hi", "--daily-budget", "0.006"]
        code, _, err = await asyncio.to_thread(cli, capsys, "jobs", "add", "d", "--schedule", "@daily", *argv)
        assert code == 0, err
        code, out, err = await asyncio.to_thread(cli, capsys, "jobs", "run", "d", "--wait", "--json")
        assert code == 0 and json.loads(out)["status"] == "succeeded", err
        code, out, err = await asyncio.to_thread(cli, capsys, "jobs", "show", "d")
        lines = [line.strip() for line in out.splitlines()]
        assert "budget     $0.0040 spent today (UTC) / $0.006 this job's daily budget" in lines
        assert "budget     $0.0040 spent today (UTC) / $10 all agent jobs' daily budget" in lines
        code, out, err = await asyncio.to_thread(cli, capsys, "jobs", "show", "d", "--json")
        assert json.loads(out)["budget"]["job"] == {"spent_usd": 0.004, "daily_usd": 0.006}
        # another run like the first would make $0.008, past $0.006: it is skipped and no model is asked
        code, out, err = await asyncio.to_thread(cli, capsys, "jobs", "run", "d", "--wait", "--json")
        skipped = json.loads(out)
        assert skipped["status"] == "skipped" and skipped["reason"].startswith("budget: "), out
        assert len(chat.requests) == 1
        code, out, err = await asyncio.to_thread(cli, capsys, "runs", "show", str(skipped["id"]))
        assert code == 0, err
        reason = "reason budget: $0.0040 spent today (UTC), a run costs about $0.0040, the job's daily budget is $0.006"
        assert reason in [line.strip() for line in out.splitlines()]
    finally:
        await chat.stop()
