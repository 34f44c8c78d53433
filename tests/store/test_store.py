"""The Store contract: every backend must pass this module (it is parametrized by backend)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cronui.model import EventKind, Lease, OverlapPolicy, Run, RunEvent, RunStatus, Trigger
from cronui.model.records import ClaimLimits, Node, RunEnd, RunFilter, SlotWrite
from cronui.store.base import DuplicateJobName, Store, StoreError
from cronui.store.pg_schema import SCHEMA_VERSION as PG_SCHEMA_VERSION
from cronui.store.postgres import PostgresStore
from cronui.store.sqlite import SQLiteStore
from cronui.targets import ShellTarget
from tests.helpers import make_job
from tests.store.backends import store_clock

T0 = 1_780_000_000_000


async def new_job(store: Store, name: str = "j", **kw):
    job = make_job(name, **kw)
    job.created_at = job.updated_at = T0
    job.next_run_at = T0 + 60_000
    return await store.create_job(job)


def pending(job_id: int, slot: int, trigger: Trigger = Trigger.SCHEDULE, **kw) -> Run:
    return Run(job_id=job_id, trigger=trigger, scheduled_for=slot, queued_at=slot, **kw)


async def test_jobs_round_trip(backend: Store):
    job = await new_job(backend, "roundtrip", tags=["ops", "nightly"], on_success=[], pool="p")
    job.target = ShellTarget(command="echo ${env:TOKEN}", env={"A": "1"})
    await backend.update_job(job)
    again = await backend.get_job_by_name("roundtrip")
    assert again == job
    assert [j.name for j in await backend.list_jobs()] == ["roundtrip"]


async def test_live_names_are_unique_and_removal_frees_the_name(backend: Store):
    first = await new_job(backend, "same")
    with pytest.raises(DuplicateJobName):
        await new_job(backend, "same")
    await backend.remove_job(first.id, T0)
    second = await new_job(backend, "same")
    assert second.id != first.id
    assert (await backend.get_job(first.id)).deleted_at == T0
    assert [j.id for j in await backend.list_jobs()] == [second.id]


async def test_each_run_comes_to_exist_once(backend: Store):
    job = await new_job(backend)
    slot = T0 + 60_000
    assert len(await backend.materialize([SlotWrite(job.id, slot, [pending(job.id, slot)], slot + 60_000)])) == 1
    # a second plan for the same slot (its compare-and-set holds) still makes no second run of it
    again = SlotWrite(job.id, slot + 60_000, [pending(job.id, slot, Trigger.CATCHUP)], slot + 120_000)
    assert await backend.materialize([again]) == []
    assert (await backend.get_job(job.id)).next_run_at == slot + 120_000
    first = (await backend.list_runs(RunFilter(job_id=job.id)))[0]
    retry = pending(job.id, slot, Trigger.RETRY, attempt=2, retry_of=first.id)
    assert await backend.insert_run(retry) is not None
    assert await backend.insert_run(pending(job.id, slot, Trigger.RETRY, attempt=2, retry_of=first.id)) is None
    chain = pending(job.id, slot, Trigger.CHAIN, triggered_by=first.id)
    assert await backend.insert_run(chain) is not None
    assert await backend.insert_run(pending(job.id, slot, Trigger.CHAIN, triggered_by=first.id)) is None
    # manual runs have no uniqueness: two clicks are two runs
    assert await backend.insert_run(pending(job.id, slot, Trigger.MANUAL)) is not None
    assert await backend.insert_run(pending(job.id, slot, Trigger.MANUAL)) is not None


async def test_a_run_is_claimed_once(backend: Store):
    job = await new_job(backend, overlap=OverlapPolicy.ALLOW)
    run = await backend.insert_run(pending(job.id, T0))
    before = await store_clock(backend, T0)
    [(claimed, claimed_job)] = (await backend.claim("node-a", T0, 30_000, ClaimLimits(10))).started
    after = await store_clock(backend, T0)
    assert claimed.id == run.id and claimed.status is RunStatus.RUNNING and claimed.node == "node-a"
    assert claimed.fence == 1 and claimed_job.name == job.name
    assert before + 30_000 <= claimed.lease_expires_at <= after + 30_000  # on the store's clock
    assert (await backend.claim("node-b", T0, 30_000, ClaimLimits(10))).started == []


async def test_a_claim_respects_not_before(backend: Store):
    job = await new_job(backend)
    run = await backend.insert_run(pending(job.id, T0, not_before=T0 + 5_000))
    assert (await backend.claim("n", T0, 30_000, ClaimLimits(10))).started == []
    assert await backend.next_wakeup(T0) == min(T0 + 5_000, job.next_run_at)
    [(started, _)] = (await backend.claim("n", T0 + 5_000, 30_000, ClaimLimits(10))).started
    assert started.id == run.id


async def test_finish_run_updates_job_and_inserts_follow_ups_together(backend: Store):
    job = await new_job(backend)
    run = await backend.insert_run(pending(job.id, T0))
    [(run, _)] = (await backend.claim("n", T0, 30_000, ClaimLimits(10))).started
    run.status = RunStatus.FAILED
    run.finished_at = T0 + 10
    run.error = "boom"
    retry = pending(job.id, T0, Trigger.RETRY, attempt=2, retry_of=run.id, not_before=T0 + 1000)
    [recorded] = await backend.finish_runs([RunEnd(run, retry=retry)])
    assert [r.attempt for r in recorded.inserted] == [2]
    fresh = await backend.get_job(job.id)
    assert fresh.last_status is None and fresh.consecutive_failures == 0  # the job waits for the last attempt
    assert [(r.attempt, r.status) for r in await backend.attempts(run.id)] == [
        (1, RunStatus.FAILED),
        (2, RunStatus.PENDING),
    ]


async def test_cancel_pending_directly_and_running_by_request(backend: Store):
    job = await new_job(backend)
    waiting = await backend.insert_run(pending(job.id, T0))
    running = await backend.insert_run(pending(job.id, T0 + 1, Trigger.MANUAL))
    await backend.claim("n", T0, 30_000, ClaimLimits(10, only_roots=[running.id]))
    assert (await backend.request_cancel(waiting.id, T0)).status is RunStatus.CANCELLED
    after = await backend.request_cancel(running.id, T0)
    assert after.status is RunStatus.RUNNING and after.cancel_requested
    assert await backend.cancel_requested([running.id, waiting.id]) == [running.id]


async def test_events_are_ordered_and_read_after_an_id(backend: Store):
    job = await new_job(backend)
    evs = [RunEvent(EventKind.MILESTONE, T0 + i, 1, job.id, name=f"m{i}", data={"i": i}) for i in range(5)]
    await backend.append_events(evs[:2])
    await backend.append_events(evs[2:])
    ids = [e.id for e in evs]
    assert ids == sorted(ids) and len(set(ids)) == 5
    after = await backend.events_since(ids[1])
    assert [e.name for e in after] == ["m2", "m3", "m4"]
    assert after[0].job_name == "j" and after[0].data == {"i": 2}
    assert await backend.last_event_id() == ids[-1]
    assert [e.name for e in await backend.run_events(1, ids[3])] == ["m4"]
    assert [e.id for e in await backend.run_events(1)] == ids  # the ids handed back are the stored ones
    await backend.prune(T0 + 10 * 3_600_000, keep_days=365, runs_per_job=10, event_hours=1)  # the log emptied
    late = [RunEvent(EventKind.MILESTONE, T0, 1, job.id, name=f"late{i}") for i in range(3)]
    await backend.append_events(late)
    assert [(e.id, e.name) for e in await backend.run_events(1)] == [(e.id, e.name) for e in late]
    assert late[0].id > ids[-1]


async def test_lease_has_one_holder(backend: Store):
    a = Lease("a", "h", 1, "tcp://127.0.0.1:1", T0, T0 + 30_000)
    b = Lease("b", "h", 2, "tcp://127.0.0.1:2", T0, T0 + 30_000)
    alive = lambda lease: True  # noqa: E731
    assert (await backend.acquire_lease(a, T0, alive)).holder == "a"
    assert (await backend.acquire_lease(b, T0 + 1, alive)).holder == "a"
    assert await backend.renew_lease("a", T0 + 10_000, T0 + 40_000)
    assert not await backend.renew_lease("b", T0 + 10_000, T0 + 40_000)
    assert (await backend.acquire_lease(b, T0 + 39_999, alive)).holder == "a"
    assert (await backend.acquire_lease(b, T0 + 40_000, alive)).holder == "b"  # expired
    assert (await backend.acquire_lease(a, T0 + 40_001, lambda lease: False)).holder == "a"  # holder dead
    await backend.release_lease("a")
    assert await backend.get_lease() is None


async def test_state_and_prune(backend: Store):
    await backend.set_state("paused", "1")
    assert await backend.get_state("paused") == "1"
    await backend.set_state("paused", None)
    assert await backend.get_state("paused") is None
    job = await new_job(backend)
    day = 86_400_000
    for i in range(10):
        r = await backend.insert_run(pending(job.id, T0 + i * day))
        r.status = RunStatus.SUCCEEDED
        await backend.finish_runs([RunEnd(r)])
    await backend.append_events(
        [RunEvent(EventKind.STARTED, T0, 1, job.id), RunEvent(EventKind.STARTED, T0 + 9 * day, 2, job.id)]
    )
    res = await backend.prune(T0 + 10 * day, keep_days=5, runs_per_job=3, event_hours=24)
    assert res.runs == 7 and res.events == 1
    left = await backend.list_runs(RunFilter(job_id=job.id))
    assert [r.scheduled_for for r in left] == [T0 + i * day for i in (9, 8, 7)]


async def test_a_jobs_latest_runs_use_an_index(backend: Store):
    if not isinstance(backend, SQLiteStore):
        pytest.skip("query plans are backend-specific")
    plan = await backend.fetch_all(
        "EXPLAIN QUERY PLAN SELECT r.*, j.name FROM runs r JOIN jobs j ON j.id = r.job_id "
        "WHERE r.job_id = ? ORDER BY r.id DESC LIMIT 50",
        (1,),
    )
    text = " ".join(str(row[3]) for row in plan)
    assert "runs_job_latest" in text and "TEMP B-TREE" not in text


async def test_sqlite_file_is_private_and_a_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "private.db"
    s = SQLiteStore(path)
    await s.open()
    await s.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer cronui"):
        await SQLiteStore(path).open()


async def test_backup_refuses_to_overwrite(backend: Store, tmp_path: Path):
    target = tmp_path / "copy.db"
    if not isinstance(backend, SQLiteStore):  # a server's database is copied by its own tools
        with pytest.raises(StoreError, match="pg_dump --schema="):
            await backend.backup(str(target))
        assert not target.exists()
        return
    await backend.backup(str(target))
    assert target.exists()
    with pytest.raises(StoreError, match="already exists"):
        await backend.backup(str(target))


async def test_not_a_database_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a cronui database"):
        await SQLiteStore(bad).open()


async def test_migrating_an_existing_file_copies_it_aside_first(tmp_path: Path, monkeypatch):
    import cronui.store.schema as mod

    real = list(mod.MIGRATIONS)
    path = tmp_path / "old.db"
    with monkeypatch.context() as m:  # a file written by the first schema version
        m.setattr(mod, "MIGRATIONS", real[:1])
        m.setattr(mod, "SCHEMA_VERSION", 1)
        s = SQLiteStore(path)
        await s.open()
        async with s.transaction() as db:  # the row as that version wrote it (today's job has more columns)
            await db.execute(
                "INSERT INTO jobs (name, schedule, timezone, kind, target, created_at, updated_at) "
                "VALUES ('kept', '@hourly', 'UTC', 'shell', '{\"command\": \"true\"}', 0, 0)"
            )
        await s.close()
    s = SQLiteStore(path)
    await s.open()
    assert (await s.fetch_one("PRAGMA user_version"))[0] == len(real)
    job = await s.get_job_by_name("kept")
    await s.set_memory(job.id, "k", {"v": 1}, T0)
    assert await s.get_memory(job.id, "k") == {"v": 1}
    await s.close()
    copies = list(tmp_path.glob("old.db.v1-*.bak"))
    assert len(copies) == 1
    con = __import__("sqlite3").connect(copies[0])
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert con.execute("SELECT name FROM jobs").fetchall() == [("kept",)]
    con.close()


async def test_timeline_counts_runs_per_bucket_and_status(backend: Store):
    job = await new_job(backend)
    other = await new_job(backend, "other")
    hour = 3_600_000
    base = (T0 // hour) * hour
    for offset, status, jid in [
        (0, "succeeded", job.id),
        (10, "failed", job.id),
        (hour + 5, "succeeded", job.id),
        (20, "succeeded", other.id),
    ]:
        r = await backend.insert_run(pending(jid, base + offset, Trigger.MANUAL))
        r.status = RunStatus(status)
        await backend.finish_runs([RunEnd(r)])
    assert await backend.timeline(job.id, base, hour) == [
        (base, RunStatus.FAILED, 1),
        (base, RunStatus.SUCCEEDED, 1),
        (base + hour, RunStatus.SUCCEEDED, 1),
    ]
    assert sum(n for _, _, n in await backend.timeline(None, base, hour)) == 4


async def test_fleet_counts_each_jobs_finished_runs_per_bucket(backend: Store):
    job = await new_job(backend)
    other = await new_job(backend, "other")
    hour = 3_600_000
    since = T0 - 2 * hour
    for queued, status, tokens, cost, jid in [
        (since + 10, "succeeded", 100, 0.01, job.id),
        (since + 20, "failed", None, None, job.id),
        (since + hour + 5, "timed_out", 50, 0.02, job.id),
        (since + 30, "skipped", None, None, job.id),  # not a run that ran: left out
        (since - 1, "succeeded", 7, None, job.id),  # before the window
        (since + 40, "succeeded", None, None, other.id),
    ]:
        r = await backend.insert_run(pending(jid, queued, Trigger.MANUAL))
        r.status, r.total_tokens, r.cost_usd = RunStatus(status), tokens, cost
        await backend.finish_runs([RunEnd(r)])
    rows = await backend.fleet(since, hour)
    mine = [(b.bucket, b.runs, b.succeeded, b.failed, b.tokens, b.cost_usd) for b in rows if b.job_id == job.id]
    assert mine == [(since, 2, 1, 1, 100, 0.01), (since + hour, 1, 0, 1, 50, 0.02)]
    assert [(b.job_id, b.runs, b.cost_usd) for b in rows if b.job_id != job.id] == [(other.id, 1, None)]


async def test_a_value_a_column_cannot_hold_is_not_called_a_duplicate_name(backend: Store):
    job = make_job("nan-grace")
    job.created_at = job.updated_at = T0
    job.misfire_grace_s = float("nan")  # past every validator (SQLite stores NaN as NULL; PostgreSQL keeps it)
    try:
        await backend.create_job(job)
    except DuplicateJobName:
        pytest.fail("a value the store cannot hold was reported as a duplicate name")
    except StoreError as e:
        assert "nan-grace" in str(e)


async def test_a_fresh_database_checks_clean(backend: Store):
    assert await backend.check() == []


async def test_a_postgres_schema_written_by_a_newer_cronui_is_refused(backend: Store):
    if not isinstance(backend, PostgresStore):
        pytest.skip("the SQLite case is test_sqlite_file_is_private_and_a_newer_schema_is_refused")
    async with backend.transaction() as db:
        await db.execute("UPDATE cronui_schema SET version = 99")
    assert await backend.check() == [f"schema version 99, expected {PG_SCHEMA_VERSION}"]
    async with backend.transaction() as db:
        await db.execute("DROP INDEX runs_slot")
    assert "missing index runs_slot" in await backend.check()
    with pytest.raises(StoreError, match="newer cronui"):
        await PostgresStore(backend.url).open()


async def test_nodes_heartbeat_list_and_forget(backend: Store):
    me = Node("host-a:1:abc", "host-a", 1, T0, T0, T0 + 30_000, 2)
    db_now = await backend.heartbeat(me)
    assert abs(db_now - T0) < 10**13  # an epoch-ms clock (the database's, on a server)
    await backend.heartbeat(Node("host-b:2:def", "host-b", 2, T0, T0, T0 + 30_000, 0))
    me.running = 5
    await backend.heartbeat(me)
    listed = {n.node: n for n in await backend.nodes()}
    assert sorted(listed) == ["host-a:1:abc", "host-b:2:def"]
    assert listed["host-a:1:abc"].running == 5 and listed["host-a:1:abc"].started_at == T0
    assert listed["host-a:1:abc"].expires_at - listed["host-a:1:abc"].seen_at == 30_000
    await backend.forget_node("host-b:2:def")
    assert [n.node for n in await backend.nodes()] == ["host-a:1:abc"]
