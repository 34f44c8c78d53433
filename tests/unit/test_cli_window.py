"""`jobs add` with `--schedule` given twice and `--starts` / `--ends`, and what `jobs show` says of them."""

from __future__ import annotations

import json

from tests.helpers import cli, live_jobs


def test_several_schedules_and_a_window_from_the_cli(capsys, cli_db):
    code, out, err = cli(
        capsys, "jobs", "add", "twice", "--schedule", "30 2 * * *", "--schedule", "0 9 * * 1-5",
        "--tz", "Europe/Berlin", "--starts", "2030-03-29", "--ends", "2030-12-31T18:00", "--shell", "true",
    )  # fmt: skip
    assert (code, err) == (0, "")
    row = live_jobs(cli_db)["twice"]
    assert json.loads(row["schedule"]) == ["30 2 * * *", "0 9 * * 1-5"] and row["starts_at"] and row["ends_at"]
    code, out, _ = cli(capsys, "jobs", "show", "twice")
    assert "At 02:30" in out and "At 09:00, Monday through Friday" in out
    assert "window     from 2030-03-29T00:00 until 2030-12-31T18:00 · starts in" in out
    assert "2030-03-31 03:00:00+02:00  (02:30 does not exist on 31 Mar: moved)" in out
    data = json.loads(cli(capsys, "jobs", "show", "twice", "--json")[1])
    assert data["schedule"] == ["30 2 * * *", "0 9 * * 1-5"]
    assert (data["starts"], data["ends"]) == ("2030-03-29T00:00", "2030-12-31T18:00")
    assert data["next_runs"][3]["note"] == "02:30 does not exist on 31 Mar: moved"
    code, out, _ = cli(capsys, "jobs", "edit", "twice", "--ends", "", "--schedule", "0 9 * * *")
    assert code == 0
    assert live_jobs(cli_db)["twice"]["schedule"] == "0 9 * * *" and live_jobs(cli_db)["twice"]["ends_at"] is None


def test_bad_window_values_exit_2_and_change_nothing(capsys, cli_db):
    base = ["jobs", "add", "w", "--schedule", "@daily", "--shell", "true"]
    code, _, err = cli(capsys, *base, "--starts", "soon")
    assert code == 2 and "starts: expected a date and time such as 2026-04-01T09:00, got 'soon'" in err
    code, _, err = cli(capsys, *base, "--starts", "2031-01-01", "--ends", "2030-01-01")
    assert code == 2 and "end comes before its start" in err and "Traceback" not in err
    code, _, err = cli(capsys, *base, "--schedule", "at 2031-01-01T09:00")
    assert code == 2 and "runs once" in err
    assert live_jobs(cli_db) == {}


def test_a_job_past_its_end_is_kept_and_schedules_nothing(capsys, cli_db):
    code, out, err = cli(
        capsys, "jobs", "add", "old", "--schedule", "@hourly", "--ends", "2020-01-01", "--shell", "true"
    )
    assert (code, err) == (0, "") and "next run never" in out
    assert live_jobs(cli_db)["old"]["next_run_at"] is None
    assert "ended" in cli(capsys, "jobs", "show", "old")[1]
