"""Calendars and timed pauses from the CLI and job files: `--skip-calendar` / `--only-calendar` and their
file keys, an unknown calendar refused in one line (exit 2, nothing saved), `jobs show` striking out the next
fires a calendar skips, `jobs pause --for` / `jobs resume`, and `cronui pause --for` shown by `status`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.helpers import cli, live_jobs


@pytest.fixture
def calendars_config(cli_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    today = dt.datetime.now(dt.UTC).date()
    first, last = today - dt.timedelta(days=1), today + dt.timedelta(days=10)
    config = tmp_path / "cronui.toml"
    config.write_text(
        f'[calendars.freeze]\nranges = [["{first}", "{last}"]]\n'
        '[calendars.de]\nholidays = "DE"\nsubdiv = "BY"\n'
        '[calendars.xmas]\ndates = ["2026-12-24", 2026-12-31]\n'
    )
    monkeypatch.setenv("CRONUI_CONFIG", str(config))
    return config


def test_skip_calendar_strikes_out_the_next_fires_and_only_calendar_keeps_them(capsys, calendars_config):
    code, _, err = cli(capsys, "jobs", "add", "a", "--schedule", "0 12 * * *", "--tz", "UTC", "--shell", "true",
                       "--skip-calendar", "freeze", "--skip-calendar", "de")  # fmt: skip
    assert code == 0, err
    code, out, err = cli(capsys, "jobs", "show", "a")
    assert code == 0, err
    fires = [line for line in out.splitlines() if "12:00 UTC" in line]
    assert len(fires) == 5 and all("~~" in f and f.endswith("(skipped: calendar)") for f in fires), out
    assert "calendars  skips freeze, de" in out
    data = json.loads(cli(capsys, "jobs", "show", "a", "--json")[1])
    assert data["skip_calendar"] == ["freeze", "de"] and data["only_calendar"] == []
    assert [f["skipped"] for f in data["next_fires"]] == ["calendar"] * 5

    assert cli(capsys, "jobs", "edit", "a", "--skip-calendar", "", "--only-calendar", "freeze")[0] == 0
    data = json.loads(cli(capsys, "jobs", "show", "a", "--json")[1])
    assert data["skip_calendar"] == [] and data["only_calendar"] == ["freeze"]
    assert [f["skipped"] for f in data["next_fires"]] == [None] * 5


def test_an_unknown_calendar_is_refused_in_one_line_and_nothing_is_saved(capsys, calendars_config, cli_db):
    code, _, err = cli(capsys, "jobs", "add", "b", "--schedule", "@daily", "--shell", "true",
                         "--skip-calendar", "holidays")  # fmt: skip
    assert code == 2
    assert err.strip().splitlines() == [
        "cronui: skip-calendar: unknown calendar 'holidays' (configured calendars: de, freeze, xmas; "
        "add it as [calendars.holidays])"
    ]
    assert "b" not in live_jobs(cli_db)
    job_file = calendars_config.parent / "jobs.toml"
    job_file.write_text('[[job]]\nname = "c"\nschedule = "@daily"\nshell = "true"\nonly_calendar = ["nope"]\n')
    code, _, err = cli(capsys, "apply", str(job_file))
    assert code == 2 and "only_calendar" in err and "unknown calendar 'nope'" in err
    assert "c" not in live_jobs(cli_db)


def test_job_file_keys_apply_and_export_round_trip(capsys, calendars_config, cli_db):
    job_file = calendars_config.parent / "jobs.toml"
    job_file.write_text(
        '[[job]]\nname = "c"\nschedule = "@daily"\nshell = "true"\nskip_calendar = ["xmas", "de"]\n'
        'only_calendar = "freeze"\n'
    )
    code, _, err = cli(capsys, "apply", str(job_file))
    assert code == 0, err
    code, out, _ = cli(capsys, "export")
    assert 'skip_calendar = ["xmas", "de"]' in out and 'only_calendar = ["freeze"]' in out


def test_a_bad_calendar_in_the_config_is_one_line(capsys, cli_db, tmp_path, monkeypatch):
    config = tmp_path / "bad.toml"
    config.write_text('[calendars.x]\nholidays = "ZZ"\n')
    monkeypatch.setenv("CRONUI_CONFIG", str(config))
    code, _, err = cli(capsys, "jobs", "list")
    assert code == 2 and "calendars.x: holidays:" in err and len(err.strip().splitlines()) == 1


def test_jobs_pause_for_and_resume(capsys, calendars_config, cli_db):
    assert cli(capsys, "jobs", "add", "p", "--schedule", "@hourly", "--shell", "true")[0] == 0
    code, out, err = cli(capsys, "jobs", "pause", "p", "--for", "2h")
    assert code == 0, err
    assert out.startswith("p paused until ")
    show = cli(capsys, "jobs", "show", "p")[1]
    assert "paused     until" in show and "left" in show
    fires = json.loads(cli(capsys, "jobs", "show", "p", "--json")[1])["next_fires"]
    assert [f["skipped"] for f in fires[:1]] == ["paused"] and fires[-1]["skipped"] is None
    for bad in (["--for", "soon"], ["--until", "2001-01-01T00:00"], []):
        code, _, err = cli(capsys, "jobs", "pause", "p", *bad)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert cli(capsys, "jobs", "resume", "p")[1].strip() == "p resumed"
    assert json.loads(cli(capsys, "jobs", "show", "p", "--json")[1])["paused_until"] is None


def test_the_scheduler_paused_for_30m_says_until_when(capsys, calendars_config):
    code, out, err = cli(capsys, "pause", "--for", "30m")
    assert code == 0, err
    assert out.startswith("paused until ")
    status = json.loads(cli(capsys, "status", "--json")[1])
    assert status["paused"] is True and status["paused_until"] is not None
    assert "PAUSED until" in cli(capsys, "status")[1]
    assert cli(capsys, "pause")[0] == 0  # without a time: until `cronui resume`, as before
    assert json.loads(cli(capsys, "status", "--json")[1])["paused_until"] is None
    assert cli(capsys, "resume")[0] == 0
    assert json.loads(cli(capsys, "status", "--json")[1])["paused"] is False
