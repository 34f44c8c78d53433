"""The API's jobs: list, add, show, change, remove, run now, enable and disable, as the CLI does them (the use
cases of `cronui.application.jobs`; here, the routes and what the document says of them). A job is shown as
`jobs show --json` shows it, its literal credentials masked; what a response masked, sent back unchanged on
a change, keeps the value stored."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from cronui.api.common import PREFIX, ApiState, App, Checks
from cronui.api.docs import (
    JOB_HEAD_SCHEMA,
    JOB_LISTED_SCHEMA,
    JOB_REPORT_SCHEMA,
    JOB_SCHEMA,
    RUN_SCHEMA,
    answers,
    refused,
)
from cronui.application import jobs, pauses, watch
from cronui.application.backfill import BACKFILL_SCHEMA, backfill, backfill_body, backfill_json
from cronui.application.errors import Invalid
from cronui.application.shapes import JobListText, job_json, run_json


class PauseBody(BaseModel):
    """How long a job's pause lasts: one of `for` or `until` (both or neither: 400)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    for_: str | None = Field(None, alias="for", description="a duration: 30m, 2h, 1d", examples=["2h"])
    until: str | None = Field(None, description="ISO 8601; no offset: the job's zone", examples=["2026-12-24T18:00"])


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    api = checks.api
    listed = JobListText()

    @r.get(
        f"{PREFIX}/jobs",
        dependencies=api,
        responses={**refused(), **answers(200, {"type": "array", "items": JOB_LISTED_SCHEMA})},
        response_model=list[dict[str, Any]],
        summary="every job (`jobs list --json`)",
    )
    async def list_jobs(
        app: App,
        owner: Annotated[
            str | None, Query(description="only the jobs this caller created (`api:TOKEN`, `cli:USER@HOST`, `unknown`)")
        ] = None,
    ) -> Response:
        # the list's columns only, rendered straight to JSON text (each job's piece kept while it is the same):
        # no target or delivery decoded, no object walked again to validate it against its schema
        health = await watch.healths(app)
        text = listed.render(await jobs.job_heads(app, owner), health, watch.OK)
        return Response(text, media_type="application/json")

    @r.post(
        f"{PREFIX}/jobs",
        dependencies=api,
        responses={**refused(400, 409, 422), **answers(201, JOB_SCHEMA)},
        status_code=201,
        summary="add a job, given as in a job file",
    )
    async def add_job(
        app: App,
        entry: Annotated[dict[str, Any], Body(description="one [[job]] table of a job file")],
    ) -> dict[str, Any]:
        return job_json(await jobs.add_entry(app, entry), full=True)

    @r.get(
        f"{PREFIX}/jobs/{{name}}",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_REPORT_SCHEMA)},
        summary="one job with its stats (`jobs show --json`)",
    )
    async def get_job(app: App, name: str) -> dict[str, Any]:
        return await jobs.show_job(app, name)

    @r.patch(
        f"{PREFIX}/jobs/{{name}}",
        dependencies=api,
        responses={**refused(400, 404, 409, 422), **answers(200, JOB_SCHEMA)},
        summary="change a job: the job-file keys given replace its own",
    )
    async def edit_job(
        app: App, name: str, changes: Annotated[dict[str, Any], Body(description="job-file keys and their new values")]
    ) -> dict[str, Any]:
        return job_json(await jobs.edit_entry(app, name, changes), full=True)

    @r.delete(
        f"{PREFIX}/jobs/{{name}}",
        dependencies=api,
        responses={**refused(400, 404), **answers(200, JOB_HEAD_SCHEMA)},
        summary="remove a job (its runs are kept)",
    )
    async def remove_job(app: App, name: str) -> dict[str, Any]:
        return job_json(await jobs.remove_job(app, name))

    @r.post(
        f"{PREFIX}/jobs/{{name}}/run",
        dependencies=api,
        responses={**refused(400, 404), **answers(202, RUN_SCHEMA)},
        status_code=202,
        summary="run a job now",
    )
    async def run_job(
        app: App,
        name: str,
        body: Annotated[
            dict[str, Any] | None,
            Body(description='{"params": {"env": "prod"}} (optional): values for the job\'s params'),
        ] = None,
    ) -> dict[str, Any]:
        return run_json(await jobs.run_now(app, name, params=run_body_params(body)))

    @r.post(
        f"{PREFIX}/jobs/{{name}}/backfill",
        dependencies=api,
        responses={**refused(400, 404), **answers(202, BACKFILL_SCHEMA)},
        status_code=202,
        summary="queue one run per past slot of a window (`jobs backfill`)",
    )
    async def backfill_job(
        app: App,
        name: str,
        body: Annotated[
            dict[str, Any],
            Body(description='{"from": ISO-8601, "to": ISO-8601, "dry_run": false, "max": 1000}'),
        ],
    ) -> dict[str, Any]:
        start, end, dry_run, most = backfill_body(body)
        return backfill_json(await backfill(app, name, start, end, dry_run=dry_run, most=most))

    @r.post(
        f"{PREFIX}/jobs/{{name}}/enable",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_SCHEMA)},
        summary="enable a job",
    )
    async def enable_job(app: App, name: str) -> dict[str, Any]:
        return job_json(await jobs.set_enabled(app, name, True), full=True)

    @r.post(
        f"{PREFIX}/jobs/{{name}}/disable",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_SCHEMA)},
        summary="disable a job",
    )
    async def disable_job(app: App, name: str) -> dict[str, Any]:
        return job_json(await jobs.set_enabled(app, name, False), full=True)

    @r.post(
        f"{PREFIX}/jobs/{{name}}/pause",
        dependencies=api,
        responses={**refused(400, 404), **answers(200, JOB_SCHEMA)},
        summary='pause a job for a while: {"for": "2h"} or {"until": "2026-11-23T09:00"}; it resumes by itself',
    )
    async def pause_job(app: App, name: str, body: PauseBody) -> dict[str, Any]:
        job = await pauses.pause_job(app, name, body.for_, body.until, words=("for", "until"))
        return job_json(job, full=True)

    @r.post(
        f"{PREFIX}/jobs/{{name}}/resume",
        dependencies=api,
        responses={**refused(404), **answers(200, JOB_SCHEMA)},
        summary="end a job's timed pause now",
    )
    async def resume_job(app: App, name: str) -> dict[str, Any]:
        return job_json(await pauses.resume_job(app, name), full=True)

    return r


def run_body_params(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `params` of a run's body: an object of NAME: VALUE (Invalid for anything else in the body)."""
    if not body:
        return None
    extra = sorted(set(body) - {"params"})
    if extra:
        raise Invalid(
            f"{extra[0]}: unknown field (a run takes only params)", [{"field": extra[0], "problem": "unknown"}]
        )
    given = body.get("params")
    if given is not None and not isinstance(given, dict):
        raise Invalid("params: expected an object of NAME: VALUE", [{"field": "params", "problem": "type"}])
    return given
