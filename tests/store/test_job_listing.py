"""Listing jobs, on every backend: the fast decode of a list gives the jobs the general one gave, and the list's
heads (`list_job_heads`) say what the whole jobs say."""

from __future__ import annotations

import json
from typing import Any

from cronui.application.shapes import job_json
from cronui.model import Job, MisfirePolicy, OverlapPolicy, RunStatus, TargetKind
from cronui.store.base import Store
from cronui.store.rows import JOB_COLUMNS
from cronui.targets import Delivery

T0 = 1_780_000_000_000


def varied_jobs() -> list[Job]:
    """Jobs of every kind, with the fields a list or a job's JSON shows set in different ways."""
    common: dict[str, Any] = {
        "schedule": "*/5 * * * *",
        "timezone": "Europe/Berlin",
        "created_at": T0,
        "updated_at": T0,
    }
    return [
        Job(name="backup", kind=TargetKind.SHELL, target={"command": "tar c /x", "env": {"API_TOKEN": "s3"}}, **common),
        Job(
            name="ping ☕ caf\u00e9",
            kind=TargetKind.HTTP,
            target={
                "url": "https://x.test/h",
                "method": "POST",
                "headers": {"Authorization": "Bearer t"},
                "body": "{}",
            },
            enabled=False,
            next_run_at=None,
            tags=["web", "prod"],
            on_failure=["backup"],
            delivery=Delivery(mode="on_failure", to="https://hooks.test/a", alert_after=3),
            **common,
        ),
        Job(
            name="digest",
            kind=TargetKind.AGENT,
            target={
                "base_url": "https://llm.test/v1",
                "model": "m",
                "message": "sum up",
                "temperature": 0.25,
                "extra": {"response_format": {"type": "json_object"}},
                "fallbacks": ["small@https://other.test/v1"],
                "from_a_newer_version": [1, 2],
            },
            auto_disabled="10 consecutive failures",
            overlap=OverlapPolicy.QUEUE,
            misfire=MisfirePolicy.RUN_ALL,
            last_status=RunStatus.TIMED_OUT,
            consecutive_failures=10,
            next_run_at=T0 + 60_000,
            node_label="gpu",
            on_success=["backup", "ping ☕ caf\u00e9"],
            chain_options={"on_success": {"backup": {"when": "regex:^ok$"}}},
            **common,
        ),
        Job(
            name="odd \x85 name\u2028",
            kind=TargetKind.SHELL,
            target={"command": "true"},
            last_status=RunStatus.SUCCEEDED,
            next_run_at=T0,
            **common,
        ),
    ]


def reference_job(row: Any) -> Job:
    """A row decoded as it was before lists were made fast: every column by its name, through enum
    constructors and json.loads."""
    values = {c: row[c] for c in JOB_COLUMNS}
    return Job(
        **{
            **values,
            "kind": TargetKind(values["kind"]),
            "target": json.loads(values["target"]),
            "enabled": bool(values["enabled"]),
            "overlap": OverlapPolicy(values["overlap"]),
            "misfire": MisfirePolicy(values["misfire"]),
            "delivery": json.loads(values["delivery"]),
            "on_success": json.loads(values["on_success"]),
            "on_failure": json.loads(values["on_failure"]),
            "tags": json.loads(values["tags"]),
            "chain_options": json.loads(values["chain_options"]),
            "last_status": RunStatus(values["last_status"]) if values["last_status"] else None,
            "approval": bool(values["approval"]),
            "skip_calendar": json.loads(values["skip_calendar"]),
            "only_calendar": json.loads(values["only_calendar"]),
            "params": json.loads(values["params"]),  # run-time parameters
        }
    )


async def test_listed_jobs_are_the_jobs_as_stored(backend: Store) -> None:
    for job in varied_jobs():
        await backend.create_job(job)
    removed = await backend.create_job(Job(name="gone", schedule="@daily", timezone="UTC", kind="shell", target={}))
    assert removed.id is not None
    await backend.remove_job(removed.id, T0)

    rows = await backend.fetch_all("SELECT * FROM jobs WHERE deleted_at IS NULL ORDER BY name")
    expected = [reference_job(r) for r in rows]
    listed = await backend.list_jobs()

    assert listed == expected
    assert [j.name for j in listed] == sorted(j.name for j in varied_jobs())
    digest = next(j for j in listed if j.name == "digest")
    assert digest.target.unknown == {"from_a_newer_version": [1, 2]}
    assert digest.last_status is RunStatus.TIMED_OUT and digest.overlap is OverlapPolicy.QUEUE
    assert [await backend.get_job(j.id) for j in listed if j.id is not None] == expected

    # a list shows the same of a job whether it was read whole or by its head
    heads = await backend.list_job_heads()
    assert [job_json(h) for h in heads] == [job_json(j) for j in expected]
    assert [h.auto_disabled for h in heads] == [j.auto_disabled for j in expected]


async def test_an_empty_store_lists_nothing(backend: Store) -> None:
    assert await backend.list_jobs() == []
    assert await backend.list_job_heads() == []
