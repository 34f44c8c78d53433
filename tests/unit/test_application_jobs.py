"""The jobs' use cases as any face calls them: what a caller gets back, and the refusal (its line and the
field it names) for what is wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cronui.application import jobs
from cronui.application.context import Cronui
from cronui.application.errors import CONFLICTS, Invalid, NameTaken, problems
from cronui.application.shapes import job_json
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control, NotFound
from cronui.jobfile import read_jobfile
from cronui.jobs import JobError
from cronui.model import RunStatus, TargetKind
from cronui.secrets import MASK
from cronui.store.sqlite import SQLiteStore
from tests.helpers import ms


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Cronui]:
    store = SQLiteStore(settings.db)
    await store.open()
    clock = FakeClock(ms("2026-03-02T08:59:30Z"))
    try:
        yield Cronui(settings, store, Control(store, settings, clock), clock)
    finally:
        await store.close()


async def test_an_entry_is_added_with_the_job_files_rules_and_says_it_came_from_the_api(app: Cronui) -> None:
    job = await jobs.add_entry(app, {"name": "backup", "schedule": "30 2 * * *", "shell": "restic backup ~"})
    assert (job.name, job.kind, job.source, job.enabled) == ("backup", TargetKind.SHELL, "api", True)
    assert [j.name for j in await jobs.job_heads(app)] == ["backup"]
    assert (await jobs.get_job(app, "backup")).next_run_at is not None


async def test_a_bad_entry_names_every_problem_and_adds_nothing(app: Cronui) -> None:
    entry = {"name": "x", "schedule": "every 5m", "shell": "true", "retries": -1, "timeout": "soon", "colour": 1}
    with pytest.raises(Invalid) as caught:
        await jobs.add_entry(app, entry)
    fields = {p["field"] for p in problems(caught.value)}
    assert fields == {"colour", "retries", "timeout"}
    assert str(caught.value).endswith("(and 2 more)") and len(str(caught.value).splitlines()) == 1
    assert await jobs.list_jobs(app) == []


async def test_a_name_in_use_is_a_conflict_naming_the_field(app: Cronui) -> None:
    await jobs.add_entry(app, {"name": "a", "schedule": "every 5m", "shell": "echo first"})
    await jobs.add_entry(app, {"name": "b", "schedule": "every 5m", "shell": "true"})
    for attempt in (
        jobs.add_entry(app, {"name": "a", "schedule": "every 5m", "shell": "echo second"}),
        jobs.edit_entry(app, "b", {"name": "a"}),
    ):
        with pytest.raises(NameTaken) as caught:
            await attempt
        assert isinstance(caught.value, CONFLICTS)
        assert str(caught.value) == "name: a job named 'a' already exists"
        assert problems(caught.value) == [{"field": "name", "problem": "exists"}]
    assert (await jobs.get_job(app, "a")).target.command == "echo first"  # type: ignore[union-attr]


async def test_a_change_sent_back_masked_keeps_the_stored_secret(app: Cronui) -> None:
    secret = "s3cr3t-Value-0123456789abcdef"
    await jobs.add_entry(
        app, {"name": "sync", "schedule": "every 1h", "shell": "sync.sh", "env": {"API_TOKEN": secret, "MODE": "a"}}
    )
    shown = job_json(await jobs.get_job(app, "sync"), full=True)["target"]["env"]
    assert shown == {"API_TOKEN": MASK, "MODE": "a"}
    job = await jobs.edit_entry(app, "sync", {"env": {**shown, "MODE": "b"}})
    assert job.target.env == {"API_TOKEN": secret, "MODE": "b"}  # type: ignore[union-attr]
    job = await jobs.edit_entry(app, "sync", {"env": {"API_TOKEN": None}})  # null removes a key
    assert job.target.env == {"MODE": "b"}  # type: ignore[union-attr]


async def test_a_change_keeps_what_runs_made_of_the_job(app: Cronui) -> None:
    old = await jobs.add_entry(app, {"name": "n", "schedule": "every 1h", "shell": "true"})
    job = await jobs.edit_entry(app, "n", {"schedule": "every 2h", "retries": 3})
    assert (job.id, job.created_at, job.schedule, job.max_retries) == (old.id, old.created_at, "every 2h", 3)
    with pytest.raises(Invalid) as caught:
        await jobs.edit_entry(app, "n", {"retries": -1})
    assert problems(caught.value)[0]["field"] == "retries"
    assert (await jobs.get_job(app, "n")).max_retries == 3


async def test_a_missing_job_is_said_by_name(app: Cronui) -> None:
    for attempt in (
        jobs.get_job(app, "nope"),
        jobs.show_job(app, "nope"),
        jobs.edit_entry(app, "nope", {}),
        jobs.remove_job(app, "nope"),
        jobs.set_enabled(app, "nope", True),
        jobs.run_now(app, "nope"),
    ):
        with pytest.raises(NotFound, match=r"^no job named 'nope'$"):
            await attempt


async def test_a_new_job_has_the_settings_defaults_and_a_bad_value_names_its_field(app: Cronui) -> None:
    job = jobs.new_job(app, "cli-made", "@daily", TargetKind.SHELL, enabled=False, source="cli")
    assert (job.timezone, job.timeout_s, job.misfire_grace_s) == (
        app.settings.timezone,
        app.settings.default_timeout,
        app.settings.misfire_grace,
    )
    job.target.command = "true"  # type: ignore[union-attr]
    job.max_retries = -1
    assert [e.field for e in await jobs.job_problems(app, job)] == ["retries"]
    with pytest.raises(JobError) as caught:
        await jobs.add_job(app, job)
    assert caught.value.field == "retries" and problems(caught.value)[0]["field"] == "retries"
    assert await jobs.list_jobs(app) == []


async def test_enable_run_now_and_remove(app: Cronui) -> None:
    added = await jobs.add_entry(app, {"name": "j", "schedule": "every 1h", "shell": "true", "enabled": False})
    assert added.next_run_at is None
    job = await jobs.set_enabled(app, "j", True)
    assert job.enabled and job.next_run_at is not None
    run = await jobs.run_now(app, "j")
    assert (run.job_name, run.status) == ("j", RunStatus.PENDING)
    report = await jobs.show_job(app, "j")
    assert report["name"] == "j" and set(report["stats"]) == {"all", "last_7d", "last_30d"}
    job, details = await jobs.job_details(app, "j")
    assert details == report and "budget" not in details  # a shell job has no budget nor session
    assert job.id is not None
    assert (await jobs.remove_job(app, "j")).name == "j"
    assert await jobs.job_by_id(app, job.id) is None
    assert await jobs.list_jobs(app) == []


async def test_a_job_file_is_planned_then_applied_once(app: Cronui, tmp_path: Path) -> None:
    path = tmp_path / "jobs.toml"
    path.write_text('[[job]]\nname = "a"\nschedule = "every 1h"\nshell = "true"\n')
    await jobs.add_entry(app, {"name": "by-hand", "schedule": "every 1h", "shell": "true"})
    jobfile = read_jobfile(str(path), app.settings, app.now_ms())
    plan = await jobs.apply_jobfile(app, jobfile, prune=False, dry_run=True)
    assert [j.name for j in plan.creates] == ["a"]
    assert [j.name for j in await jobs.list_jobs(app)] == ["by-hand"]  # a dry run writes nothing
    await jobs.apply_jobfile(app, jobfile, prune=False, dry_run=False)
    assert sorted(j.name for j in await jobs.list_jobs(app)) == ["a", "by-hand"]
    again = await jobs.apply_jobfile(app, jobfile, prune=False, dry_run=False)
    assert again.empty and again.unchanged == 1
