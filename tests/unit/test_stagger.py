"""--stagger: a job's fires moved by a fixed offset inside a window, chosen from its name."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from cronui.schedule import ScheduleError, describe, parse
from cronui.schedule.syntax import stagger
from cronui.timefmt import iso_utc
from tests.helpers import cli, ms


def fires(expr: str, zone: str, after: str, n: int = 3) -> list[str | None]:
    return [iso_utc(t) for t in parse(expr, zone).next_n(ms(after), n)]


def test_an_offset_moves_every_fire_of_a_repeating_schedule():
    assert fires("0 * * * * +137s", "UTC", "2026-03-02T08:59:30Z") == [
        "2026-03-02T09:02:17.000Z",
        "2026-03-02T10:02:17.000Z",
        "2026-03-02T11:02:17.000Z",
    ]
    # a fire whose unmoved slot has passed but whose moved one has not is still ahead
    assert fires("0 * * * * +137s", "UTC", "2026-03-02T09:01:00Z", 1) == ["2026-03-02T09:02:17.000Z"]
    assert fires("every 15m +2m", "UTC", "2026-03-02T09:00:00Z", 2) == [
        "2026-03-02T09:02:00.000Z",
        "2026-03-02T09:17:00.000Z",
    ]
    # in a zone, across the spring-forward night: the wall-clock schedule's fire, then the offset
    after = ms("2026-03-28T12:00:00Z")
    unmoved = parse("30 2 * * *", "Europe/Berlin").next_n(after, 2)
    assert parse("30 2 * * * +60s", "Europe/Berlin").next_n(after, 2) == [t + 60_000 for t in unmoved]
    assert describe("0 * * * * +137s").endswith(", 2m17s later (staggered)")


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("at 2026-12-24T09:00 +5m", "runs once: an offset (+300s) is for repeating schedules"),
        ("0 * * * * +0s", "an offset is more than 0 and less than a day"),
        ("0 * * * * +24h", "an offset is more than 0 and less than a day"),
        ("0 * * * * +5s +5s", "has an offset already"),
    ],
)
def test_bad_offsets_are_refused(expr, problem):
    with pytest.raises(ScheduleError, match=problem.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        parse(expr, "UTC")


def test_stagger_is_fixed_per_name_and_spreads_names_over_the_window():
    assert stagger("0 * * * *", "digest", 300) == stagger("0 * * * *", "digest", 300)
    offsets = []
    for i in range(50):
        expr = stagger("0 * * * *", f"job-{i}", 300)
        offset = parse(expr, "UTC").next_after(ms("2026-03-02T08:59:59Z")) - ms("2026-03-02T09:00:00Z")
        assert 0 <= offset < 300_000
        offsets.append(offset)
    assert len(set(offsets)) >= 40  # fifty top-of-hour jobs no longer fire in the same second
    moved = stagger("0 * * * *", "digest", 300)
    assert stagger(moved, "digest", 600).count("+") == 1  # a new window replaces the offset
    assert stagger(moved, "digest", 0) == "0 * * * *"


def add(capsys, *argv: str) -> tuple[int, dict, str]:
    code, out, err = cli(capsys, "jobs", "add", "digest", "--shell", "true", *argv, "--json")
    return code, (json.loads(out) if code == 0 else {}), err


def test_stagger_from_the_cli(capsys, cli_db):
    code, job, err = add(capsys, "--schedule", "0 * * * *", "--stagger", "5m")
    assert code == 0, err
    assert job["schedule"] == stagger("0 * * * *", "digest", 300) and job["schedule"].startswith("0 * * * * +")
    code, out, err = cli(capsys, "jobs", "edit", "digest", "--stagger", "", "--json")
    assert code == 0 and json.loads(out)["schedule"] == "0 * * * *", err


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--schedule", "at 2099-01-01T00:00", "--stagger", "5m"], "stagger: 'at 2099-01-01T00:00:00' runs once"),
        (["--schedule", "@hourly", "--stagger", "2d"], "stagger: a stagger window is at least 1s and less than a day"),
        (["--schedule", "@hourly", "--stagger", "soon"], "--stagger: expected a duration"),
    ],
)
def test_bad_stagger_from_the_cli(capsys, cli_db, argv, problem):
    code, _, err = add(capsys, *argv)
    assert code == 2 and problem in err and len(err.strip().splitlines()) == 1, err


def test_stagger_in_a_job_file(capsys, cli_db, tmp_path: Path, monkeypatch):
    text = '[[job]]\nname = "digest"\nschedule = "0 * * * *"\nstagger = "5m"\nshell = "true"\n'
    (tmp_path / "jobs.toml").write_text(text)
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    exported = cli(capsys, "export")[1]
    assert tomllib.loads(exported)["job"][0]["schedule"] == stagger("0 * * * *", "digest", 300)
    code, out, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0 and "no changes" in out, out + err
    monkeypatch.setenv("CRONUI_DB", str(tmp_path / "fresh.db"))  # the export, applied elsewhere, is the same job
    (tmp_path / "export.toml").write_text(exported)
    assert cli(capsys, "apply", "export.toml")[0] == 0
    assert cli(capsys, "export")[1] == exported
