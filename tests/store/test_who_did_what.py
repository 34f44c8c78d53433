"""Who did what, through the use cases every face calls, on both backends: a job's owner (set by whoever
created it — the CLI, a job file, the API — never by an edit), run now's trigger and `requested_by` by
where the caller came from, and the audit log: one row per change, written with the change, secrets
masked, pruned at `[retention] audit_days`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cronui.application import audit, jobs
from cronui.application.caller import Caller, Scope, local
from cronui.application.context import Cronui
from cronui.application.errors import Invalid
from cronui.config import Settings
from cronui.engine.clock import FakeClock
from cronui.engine.control import Control
from cronui.engine.retention import Pruner
from cronui.jobfile import read_jobfile
from cronui.jobs import JobError
from cronui.model import Trigger
from cronui.model.audit import TOKEN_ROTATED
from cronui.secrets import MASK
from tests.helpers import make_job, ms
from tests.store.backends import BACKENDS, fresh_store

DAY = 86_400  # seconds, as FakeClock.advance takes them
SECRET = "hunter2-very-secret-value"
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"

API = Caller("api", "ci-bot", Scope.WRITE, limited=True)
MCP = Caller("mcp", "agent", Scope.RUN, limited=True)


@pytest.fixture(params=BACKENDS)
async def app(request: pytest.FixtureRequest, tmp_path: Path, settings: Settings) -> AsyncIterator[Cronui]:
    clock = FakeClock(ms("2026-03-02T08:59:30Z"))
    settings.policy.kinds = ("agent", "http", "shell")  # the API caller here makes shell jobs: the policy names them
    async with fresh_store(request.param, tmp_path / "who.db") as store:
        yield Cronui(settings, store, Control(store, settings, clock), clock, local("cli"))


def clock_of(app: Cronui) -> FakeClock:
    assert isinstance(app.clock, FakeClock)
    return app.clock


def write_jobfile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- owners


async def test_the_creator_owns_a_job_and_no_edit_changes_it(app: Cronui, tmp_path: Path) -> None:
    cli_owner = app.caller.owner
    assert cli_owner.startswith("cli:") and "@" in cli_owner
    await jobs.add_job(app, make_job("by-cli", "@daily"))
    await jobs.add_entry(app.as_caller(API), {"name": "by-api", "schedule": "@daily", "shell": "true"})
    path = write_jobfile(tmp_path, '[[job]]\nname = "by-file"\nschedule = "@daily"\nshell = "true"\n')
    await jobs.apply_jobfile(app, read_jobfile(path, app.settings, app.now_ms()), prune=False, dry_run=False)

    owners = {j.name: j.owner for j in await jobs.list_jobs(app)}
    assert owners == {"by-cli": cli_owner, "by-api": "api:ci-bot", "by-file": cli_owner}
    # edits by another caller, by each way a job is changed, leave the owner as it was
    await jobs.edit_entry(app.as_caller(MCP), "by-api", {"schedule": "@hourly"})
    job = await jobs.get_job(app, "by-cli")
    job.description = "changed"
    await jobs.save_job(app.as_caller(API), job)
    await jobs.set_enabled(app.as_caller(API), "by-cli", False)
    path.write_text('[[job]]\nname = "by-api"\nschedule = "@weekly"\nshell = "true"\n')
    await jobs.apply_jobfile(app, read_jobfile(path, app.settings, app.now_ms()), prune=False, dry_run=False)
    owners = {j.name: j.owner for j in await jobs.list_jobs(app)}
    assert owners == {"by-cli": cli_owner, "by-api": "api:ci-bot", "by-file": cli_owner}
    assert (await jobs.get_job(app, "by-api")).schedule == "@weekly"

    # the list filters by owner, and shows it
    assert [h.name for h in await jobs.job_heads(app, "api:ci-bot")] == ["by-api"]
    assert sorted(j.name for j in await jobs.list_jobs(app, cli_owner)) == ["by-cli", "by-file"]
    assert await jobs.job_heads(app, "api:nobody") == []


async def test_owner_is_no_job_file_key(app: Cronui, tmp_path: Path) -> None:
    path = write_jobfile(tmp_path, '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\nowner = "api:someone"\n')
    with pytest.raises(Exception, match="owner: not a job-file key: a job's owner is the caller that created it"):
        read_jobfile(path, app.settings, app.now_ms())
    with pytest.raises(Invalid, match=r"^owner: not a job-file key"):
        await jobs.add_entry(
            app.as_caller(API), {"name": "x", "schedule": "@daily", "shell": "true", "owner": "cli:me"}
        )
    assert await jobs.list_jobs(app) == []


async def test_a_job_older_than_owners_reads_unknown(app: Cronui) -> None:
    await jobs.add_job(app, make_job("old", "@daily"))
    async with app.store.write() as tx:  # type: ignore[attr-defined]
        await tx.run("UPDATE jobs SET owner = NULL WHERE name = 'old'")
    from cronui.application.shapes import job_json

    [head] = await jobs.job_heads(app)
    assert job_json(head)["owner"] == "unknown"
    assert [h.name for h in await jobs.job_heads(app, "unknown")] == ["old"]


# ---------------------------------------------------------------- triggers


async def test_run_now_says_how_and_by_whom_it_was_asked_for(app: Cronui) -> None:
    await jobs.add_job(app, make_job("job", "@yearly"))
    hook = Caller("hook", "job", Scope.RUN)
    runs = {
        "cli": await jobs.run_now(app, "job"),
        "tui": await jobs.run_now(app.as_caller(local("tui")), "job"),
        "api": await jobs.run_now(app.as_caller(API), "job"),
        "mcp": await jobs.run_now(app.as_caller(MCP), "job"),
        "hook": await jobs.run_now(app.as_caller(hook), "job", request={"method": "POST", "payload": "x"}),
    }
    triggers = {k: r.trigger for k, r in runs.items()}
    assert triggers == {
        "cli": Trigger.MANUAL,
        "tui": Trigger.MANUAL,
        "api": Trigger.API,
        "mcp": Trigger.MCP,
        "hook": Trigger.HOOK,
    }
    for origin, run in runs.items():
        assert run.id is not None
        stored = await app.store.get_run(run.id)
        assert stored is not None and stored.trigger is run.trigger
        expected = {"hook": "hook:job", "api": "api:ci-bot", "mcp": "mcp:agent"}.get(origin)
        assert stored.requested_by == (expected or f"{origin}:{app.caller.who}")


# ---------------------------------------------------------------- the audit log


async def test_every_change_is_one_row_newest_first_with_secrets_masked(app: Cronui) -> None:
    clock = clock_of(app)
    job = make_job("deploy", "0 9 * * *", command="./deploy.sh")
    job.target.env = {"API_TOKEN": SECRET, "REGION": "eu"}  # type: ignore[union-attr]
    await jobs.add_job(app, job)
    clock.advance(1000)
    await jobs.edit_entry(
        app.as_caller(API), "deploy", {"schedule": "0 10 * * *", "env": {"API_TOKEN": "new-secret-42"}}
    )
    clock.advance(1000)
    await jobs.set_enabled(app.as_caller(MCP), "deploy", False)
    clock.advance(1000)
    await jobs.set_enabled(app, "deploy", True)
    clock.advance(1000)
    await jobs.remove_job(app, "deploy")

    rows = await audit.audit_log(app, "deploy")
    assert [(r.action, r.who) for r in rows] == [
        ("removed", app.caller.owner),
        ("enabled", app.caller.owner),
        ("disabled", "mcp:agent"),
        ("changed", "api:ci-bot"),
        ("created", app.caller.owner),
    ]
    assert [r.at for r in rows] == sorted((r.at for r in rows), reverse=True)
    created, changed = rows[-1], rows[-2]
    assert created.job_id is not None and all(r.job_id == created.job_id for r in rows)
    assert created.changes["shell"] == [None, "./deploy.sh"]
    assert created.changes["env.API_TOKEN"] == [None, MASK]
    assert created.changes["env.REGION"] == [None, "eu"]
    # a secret that changed is listed as changed, masked on both sides
    assert changed.changes == {"schedule": ["0 9 * * *", "0 10 * * *"], "env.API_TOKEN": [MASK, MASK]}
    assert rows[2].changes == {"enabled": [True, False]} and rows[1].changes == {"enabled": [False, True]}
    assert rows[0].changes == {}
    everything = str([audit.audit_json(r) for r in rows])
    assert SECRET not in everything and "new-secret-42" not in everything
    # an edit that changes nothing writes no row; a refused one writes none either
    await jobs.add_job(app, make_job("other", "@daily"))
    await jobs.edit_entry(app, "other", {"schedule": "@daily"})
    with pytest.raises(Invalid):
        await jobs.edit_entry(app, "other", {"retries": -1})
    with pytest.raises(JobError):
        await jobs.add_job(app, make_job("bad", "not a schedule"))
    assert [r.action for r in await audit.audit_log(app, "other")] == ["created"]
    assert await audit.audit_log(app, "bad") == []
    assert len(await audit.audit_log(app)) == 6 and len(await audit.audit_log(app, limit=2)) == 2


async def test_a_job_file_and_an_import_write_their_rows_in_their_transaction(app: Cronui, tmp_path: Path) -> None:
    path = write_jobfile(
        tmp_path,
        '[[job]]\nname = "a"\nschedule = "@daily"\nhttp = { url = "https://example.com/a", '
        f'headers = {{ Authorization = "Bearer {GH_TOKEN}" }} }}\n'
        '[[job]]\nname = "b"\nschedule = "@daily"\nshell = "true"\n',
    )
    await jobs.apply_jobfile(app, read_jobfile(path, app.settings, app.now_ms()), prune=False, dry_run=False)
    path.write_text('[[job]]\nname = "a"\nschedule = "@hourly"\nhttp = { url = "https://example.com/a" }\n')
    await jobs.apply_jobfile(app, read_jobfile(path, app.settings, app.now_ms()), prune=True, dry_run=False)
    await jobs.add_jobs(app, [make_job("imported", "@weekly")])

    rows = await audit.audit_log(app)
    assert (rows[0].action, rows[0].job_name) == ("created", "imported")
    assert {(r.action, r.job_name) for r in rows[1:3]} == {("changed", "a"), ("removed", "b")}
    assert {(r.action, r.job_name) for r in rows[3:]} == {("created", "a"), ("created", "b")}
    created_a = next(r for r in rows if (r.action, r.job_name) == ("created", "a"))
    assert created_a.changes["http.headers.Authorization"] == [None, MASK]
    changed_a = next(r for r in rows if r.action == "changed")
    assert changed_a.changes["schedule"] == ["@daily", "@hourly"]
    assert changed_a.changes["http.headers.Authorization"] == [MASK, None]
    assert GH_TOKEN not in str([audit.audit_json(r) for r in rows])
    # many jobs refused as a whole (one is wrong) write no row
    before = len(await audit.audit_log(app))
    with pytest.raises(JobError):
        await jobs.add_jobs(app, [make_job("good", "@daily"), make_job("bad", "61 * * * *")])
    assert len(await audit.audit_log(app)) == before


async def test_token_rotation_is_recorded_and_limits_are_checked(app: Cronui) -> None:
    job = await jobs.add_job(app, make_job("hooked", "@daily"))
    await audit.record(app, TOKEN_ROTATED, job)
    assert [r.action for r in await audit.audit_log(app, "hooked")] == ["token_rotated", "created"]
    for bad in ("0", "1001", "many"):
        with pytest.raises(Invalid, match=r"^limit: expected a positive integer"):
            await audit.audit_log(app, None, bad)


async def test_audit_rows_older_than_audit_days_are_pruned(app: Cronui, settings: Settings) -> None:
    clock = clock_of(app)
    await jobs.add_job(app, make_job("a", "@daily"))
    clock.advance(10 * DAY)
    await jobs.set_enabled(app, "a", False)
    clock.advance(85 * DAY)  # the creation is 95 days old, the change 85
    result = await app.store.prune(clock.now_ms(), 30, 1000, 6, audit_days=90)
    assert result.audit == 1
    assert [r.action for r in await audit.audit_log(app, "a")] == ["disabled"]
    # without audit_days, nothing of the log goes
    clock.advance(365 * DAY)
    assert (await app.store.prune(clock.now_ms(), 30, 1000, 6)).audit == 0
    # the scheduler's pruner uses the config's days
    settings.retention.audit_days = 100
    pruner = Pruner(app.store, settings, clock)
    pruner.maybe_start()
    assert pruner._task is not None
    await pruner._task
    assert await audit.audit_log(app, "a") == []


async def test_the_hook_limit_counts_hook_runs_and_those_stored_as_manual_before(app: Cronui) -> None:
    from cronui.model import Run
    from cronui.model.records import CapReached, RunCap

    job = await jobs.add_job(app, make_job("hooked", "@yearly"))
    assert job.id is not None
    now = app.now_ms()
    note = {"method": "POST", "url": "/hooks/hooked", "payload": ""}
    # a hook run as an older cronui stored it: manual, with the request
    await app.store.insert_run(Run(job.id, Trigger.MANUAL, now, queued_at=now, not_before=now, request=note))
    await jobs.run_now(app, "hooked")  # a manual run without a request is no hook run: not counted
    hook = app.as_caller(Caller("hook", "hooked", Scope.RUN))
    run = await jobs.run_now(hook, "hooked", request=note, cap=RunCap(2, 60_000))
    assert run.trigger is Trigger.HOOK
    with pytest.raises(CapReached):
        await jobs.run_now(hook, "hooked", request=note, cap=RunCap(2, 60_000))
