"""Errors in the user's own words, all at once: a zone typed as a city or misspelt gets the IANA name it
means wherever a zone is typed (the CLI, job files, the config); a bad zone does not hide the other
problems of a job; a bad status names the status given, not the list argparse collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronui.config import ConfigError, load_settings
from cronui.jobs import job_errors
from cronui.schedule import ScheduleError, get_zone
from cronui.schedule.zones import suggest_zone
from tests.helpers import cli, make_job


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("Berlin", "Europe/Berlin"),
        ("berlin", "Europe/Berlin"),
        ("Europe/Berln", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ("new york", "America/New_York"),
        ("New_York", "America/New_York"),
        ("Amerca/Chicago", "America/Chicago"),
        ("Tokio", "Asia/Tokyo"),
        ("Sao Paulo", "America/Sao_Paulo"),
    ],
)
def test_a_city_or_a_typo_gets_the_zone_it_means(typed: str, meant: str) -> None:
    assert suggest_zone(typed) == meant
    with pytest.raises(ScheduleError) as info:
        get_zone(typed)
    assert str(info.value) == f"unknown time zone: {typed!r} (did you mean {meant!r}?)"


@pytest.mark.parametrize("typed", ["Mars/Base", "", "x" * 200, "Nowhere/City"])
def test_nothing_close_gets_no_suggestion(typed: str) -> None:
    assert suggest_zone(typed) is None


def test_cli_suggests_the_zone(capsys: pytest.CaptureFixture[str], cli_db: Path) -> None:
    for argv in (
        ["jobs", "add", "x", "--schedule", "@daily", "--tz", "Berlin", "--shell", "true"],
        ["next", "@daily", "--tz", "Europe/Berln"],
    ):
        code, out, err = cli(capsys, *argv)
        assert code == 2 and out == ""
        assert "did you mean 'Europe/Berlin'?" in err and len(err.strip().splitlines()) == 1, err


def test_a_job_file_suggests_the_zone_and_lists_the_schedule_too(
    capsys: pytest.CaptureFixture[str], cli_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.toml"
    path.write_text('[[job]]\nname = "x"\nschedule = "0 61 * * *"\ntimezone = "Berlin"\nshell = "true"\n')
    code, _, err = cli(capsys, "apply", str(path))
    assert code == 2
    assert "timezone: unknown time zone: 'Berlin' (did you mean 'Europe/Berlin'?)" in err
    assert "schedule: hour field: 61 is out of range 0-23" in err, "a bad zone hides no other problem"


def test_the_config_suggests_the_zone(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('timezone = "Berlin"\n')
    with pytest.raises(ConfigError, match=r"did you mean 'Europe/Berlin'\?"):
        load_settings(cfg, env={})


def test_a_bad_zone_hides_no_other_problem_of_a_job() -> None:
    job = make_job("x", schedule="0 61 * * *", timezone="Berlin", command="")
    fields = [e.field for e in job_errors(job, 0)]
    assert fields[:2] == ["timezone", "schedule"] and "shell" in fields, fields
    assert job.schedule == "0 61 * * *", "left as written"


def test_an_unknown_status_names_the_status_given(capsys: pytest.CaptureFixture[str], cli_db: Path) -> None:
    code, out, err = cli(capsys, "runs", "list", "--status", "failed", "--status", "bogus")
    assert code == 2 and out == ""
    assert err.strip().endswith("got 'bogus'"), err
    assert "[" not in err
