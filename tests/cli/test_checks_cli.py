"""Checks on the command line: `jobs add --check`, `cronui ping`, `cronui exec NAME -- CMD` (it runs CMD, reports
its start and end, and exits with its code, with no daemon running), job files and `import crontab --as-checks`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cronui.main import main
from tests.helpers import cli

CRONTAB = Path(__file__).parent.parent / "unit" / "data" / "crontab.txt"


def runs(capsys: pytest.CaptureFixture[str], name: str) -> list[dict]:
    code, out, err = cli(capsys, "runs", "list", "--job", name, "--json")
    assert code == 0, err
    return json.loads(out)


def test_a_check_is_added_shown_and_pinged(capsys: pytest.CaptureFixture[str], cli_db: Path) -> None:
    code, out, err = cli(capsys, "jobs", "add", "backup", "--check", "--schedule", "0 3 * * *", "--grace", "30m")
    assert code == 0, err
    code, out, _ = cli(capsys, "jobs", "show", "backup")
    assert "check      watched, not run: a slot with no ping within 30m" in out
    shown = json.loads(cli(capsys, "jobs", "show", "backup", "--json")[1])
    assert (shown["check"], shown["grace_s"], shown["target"]["command"]) == (True, 1800.0, "")
    code, out, _ = cli(capsys, "ping", "backup", "--start")
    assert code == 0 and out.startswith("recorded start of backup (run #1, running)")
    code, out, _ = cli(capsys, "ping", "backup", "--exit", "0", "--message", "12 GB", "--json")
    run = json.loads(out)
    assert (run["id"], run["status"], run["trigger"], run["exit_code"], run["output"]) == (
        1,
        "succeeded",
        "ping",
        0,
        "12 GB",
    )
    code, out, _ = cli(capsys, "ping", "backup", "--fail")
    assert [r["status"] for r in runs(capsys, "backup")] == ["failed", "succeeded"]


def test_bad_pings_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], cli_db: Path) -> None:
    cli(capsys, "jobs", "add", "backup", "--check", "--schedule", "@daily")
    cli(capsys, "jobs", "add", "plain", "--schedule", "@daily", "--shell", "true")
    for argv, said in (
        (["ping", "backup", "--exit", "300"], "--exit: expected an exit code 0-255"),
        (["ping", "nosuch"], "no job named 'nosuch'"),
        (["ping", "plain"], "plain is not a check"),
        (["jobs", "run", "backup"], "backup is a check"),
        (["jobs", "add", "x", "--check", "--schedule", "@daily", "--http", "https://example.com"], "check"),
        (["jobs", "add", "y", "--check", "--schedule", "@daily", "--grace", "0"], "--grace"),
    ):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and said in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert runs(capsys, "backup") == []


def test_exec_runs_the_command_reports_it_and_exits_with_its_code(
    capfd: pytest.CaptureFixture[str], cli_db: Path
) -> None:
    assert main(["jobs", "add", "backup", "--check", "--schedule", "0 3 * * *"]) == 0
    code = main(["exec", "backup", "--", "sh", "-c", "echo copying; echo oops >&2; exit 3"])
    out, err = capfd.readouterr()
    assert code == 3
    assert "copying" in out and "oops" in err, "its output passes through"
    assert main(["runs", "list", "--job", "backup", "--json"]) == 0
    [run] = json.loads(capfd.readouterr().out)
    assert (run["status"], run["exit_code"], run["trigger"]) == ("failed", 3, "ping")
    assert "copying" in run["output"] and "oops" in run["output"] and run["duration_ms"] >= 0
    assert main(["exec", "backup", "--", "true"]) == 0


def test_exec_of_a_command_that_cannot_start_or_a_job_that_is_gone_still_reports_and_exits(
    capfd: pytest.CaptureFixture[str], cli_db: Path
) -> None:
    assert main(["jobs", "add", "backup", "--check", "--schedule", "0 3 * * *"]) == 0
    assert main(["exec", "backup", "--", "/no/such/program"]) == 127
    assert "cannot run '/no/such/program'" in capfd.readouterr().err
    assert main(["exec", "nosuch", "--", "sh", "-c", "exit 5"]) == 5, "the command runs all the same"
    assert "could not record its start" in capfd.readouterr().err
    assert main(["exec", "backup"]) == 2


def test_a_job_file_check_round_trips(capsys: pytest.CaptureFixture[str], cli_db: Path, tmp_path: Path) -> None:
    (tmp_path / "jobs.toml").write_text(
        '[[job]]\nname = "backup"\nschedule = "0 3 * * *"\ncheck = true\ngrace = "15m"\n'
        '[[job]]\nname = "kept"\nschedule = "0 4 * * *"\ncheck = true\nshell = "restic forget"\n'
    )
    code, out, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    code, out, _ = cli(capsys, "export")
    assert 'check = true\ngrace = "15m"' in out and 'shell = "restic forget"' in out
    (tmp_path / "jobs.toml").write_text(out)
    code, out, _ = cli(capsys, "apply", "jobs.toml")
    assert code == 0 and "no changes (2 jobs up to date)" in out, out
    (tmp_path / "bad.toml").write_text('[[job]]\nname = "b"\nschedule = "0 3 * * *"\ncheck = true\ngrace = "-1"\n')
    code, _, err = cli(capsys, "apply", "bad.toml")
    assert code == 2 and "grace" in err


def test_import_crontab_as_checks_says_how_to_prefix_each_line(
    capsys: pytest.CaptureFixture[str], cli_db: Path
) -> None:
    code, out, err = cli(capsys, "import", "crontab", str(CRONTAB), "--as-checks", "--grace", "20m")
    assert code == 0, err
    assert f"imported 6 checks from {CRONTAB}" in out
    assert "note: cron has no time limit" not in out
    assert "  30 2 * * * cronui exec backup-sh -- /usr/local/bin/backup.sh --full >> /var/log/backup.log 2>&1" in (
        out.splitlines()
    )
    shown = json.loads(cli(capsys, "jobs", "show", "report-sh", "--json")[1])
    assert (shown["check"], shown["grace_s"]) == (True, 1200.0)
    code, _, err = cli(capsys, "import", "crontab", str(CRONTAB), "--grace", "5m")
    assert code == 2 and "--as-checks" in err
