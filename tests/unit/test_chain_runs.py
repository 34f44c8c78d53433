"""Chains that would multiply runs are refused wherever a job is saved: a job file, the CLI, the form."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cronui.jobs import JobError
from tests.helpers import cli, make_job


def _rows(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    finally:
        con.close()


def _ladder_toml(rungs: int) -> str:
    """a0 -> l1, r1 -> a1 -> l2, r2 -> a2 ...: one run of a0 starts a{rungs} 2**rungs times."""
    parts = []
    for i in range(rungs):
        parts.append(
            f'[[job]]\nname = "a{i}"\nschedule = "@daily"\nshell = "true"\non_success = ["l{i + 1}", "r{i + 1}"]\n'
        )
        parts.append(f'[[job]]\nname = "l{i + 1}"\nschedule = "@daily"\nshell = "true"\non_success = ["a{i + 1}"]\n')
        parts.append(f'[[job]]\nname = "r{i + 1}"\nschedule = "@daily"\nshell = "true"\non_failure = ["a{i + 1}"]\n')
    parts.append(f'[[job]]\nname = "a{rungs}"\nschedule = "@daily"\nshell = "true"\n')
    return "\n".join(parts)


def test_a_job_file_whose_chains_multiply_runs_is_refused_and_changes_nothing(capsys, cli_db, tmp_path):
    (tmp_path / "six.toml").write_text(_ladder_toml(6), encoding="utf-8")
    assert cli(capsys, "apply", "six.toml")[0] == 0  # 64 runs of a6 from one run of a0: allowed
    before = _rows(cli_db)
    (tmp_path / "seven.toml").write_text(_ladder_toml(7), encoding="utf-8")
    code, out, err = cli(capsys, "apply", "seven.toml")
    assert (code, out) == (2, "")
    assert err == (
        "cronui: seven.toml:1: job 'a0': chain: one run of 'a0' could start 'a7' 128 times through its chains "
        "(at most 64: each path of chains from 'a0' to 'a7' starts it once)\n"
    )
    assert _rows(cli_db) == before


def test_an_edit_that_adds_a_rung_is_refused_naming_the_job_at_the_top(capsys, cli_db, tmp_path):
    (tmp_path / "six.toml").write_text(_ladder_toml(6), encoding="utf-8")
    assert cli(capsys, "apply", "six.toml")[0] == 0
    for argv in (
        ("a7",),
        ("l7", "--on-success", "a7"),
        ("r7", "--on-failure", "a7"),
    ):
        assert cli(capsys, "jobs", "add", *argv, "--schedule", "@daily", "--shell", "true")[0] == 0
    before = _rows(cli_db)
    code, out, err = cli(capsys, "jobs", "edit", "a6", "--on-success", "l7", "--on-success", "r7")
    assert (code, out) == (2, "")
    assert err.startswith("cronui: chain: one run of 'a0' could start 'a7' 128 times through its chains"), err
    assert len(err.splitlines()) == 1
    assert _rows(cli_db) == before


async def test_the_form_lists_the_refusal_and_saving_is_refused(engine):
    # c -> m0..m64 -> d: 65 paths from c to d, so one run of c would start d 65 times
    await engine.control.add_job(make_job("c", "@daily"))
    await engine.control.add_job(make_job("d", "@daily"))
    for i in range(65):
        await engine.control.add_job(make_job(f"m{i}", "@daily", on_success=["d"]))
    c = await engine.control.job("c")
    c.on_success = [f"m{i}" for i in range(65)]
    problems = await engine.control.problems(c)
    assert [(e.field, e.problem) for e in problems] == [
        (
            "chain",
            "one run of 'c' could start 'd' 65 times through its chains (at most 64: each path of chains "
            "from 'c' to 'd' starts it once)",
        )
    ]
    with pytest.raises(JobError, match=r"^chain: one run of 'c' could start 'd' 65 times"):
        await engine.control.update_job(c)
    assert (await engine.control.job("c")).on_success == []
