"""Approvals from the command line: the job options and their checks (one line, exit 2, naming the option),
`runs approve` / `runs reject` (exit codes, JSON, nothing changed on a run that is not waiting), where
waiting runs show (`runs list --status`, `runs show`, `status`), and the job-file keys round-tripping
through `export`."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.helpers import cli


def add_gated(capsys, name: str = "deploy", *extra: str) -> None:
    code, _, err = cli(capsys, "jobs", "add", name, "--schedule", "@yearly", "--shell", "echo hi", "--approval", *extra)
    assert code == 0, err


def queue(capsys, name: str = "deploy") -> int:
    code, out, err = cli(capsys, "jobs", "run", name, "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "awaiting_approval"
    return run["id"]


def test_add_and_edit_set_the_approval_options(capsys, cli_db):
    add_gated(capsys, "deploy", "--approval-timeout", "30m", "--approval-default", "approve")
    code, out, _ = cli(capsys, "jobs", "show", "deploy", "--json")
    job = json.loads(out)
    assert (job["approval"], job["approval_timeout_s"], job["approval_default"], job["approval_max_waiting"]) == (
        True,
        1800.0,
        "approve",
        3,
    )
    code, out, _ = cli(capsys, "jobs", "show", "deploy")
    assert "  approval   each run waits up to 30m00s, then approves · at most 3 waiting" in out.splitlines()
    assert cli(capsys, "jobs", "edit", "deploy", "--approval-max-waiting", "5")[0] == 0
    assert json.loads(cli(capsys, "jobs", "show", "deploy", "--json")[1])["approval_max_waiting"] == 5
    assert cli(capsys, "jobs", "edit", "deploy", "--no-approval")[0] == 0
    job = json.loads(cli(capsys, "jobs", "show", "deploy", "--json")[1])
    assert job["approval"] is False and job["approval_timeout_s"] == 1800.0  # the rest is kept for next time
    code, out, _ = cli(capsys, "jobs", "run", "deploy")  # no approval now: it runs here and now
    assert code == 0 and "succeeded" in out


def test_a_job_without_the_option_asks_for_nothing(capsys, cli_db):
    cli(capsys, "jobs", "add", "plain", "--schedule", "@yearly", "--shell", "true")
    job = json.loads(cli(capsys, "jobs", "show", "plain", "--json")[1])
    assert (job["approval"], job["approval_timeout_s"], job["approval_default"]) == (False, 3600.0, "reject")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--approval-timeout", "0"], "--approval-timeout: "),
        (["--approval-timeout", "soon"], "--approval-timeout: "),
        (["--approval-max-waiting", "0"], "--approval-max-waiting: expected 1 to 10000, got 0"),
        (["--approval-default", "maybe"], "--approval-default"),
    ],
)
def test_bad_approval_values_are_one_line_exit_2_and_change_nothing(capsys, cli_db, args, message):
    code, out, err = cli(capsys, "jobs", "add", "bad", "--schedule", "@daily", "--shell", "true", "--approval", *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert cli(capsys, "jobs", "list", "--json")[1].strip() == "[]"


def test_a_manual_run_waits_then_approve_makes_it_pending(capsys, cli_db):
    add_gated(capsys)
    code, out, err = cli(capsys, "jobs", "run", "deploy")
    assert code == 0, err
    assert out.startswith("run #1 of deploy waits for approval until ") and "cronui runs approve 1" in out
    code, out, _ = cli(capsys, "runs", "list", "--status", "awaiting_approval", "--json")
    [run] = json.loads(out)
    assert run["id"] == 1 and run["approval"]["default"] == "reject" and run["approval"]["decision"] is None
    code, out, _ = cli(capsys, "status", "--json")
    assert json.loads(out)["awaiting_approval"] == 1
    code, out, _ = cli(capsys, "status")
    assert "1 awaiting approval" in out
    code, out, _ = cli(capsys, "runs", "show", "1")
    assert "  decide: cronui runs approve 1 · cronui runs reject 1 --reason TEXT" in out
    code, out, err = cli(capsys, "runs", "approve", "#1")
    assert code == 0 and out == "approved run #1 of deploy: it runs now\n", err
    run = json.loads(cli(capsys, "runs", "show", "1", "--json")[1])
    assert run["status"] == "pending" and run["approval"]["decision"] == "approved"
    assert "@" in run["approval"]["decided_by"]  # user@host


def test_reject_records_the_reason_and_a_second_decision_is_refused(capsys, cli_db):
    add_gated(capsys)
    run_id = queue(capsys)
    code, out, _ = cli(capsys, "runs", "reject", str(run_id), "--reason", "change freeze")
    assert code == 0 and out.startswith(f"rejected run #{run_id} of deploy: rejected by ")
    assert out.rstrip().endswith(": change freeze")
    before = cli(capsys, "runs", "show", str(run_id), "--json")[1]
    for verb in ("approve", "reject"):
        code, out, err = cli(capsys, "runs", verb, str(run_id))
        assert code == 2 and out == ""
        assert err == f"cronui: run #{run_id} is not waiting for approval (it is skipped)\n"
    assert cli(capsys, "runs", "show", str(run_id), "--json")[1] == before  # nothing changed
    code, _, err = cli(capsys, "runs", "approve", "77")
    assert code == 2 and err == "cronui: no run #77\n"


def test_the_cap_refuses_a_manual_run_beyond_it(capsys, cli_db):
    add_gated(capsys, "deploy", "--approval-max-waiting", "1")
    queue(capsys)
    code, out, err = cli(capsys, "jobs", "run", "deploy")
    assert code == 2 and out == ""
    assert err == (
        "cronui: run #2 of deploy not queued: approvals full: 1 run of the job already wait for approval "
        "(approval_max_waiting 1)\n"
    )
    [skipped] = json.loads(cli(capsys, "runs", "list", "--status", "skipped", "--json")[1])
    assert skipped["id"] == 2


def test_jobs_run_wait_needs_a_scheduler_to_run_it_once_approved(capsys, cli_db):
    add_gated(capsys)
    code, _, err = cli(capsys, "jobs", "run", "deploy", "--wait")
    assert code == 2 and "waits for approval and nothing schedules this database" in err
    assert cli(capsys, "runs", "list", "--json")[1].strip() == "[]"


def test_job_file_keys_apply_and_export_round_trips(capsys, cli_db, tmp_path):
    (tmp_path / "jobs.toml").write_text(
        textwrap.dedent(
            """\
            [[job]]
            name = "deploy"
            schedule = "@daily"
            shell = "make deploy"
            approval = true
            approval_timeout = "30m"
            approval_default = "approve"
            approval_max_waiting = 2

            [[job]]
            name = "plain"
            schedule = "@daily"
            shell = "true"
            """
        )
    )
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    job = json.loads(cli(capsys, "jobs", "show", "deploy", "--json")[1])
    assert (job["approval"], job["approval_timeout_s"], job["approval_default"], job["approval_max_waiting"]) == (
        True,
        1800.0,
        "approve",
        2,
    )
    code, exported, _ = cli(capsys, "export")
    assert 'approval = true\napproval_timeout = "30m"\napproval_default = "approve"\napproval_max_waiting = 2' in (
        exported
    )
    assert exported.count("approval") == 4  # the plain job writes none of the defaults
    (tmp_path / "jobs.toml").write_text(exported)
    assert cli(capsys, "apply", "jobs.toml", "--dry-run")[1].endswith("no changes (2 jobs up to date)\n")


def test_a_bad_job_file_value_names_the_key(capsys, cli_db, tmp_path):
    (tmp_path / "bad.toml").write_text(
        '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\napproval = "yes"\napproval_default = "later"\n'
    )
    code, _, err = cli(capsys, "apply", "bad.toml")
    assert code == 2
    assert "approval: expected true or false" in err and "approval_default: expected one of approve, reject" in err


def test_an_edge_approval_in_a_job_file_round_trips_and_a_bad_one_names_its_key(capsys, cli_db, tmp_path):
    f = tmp_path / "jobs.toml"
    f.write_text(
        textwrap.dedent(
            """
            [[job]]
            name = "deploy"
            schedule = "@yearly"
            shell = "true"

            [[job]]
            name = "build"
            schedule = "@daily"
            shell = "true"
            on_success = [{ job = "deploy", approval = true, when = "contains:OK" }]
            """
        )
    )
    code, _, err = cli(capsys, "apply", str(f))
    assert code == 0, err
    code, out, err = cli(capsys, "export", "--json")
    assert code == 0, err
    [build] = [j for j in json.loads(out)["job"] if j["name"] == "build"]
    assert build["on_success"] == [{"job": "deploy", "when": "contains:OK", "approval": True}]
    f.write_text(f.read_text().replace("approval = true", 'approval = "yes"'))
    code, _, err = cli(capsys, "apply", str(f))
    assert code == 2 and "on_success[1].approval" in err and "true or false" in err


def test_runs_list_keeps_its_columns_for_a_waiting_run(capsys, cli_db):
    assert cli(capsys, "jobs", "add", "deploy", "--schedule", "@yearly", "--shell", "true", "--approval")[0] == 0
    assert cli(capsys, "jobs", "run", "deploy")[0] == 0
    code, out, err = cli(capsys, "runs", "list")
    assert code == 0, err
    header, line = out.splitlines()[:2]
    assert "awaiting_approval" in line
    assert line.index("manual") == header.index("TRIGGER")  # the status fits its column
