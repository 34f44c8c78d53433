"""The API's jobs: list, add, show, change, remove, run now, enable and disable, as the CLI does them. A job is
shown as `jobs show --json` shows it, its literal credentials masked; what a response masked, sent back
unchanged on a change, keeps the value stored."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import Response

from cronui.api.common import PREFIX, ApiError, ApiState, Checks, Json
from cronui.api.docs import JOB_HEAD_SCHEMA, JOB_REPORT_SCHEMA, JOB_SCHEMA, RUN_SCHEMA, answers, refused
from cronui.application.reports import job_report
from cronui.application.shapes import job_json, run_json
from cronui.jobfile.entry import EntryReader
from cronui.jobfile.export import export_entry
from cronui.masking import mask_entry, mask_text, mask_webhook, unmasked
from cronui.model import Job

SOURCE = "api"  # a job added through the API says so (`source`), as the CLI's say "cli"


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    api = checks.api
    store, control = state.store, state.control

    @r.get(
        f"{PREFIX}/jobs",
        dependencies=api,
        responses={**refused(), **answers(200, {"type": "array", "items": JOB_HEAD_SCHEMA})},
        response_model=list[dict[str, Any]],
        summary="every job (`jobs list --json`)",
    )
    async def list_jobs() -> Response:
        # the list's columns only, rendered straight to JSON: no target or delivery decoded, and the
        # 10,000 objects not walked again to validate them against the schema they were built for
        return Json([job_json(j) for j in await store.list_job_heads()])

    @r.post(
        f"{PREFIX}/jobs",
        dependencies=api,
        responses={**refused(400, 409, 422), **answers(201, JOB_SCHEMA)},
        status_code=201,
        summary="add a job, given as in a job file",
    )
    async def add_job(
        entry: Annotated[dict[str, Any], Body(description="one [[job]] table of a job file")],
    ) -> dict[str, Any]:
        name = entry.get("name")
        if isinstance(name, str) and await store.get_job_by_name(name) is not None:
            raise ApiError(409, f"name: a job named {name!r} already exists", [{"field": "name", "problem": "exists"}])
        job = read_entry(entry, state)
        return job_json(await control.add_job(job), full=True)

    @r.get(
        f"{PREFIX}/jobs/{{name}}",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_REPORT_SCHEMA)},
        summary="one job with its stats (`jobs show --json`)",
    )
    async def get_job(name: str) -> dict[str, Any]:
        job = await control.job(name)
        return await job_report(store, job, state.clock.now_ms())

    @r.patch(
        f"{PREFIX}/jobs/{{name}}",
        dependencies=api,
        responses={**refused(400, 404, 409, 422), **answers(200, JOB_SCHEMA)},
        summary="change a job: the job-file keys given replace its own",
    )
    async def edit_job(
        name: str, changes: Annotated[dict[str, Any], Body(description="job-file keys and their new values")]
    ) -> dict[str, Any]:
        old = await control.job(name)
        new_name = changes.get("name", old.name)
        if new_name != old.name and isinstance(new_name, str) and await store.get_job_by_name(new_name) is not None:
            raise ApiError(
                409, f"name: a job named {new_name!r} already exists", [{"field": "name", "problem": "exists"}]
            )
        entry = merged(export_entry(old)[0], changes)
        job = read_entry(entry, state, source=old.source)
        job.id, job.created_at = old.id, old.created_at
        job.auto_disabled, job.consecutive_failures = old.auto_disabled, old.consecutive_failures
        job.last_status = old.last_status
        return job_json(await control.update_job(job), full=True)

    @r.delete(
        f"{PREFIX}/jobs/{{name}}",
        dependencies=api,
        responses={**refused(400, 404), **answers(200, JOB_HEAD_SCHEMA)},
        summary="remove a job (its runs are kept)",
    )
    async def remove_job(name: str) -> dict[str, Any]:
        return job_json(await control.remove_job(name))

    @r.post(
        f"{PREFIX}/jobs/{{name}}/run",
        dependencies=api,
        responses={**refused(404), **answers(202, RUN_SCHEMA)},
        status_code=202,
        summary="run a job now",
    )
    async def run_job(name: str) -> dict[str, Any]:
        return run_json(await control.trigger(name))

    @r.post(
        f"{PREFIX}/jobs/{{name}}/enable",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_SCHEMA)},
        summary="enable a job",
    )
    async def enable_job(name: str) -> dict[str, Any]:
        return job_json(await control.set_enabled(name, True), full=True)

    @r.post(
        f"{PREFIX}/jobs/{{name}}/disable",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_SCHEMA)},
        summary="disable a job",
    )
    async def disable_job(name: str) -> dict[str, Any]:
        return job_json(await control.set_enabled(name, False), full=True)

    return r


def read_entry(entry: Mapping[str, Any], state: ApiState, source: str = SOURCE) -> Job:
    """A job-file table read into a Job with the job file's rules; every problem named (400)."""
    reader = EntryReader(entry, state.settings, state.clock.now_ms(), None)
    job = reader.read(source)
    if job is None:
        problems = [{"field": key, "problem": problem} for key, problem in reader.problems]
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ApiError(400, f"{first['field']}: {first['problem']}{more}", problems)
    return job


def merged(entry: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A job's table with `changes` over it: a table given (http, agent, env, headers) replaces its keys one
    by one; a null value removes a key, and a value as a response masked it keeps the one stored."""
    out = dict(entry)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            table = dict(out[key])
            for sub, subval in value.items():
                if subval is None:
                    table.pop(sub, None)
                elif isinstance(subval, dict) and isinstance(table.get(sub), dict):  # http.headers, agent.headers
                    stored = table[sub]
                    given = {k: unmasked(v, stored.get(k), _shown(f"{key}.{sub}.{k}")) for k, v in subval.items()}
                    table[sub] = {k: v for k, v in {**stored, **given}.items() if v is not None}
                else:
                    table[sub] = unmasked(subval, table.get(sub), _shown(f"{key}.{sub}"))
            out[key] = table
        else:
            out[key] = unmasked(value, out.get(key), _shown(key))
    return out


def _shown(key: str) -> Callable[[Any], Any]:
    """How a response shows the value at `key` (the job file's keys, dotted: `env.DB_URL`, `http.url`)."""
    parts = key.split(".")
    if len(parts) >= 2 and parts[-2] in ("env", "headers"):
        return lambda v: mask_entry(parts[-1], v)
    if key in ("deliver_to", "alert_to"):
        return mask_webhook
    return lambda v: mask_text(v) if isinstance(v, str) else v
