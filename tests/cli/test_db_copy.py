"""`cronui db copy`: a SQLite file's jobs, history and job memory to PostgreSQL and back, row for row, with
new ids continuing after the copied ones; a non-empty target refused unless --replace; bad URLs refused."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cronui.model import EventKind, Milestone, Run, RunEvent, RunStatus, Trigger
from cronui.model.records import Node, RunEnd
from cronui.store.postgres import PostgresStore
from cronui.store.sqlite import SQLiteStore
from tests.helpers import cli, make_job
from tests.store.backends import drop_schema, postgres_url

T0 = 1_780_000_000_000
TABLES = ("jobs", "runs", "run_events", "job_memory")


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    url = await postgres_url()
    yield url
    await drop_schema(url)


@pytest.fixture
def pg(pg_url: str) -> Iterator[str]:
    """The URL, for tests that run the CLI (which runs its own event loop) outside any loop."""
    yield pg_url


async def fill(path: Path) -> None:
    """A SQLite file with history: two jobs (one removed), runs with output, stderr, milestones, tokens,
    a retry and a chained run, events, and job memory."""
    store = SQLiteStore(path)
    await store.open()
    try:
        kept = make_job("report", schedule="*/5 * * * *", node_label="gpu", tags=["daily"], pool=None)
        gone = make_job("old")
        for job in (kept, gone):
            job.created_at = job.updated_at = T0
            await store.create_job(job)
        assert kept.id is not None and gone.id is not None
        for i in range(3):
            run = await store.insert_run(
                Run(job_id=kept.id, trigger=Trigger.SCHEDULE, scheduled_for=T0 + i, queued_at=T0 + i)
            )
            assert run is not None
            run.status = RunStatus.FAILED if i == 1 else RunStatus.SUCCEEDED
            run.started_at, run.finished_at, run.duration_ms = T0 + i, T0 + i + 500, 500
            run.output, run.stderr, run.exit_code = f"line {i}\nünïcode ✓\n", "warn\n" * i, 1 if i == 1 else 0
            run.output_bytes = len(run.output.encode())
            run.milestones = [Milestone("halfway", T0 + i + 250, {"pct": 50})]
            run.total_tokens, run.cost_usd = 120 * i, 0.0012 * i
            retry = None
            if i == 1:
                retry = Run(
                    job_id=kept.id,
                    trigger=Trigger.RETRY,
                    scheduled_for=run.scheduled_for,
                    attempt=2,
                    retry_of=run.id,
                    queued_at=T0 + 600,
                    not_before=T0 + 700,
                )
            await store.finish_runs([RunEnd(run, retry=retry, memory={"last": {"i": i}}, chain_to=[])])
            await store.append_events(
                [RunEvent(EventKind.FINISHED, T0 + i + 500, run.id, kept.id, data={"status": str(run.status)})]
            )
        await store.set_memory(kept.id, "conversation", [{"role": "user", "content": "hi"}], T0)
        await store.remove_job(gone.id, T0 + 1000)
        await store.heartbeat(Node("a:1:x", "a", 1, T0, T0, T0 + 1, 0))  # the scheduler's own: not copied
    finally:
        await store.close()


def rows(path: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}
    finally:
        con.close()


def test_a_round_trip_through_postgresql_keeps_every_row(capsys, cli_db: Path, pg: str, tmp_path: Path):
    asyncio.run(fill(cli_db))
    before = rows(cli_db)
    code, out, err = cli(capsys, "db", "copy", "--to", pg)
    assert code == 0, err
    assert out.startswith("copied 2 jobs, 4 runs, 3 run events, 2 job memory entries from ")

    async def look() -> None:
        store = PostgresStore(pg)
        await store.open()
        try:
            [job] = await store.list_jobs()  # the removed one is kept, as removed
            assert job.name == "report" and job.node_label == "gpu" and job.tags == ["daily"]
            run = await store.get_run(4)
            assert run is not None and run.output == "line 2\nünïcode ✓\n" and run.milestones[0].data == {"pct": 50}
            assert [a.id for a in await store.attempts(2)] == [2, 3]
            assert await store.get_memory(job.id, "conversation") == [{"role": "user", "content": "hi"}]
            assert [e.data for e in await store.run_events(1)] == [{"status": "succeeded"}]
            assert await store.nodes() == []
            # what is written next continues after the copied rows
            new = await store.insert_run(Run(job_id=job.id, trigger=Trigger.MANUAL, scheduled_for=T0, queued_at=T0))
            assert new is not None and new.id == 5
            ev = RunEvent(EventKind.QUEUED, T0, new.id, job.id)
            await store.append_events([ev])
            assert ev.id == 4
            another = make_job("another")
            await store.create_job(another)
            assert another.id == 3
        finally:
            await store.close()

    asyncio.run(look())

    back = tmp_path / "back.db"
    code, out, err = cli(capsys, "--db", str(back), "db", "copy", "--from", pg)
    assert code == 0, err
    assert out.startswith("copied 3 jobs, 5 runs, 4 run events, 2 job memory entries from ")
    after = rows(back)
    for table in TABLES:  # the original rows, each as it was, and the ones written on PostgreSQL after them
        assert after[table][: len(before[table])] == before[table], table
    con = sqlite3.connect(back)
    try:
        seqs = dict(con.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    finally:
        con.close()
    assert seqs["runs"] == 5 and seqs["run_events"] == 4 and seqs["jobs"] == 3


def test_a_target_that_holds_jobs_is_refused_unless_replace(capsys, cli_db: Path, pg: str):
    asyncio.run(fill(cli_db))
    assert cli(capsys, "db", "copy", "--to", pg)[0] == 0
    cli(capsys, "jobs", "add", "newer", "--schedule", "@daily", "--shell", "true")
    code, out, err = cli(capsys, "db", "copy", "--to", pg)
    assert code == 2 and out == ""
    assert err.strip() == (
        "cronui: the target database is not empty (2 jobs, 4 runs, 3 run events, 2 job memory entries); "
        "nothing was copied (--replace empties it first)"
    )
    code, out, _ = cli(capsys, "--db", pg, "jobs", "list", "--json")
    assert "newer" not in out  # nothing changed
    code, out, err = cli(capsys, "db", "copy", "--to", pg, "--replace")
    assert code == 0, err
    assert out.startswith("copied 3 jobs, 4 runs")
    code, out, _ = cli(capsys, "--db", pg, "jobs", "list", "--json")
    assert "newer" in out


def test_bad_urls_are_one_line_and_exit_2(capsys, cli_db: Path, tmp_path: Path):
    code, out, err = cli(capsys, "db", "copy", "--to", "elsewhere.db")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "'elsewhere.db' is not a database URL" in err
    assert not (tmp_path / "elsewhere.db").exists()  # a typo creates no file
    code, out, err = cli(capsys, "db", "copy", "--to", "postgresql://nobody@127.0.0.1:1/none")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "cannot connect to PostgreSQL" in err
    code, out, err = cli(capsys, "db", "copy", "--to", f"sqlite:///{cli_db}")
    assert code == 2 and "the same database" in err
    code, out, err = cli(capsys, "db", "copy")
    assert code == 2 and "one of the arguments --to --from is required" in err


def test_a_copy_into_sqlite_lands_in_a_new_file_from_another_sqlite_file(capsys, cli_db: Path, tmp_path: Path):
    """Any two databases: the sequences of a file work as PostgreSQL's do."""
    asyncio.run(fill(cli_db))
    code, _, err = cli(capsys, "db", "copy", "--to", f"sqlite:///{tmp_path / 'copy.db'}")
    assert code == 0, err
    assert rows(tmp_path / "copy.db") == rows(cli_db)


def test_tables_longer_than_a_batch_are_copied_whole_and_in_order(capsys, cli_db: Path, pg: str, tmp_path: Path):
    async def many() -> None:
        store = SQLiteStore(cli_db)
        await store.open()
        try:
            job = make_job("busy")
            await store.create_job(job)
            run = await store.insert_run(Run(job_id=job.id, trigger=Trigger.MANUAL, scheduled_for=T0, queued_at=T0))
            assert run is not None
            await store.append_events([RunEvent(EventKind.OUTPUT, T0 + i, run.id, job.id) for i in range(1201)])
        finally:
            await store.close()

    asyncio.run(many())
    before = rows(cli_db)
    code, out, err = cli(capsys, "db", "copy", "--to", pg)
    assert code == 0, err
    assert "1201 run events" in out
    back = tmp_path / "back.db"
    code, out, err = cli(capsys, "--db", str(back), "db", "copy", "--from", pg)
    assert code == 0, err
    assert rows(back)["run_events"] == before["run_events"]
