"""The job lists' JSON is a contract: `GET /api/v1/jobs`, `jobs list --json` and `jobs show --json` give, byte for
byte, what they gave before listing was made fast (the general decode and JSON writing kept here as the
reference), for jobs of every kind, odd names and a stored number JSON cannot hold."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from cronui.api.app import ApiState, create_app
from cronui.application.shapes import job_json, json_text
from cronui.config import Settings
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control
from cronui.secrets import MASK
from cronui.store.rows import job_from_row
from cronui.store.sqlite import SQLiteStore
from tests.helpers import cli
from tests.store.test_job_listing import reference_job, varied_jobs

_C1 = re.compile(r"[\x80-\x9f\u2028\u2029]")


def reference_json_text(value: Any, indent: int | None) -> str:
    """JSON text as the CLI and the API wrote it before: every value walked for non-finite numbers, every
    character checked for C1 controls."""

    def safe(v: Any) -> Any:
        if isinstance(v, float):
            return v if v == v and v not in (float("inf"), float("-inf")) else None
        if isinstance(v, dict):
            return {k: safe(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [safe(x) for x in v]
        return v

    text = json.dumps(safe(value), indent=indent, ensure_ascii=False, allow_nan=False)
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def reference_health(row: Any) -> str:
    """A listed job's `health` (application.watch) as these jobs have it: none has an open alert episode."""
    if not row["enabled"]:
        return "paused"
    if row["consecutive_failures"]:
        return "failing"
    return "never_ran" if row["last_status"] is None else "ok"


def listed(rows: list[Any]) -> list[dict[str, Any]]:
    """What a list shows of each job: its head, and its health."""
    return [job_json(reference_job(row), health=reference_health(row)) for row in rows]


async def seeded(path: Path) -> list[Any]:
    """The varied jobs in a fresh SQLite file, one with a stored timeout of inf; its rows, as a list reads them."""
    store = SQLiteStore(str(path))
    await store.open()
    try:
        for job in varied_jobs():
            await store.create_job(job)
    finally:
        await store.close()
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    try:
        with con:
            con.execute("UPDATE jobs SET timeout_s = 9e999 WHERE name = 'backup'")
        return con.execute("SELECT * FROM jobs WHERE deleted_at IS NULL ORDER BY name").fetchall()
    finally:
        con.close()


async def test_api_job_list_is_byte_for_byte_what_it_was(settings: Settings) -> None:
    rows = await seeded(Path(settings.db))
    store = SQLiteStore(settings.db)
    await store.open()
    try:
        app = create_app(ApiState(settings, store, Control(store, settings, SystemClock()), token=None))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            r = await client.get("/api/v1/jobs")
    finally:
        await store.close()
    assert r.status_code == 200
    expected = reference_json_text(listed(rows), indent=None)
    assert r.content == expected.encode()
    assert (
        '{"id": 2, "name": "ping ☕ café", "schedule": "*/5 * * * *", "timezone": "Europe/Berlin", '
        '"kind": "http", "enabled": false, "next_run_at": null, "last_status": null, "owner": "unknown", '
        '"health": "paused"}'
    ) in r.text  # `owner`: added with owners (a job stored by cronui's store alone has none: unknown)
    assert "\\u0085" in r.text and "\\u2028" in r.text and "☕" in r.text  # the odd names, escaped as before


def test_cli_job_list_and_show_are_byte_for_byte_what_they_were(
    cli_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = asyncio.run(seeded(cli_db))
    code, out, err = cli(capsys, "jobs", "list", "--json")
    assert code == 0 and "label 'gpu'" in err  # the pinned job is warned of on stderr, not in the JSON
    assert out == reference_json_text(listed(rows), indent=2) + "\n"

    # a job's whole JSON (jobs show, the API's writes), from the same decode, with the stored inf as null
    for row in rows:
        whole = json_text(job_json(job_from_row(row), full=True))
        assert whole == reference_json_text(job_json(reference_job(row), full=True), indent=2)
    backup = json.loads(json_text(job_json(job_from_row(next(r for r in rows if r["name"] == "backup")), full=True)))
    assert backup["timeout_s"] is None
    # a literal credential shows masked, in every face's JSON (the stored value is "s3")
    assert backup["target"] == {"command": "tar c /x", "cwd": None, "env": {"API_TOKEN": MASK}}


async def test_api_job_list_asked_again_shows_each_change(settings: Settings) -> None:
    """The list keeps each job's JSON while the job is the same: a job changed in any column a list shows, or
    in its health, removed or added, is shown as it now is, the next time the list is asked for."""
    await seeded(Path(settings.db))
    store = SQLiteStore(settings.db)
    await store.open()

    def rows_now() -> list[Any]:
        con = sqlite3.connect(settings.db)
        con.row_factory = sqlite3.Row
        try:
            return con.execute("SELECT * FROM jobs WHERE deleted_at IS NULL ORDER BY name").fetchall()
        finally:
            con.close()

    def change(sql: str) -> None:
        con = sqlite3.connect(settings.db)
        with con:
            con.execute(sql)
        con.close()

    try:
        app = create_app(ApiState(settings, store, Control(store, settings, SystemClock()), token=None))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            first = (await client.get("/api/v1/jobs")).content
            assert first == reference_json_text(listed(rows_now()), indent=None).encode()
            names = [j["name"] for j in json.loads(first)]
            for sql in (
                f"UPDATE jobs SET last_status = 'succeeded' WHERE name = '{names[0]}'",  # never_ran -> ok
                f"UPDATE jobs SET consecutive_failures = 2 WHERE name = '{names[0]}'",  # health alone: failing
                f"UPDATE jobs SET next_run_at = 1790000000123 WHERE name = '{names[-1]}'",
                f"UPDATE jobs SET name = 'renamed', enabled = 0 WHERE name = '{names[1]}'",
                f"UPDATE jobs SET deleted_at = 1 WHERE name = '{names[2]}'",
            ):
                change(sql)
                again = (await client.get("/api/v1/jobs")).content
                assert again == reference_json_text(listed(rows_now()), indent=None).encode(), sql
                assert again != first
                first = again
    finally:
        await store.close()
