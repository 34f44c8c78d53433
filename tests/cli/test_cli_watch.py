"""Expectations and alert routing of a job from the CLI and job files: flags and keys, refusals that name the
field (exit 2, nothing changed), `jobs show` marking what comes from `[alerts]`, export writing only what
the job sets, each job's health in `jobs list` and `cronui status --check`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import cli


@pytest.fixture
def alerts_config(cli_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "cronui.toml"
    config.write_text('[alerts]\nlate = "5m"\nrate = "90/10"\nto = ["json://127.0.0.1:9/alerts"]\n')
    monkeypatch.setenv("CRONUI_CONFIG", str(config))
    return config


def _add(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    return cli(capsys, "jobs", "add", "nightly", "--schedule", "@daily", "--shell", "true", *flags)


def test_flags_set_expectations_and_show_marks_what_is_inherited(capsys, alerts_config: Path):
    code, _, err = _add(capsys, "--alert-overrun", "2h", "--alert-short", "10s", "--alert-on", "late,overrun")
    assert code == 0, err
    code, out, err = cli(capsys, "jobs", "show", "nightly", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["alerts"] == {
        "late_s": 300.0,
        "overrun_s": 7200.0,
        "short_s": 10.0,
        "no_success_s": None,
        "rate": "90/10",
        "on": ["late", "overrun"],
        "to": ["json://127.0.0.1:9/••••••••"],  # masked: a path may hold a token
        "inherited": ["late_s", "rate", "to"],
        "from_grace": [],
    }
    assert data["health"] == "never_ran"
    assert (data["alert_overrun_s"], data["alert_late_s"], data["alert_on"]) == (7200.0, None, ["late", "overrun"])
    code, out, _ = cli(capsys, "jobs", "show", "nightly")
    assert "late 5m (from [alerts])" in out and "overrun 2h ·" in out and "rate 90/10 (from [alerts])" in out
    # an empty value clears the job's own back to the default
    code, _, err = cli(capsys, "jobs", "edit", "nightly", "--alert-overrun", "", "--alert-on", "", "--alert-rate", "50")
    assert code == 0, err
    data = json.loads(cli(capsys, "jobs", "show", "nightly", "--json")[1])
    assert (data["alerts"]["overrun_s"], data["alerts"]["on"], data["alerts"]["rate"]) == (None, [], "50/20")
    assert data["alerts"]["inherited"] == ["late_s", "to"]


def test_show_says_a_checks_grace_is_its_late_span_not_alerts_late(capsys, alerts_config: Path):
    code, _, err = cli(capsys, "jobs", "add", "backup", "--check", "--schedule", "@daily", "--grace", "30m")
    assert code == 0, err
    code, out, err = cli(capsys, "jobs", "show", "backup")
    assert code == 0, err
    [line] = [ln for ln in out.splitlines() if ln.strip().startswith("alerts") and "late" in ln]
    assert "late 30m (the check's grace)" in line and "(from [alerts])" not in line.split("·")[0], line
    alerts = json.loads(cli(capsys, "jobs", "show", "backup", "--json")[1])["alerts"]
    assert (alerts["late_s"], alerts["from_grace"], alerts["inherited"]) == (1800.0, ["late_s"], ["rate", "to"])
    # its own --alert-late wins over its grace, and says so by saying nothing
    code, _, err = cli(capsys, "jobs", "edit", "backup", "--alert-late", "1h")
    assert code == 0, err
    alerts = json.loads(cli(capsys, "jobs", "show", "backup", "--json")[1])["alerts"]
    assert (alerts["late_s"], alerts["from_grace"]) == (3600.0, [])
    assert "late 1h ·" in cli(capsys, "jobs", "show", "backup")[1]


def test_export_writes_only_what_the_job_sets_and_apply_reads_it_back(capsys, alerts_config: Path, tmp_path: Path):
    code, _, err = _add(capsys, "--alert-no-success", "1d", "--alert-rate", "80/5", "--alert-on", "failure")
    assert code == 0, err
    code, out, err = cli(capsys, "export")
    assert code == 0, err
    assert 'alert_no_success = "1d"' in out and 'alert_rate = "80/5"' in out and 'alert_on = ["failure"]' in out
    assert "alert_late" not in out  # inherited from [alerts]: not the job's own
    (tmp_path / "jobs.toml").write_text(out)
    code, out, err = cli(capsys, "apply", "jobs.toml", "--dry-run")
    assert code == 0, err
    assert "1 to change (1 adopted)" in out, out + err  # export -> apply changes only its source


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (("--alert-late", "soon"), "--alert-late"),
        (("--alert-overrun", "0"), "--alert-overrun"),
        (("--alert-rate", "120"), "--alert-rate"),
        (("--alert-rate", "90/0"), "--alert-rate"),
        (("--alert-on", "lateness"), "--alert-on"),
        (("--alert-to", "nosuch://x"), "alert-to"),
        (("--deliver-to", "https://example.com/h", "--deliver-to", "bogus://y"), "deliver-to"),
    ],
)
def test_refusals_exit_2_naming_the_field(capsys, cli_db: Path, flags: tuple[str, ...], field: str):
    code, out, err = _add(capsys, *flags)
    assert code == 2 and out == ""
    assert field in err and len(err.strip().splitlines()) == 1, err
    assert cli(capsys, "jobs", "list", "--json")[1].strip() == "[]"  # nothing changed


def test_channels_repeat_and_take_any_apprise_url(capsys, cli_db: Path):
    code, _, err = _add(capsys, "--alert-to", "json://127.0.0.1:9/a", "--alert-to", "https://hooks.example.com/x")
    assert code == 0, err
    con = sqlite3.connect(cli_db)
    (delivery,) = con.execute("SELECT delivery FROM jobs").fetchone()
    assert json.loads(delivery)["alert_to"] == "json://127.0.0.1:9/a https://hooks.example.com/x"
    code, out, err = cli(capsys, "export")
    assert code == 0, err
    Path("jobs.toml").write_text(out)
    code, out, err = cli(capsys, "apply", "jobs.toml", "--dry-run")
    assert code == 0 and "1 to change (1 adopted)" in out, out + err  # export -> apply changes only its source


def test_job_file_keys(capsys, cli_db: Path, tmp_path: Path):
    (tmp_path / "jobs.toml").write_text(
        '[[job]]\nname = "backup"\nschedule = "@daily"\nshell = "true"\nalert_late = "10m"\nalert_short = 5\n'
        'alert_rate = 95\nalert_on = ["late", "short"]\nalert_to = ["mailto://ops@example.com", "json://h/x"]\n'
    )
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    data = json.loads(cli(capsys, "jobs", "show", "backup", "--json")[1])
    assert data["alerts"]["late_s"] == 600.0 and data["alerts"]["short_s"] == 5.0 and data["alerts"]["rate"] == "95/20"
    assert data["alerts"]["on"] == ["late", "short"] and data["alerts"]["inherited"] == []
    (tmp_path / "bad.toml").write_text('[[job]]\nname = "b"\nschedule = "@daily"\nshell = "true"\nalert_rate = "x"\n')
    code, _, err = cli(capsys, "apply", "bad.toml")
    assert code == 2 and "alert_rate" in err


def test_health_in_list_and_status_check(capsys, cli_db: Path):
    assert _add(capsys)[0] == 0
    assert cli(capsys, "jobs", "add", "idle", "--schedule", "@daily", "--shell", "true", "--disabled")[0] == 0
    code, out, _ = cli(capsys, "jobs", "list")
    assert "HEALTH" in out.splitlines()[0] and "never_ran" in out and "paused" in out
    listed = {j["name"]: j["health"] for j in json.loads(cli(capsys, "jobs", "list", "--json")[1])}
    assert listed == {"nightly": "never_ran", "idle": "paused"}
    code, out, _ = cli(capsys, "status", "--check")
    assert (code, out) == (1, "nightly never_ran\n")  # a disabled job is not checked
    con = sqlite3.connect(cli_db)
    con.execute("UPDATE jobs SET last_status = 'succeeded'")
    con.commit()
    code, out, _ = cli(capsys, "status", "--check")
    assert code == 0 and out.startswith("ok")
    con.execute("UPDATE jobs SET last_status = 'failed', consecutive_failures = 2 WHERE name = 'nightly'")
    con.execute(
        "INSERT INTO alert_episodes (subject, kind, episode, job_id, text, opened_at) "
        "VALUES ('job:1', 'late', '1', 1, 't', 1)"
    )
    con.commit()
    code, out, _ = cli(capsys, "status", "--check", "--json")
    assert code == 1 and json.loads(out) == [{"name": "nightly", "health": "failing"}]
    con.execute("UPDATE jobs SET last_status = 'succeeded', consecutive_failures = 0")  # a run got through
    con.commit()
    assert cli(capsys, "status", "--check")[1] == "nightly late\n"
