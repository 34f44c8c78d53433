"""The API's overviews: the scheduler's status, finished runs per job and overall, and runs per time bucket."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cronui import bounds
from cronui.api.common import AS_DURATION, PREFIX, ApiState, Checks, start_of
from cronui.api.docs import STATS_REPORT_SCHEMA, TIMELINE_SCHEMA, answers, refused
from cronui.cli.common import UsageError
from cronui.jobs import parse_duration
from cronui.model.records import percentile
from cronui.reports import stats_json, status_report
from cronui.store.postgres import redacted
from cronui.timefmt import iso_utc

OVERALL_DURATIONS = 10_000  # the overall median and p95 come from the latest this many finished runs (docs.py says so)
MAX_BUCKETS = 10_000  # timeline: how many buckets one request may ask for


def router(state: ApiState, checks: Checks) -> APIRouter:
    r = APIRouter()
    api = checks.api
    store, control = state.store, state.control

    @r.get(
        f"{PREFIX}/status",
        dependencies=api,
        responses=refused(),
        summary="who schedules, what runs, what is next (`status --json`)",
    )
    async def get_status() -> dict[str, Any]:
        data = await status_report(state.settings, store, control)
        data["db"] = redacted(data["db"]) if "://" in data["db"] else data["db"]  # no database password
        return data

    @r.get(
        f"{PREFIX}/stats",
        dependencies=api,
        responses={**refused(400, 422), **answers(200, STATS_REPORT_SCHEMA)},
        summary="finished runs per job and overall",
    )
    async def get_stats(
        since: Annotated[
            str | None,
            Query(description="within this long, e.g. 7d (default: all time)", json_schema_extra=AS_DURATION),
        ] = None,
    ) -> dict[str, Any]:
        start = None if since is None else start_of(since, state)
        per_job: dict[str, Any] = {}
        runs = succeeded = failed = tokens = 0
        cost: float | None = None
        for job in await store.list_jobs():
            assert job.id is not None
            st = await store.job_stats(job.id, start)
            per_job[job.name] = stats_json(st)
            runs, succeeded, failed, tokens = (
                runs + st.runs,
                succeeded + st.succeeded,
                failed + st.failed,
                tokens + st.total_tokens,
            )
            if st.cost_usd is not None:
                cost = (cost or 0.0) + st.cost_usd
        durations = await store.latest_durations(start, OVERALL_DURATIONS)  # only the numbers, sorted
        overall = {
            "runs": runs,
            "success_rate": None if succeeded + failed == 0 else succeeded / (succeeded + failed),
            "median_ms": percentile(durations, 0.5),
            "p95_ms": percentile(durations, 0.95),
            "total_tokens": tokens,
            "cost_usd": cost,
        }
        return {"since": iso_utc(start), "overall": overall, "jobs": per_job}

    @r.get(
        f"{PREFIX}/timeline",
        dependencies=api,
        responses={**refused(400, 404, 422), **answers(200, TIMELINE_SCHEMA)},
        summary="runs per time bucket and status",
    )
    async def get_timeline(
        job: str | None = None,
        since: Annotated[str, Query(description="how far back, e.g. 24h", json_schema_extra=AS_DURATION)] = "24h",
        bucket: Annotated[str, Query(description="the bucket's length, e.g. 1h", json_schema_extra=AS_DURATION)] = "1h",
    ) -> dict[str, Any]:
        start = start_of(since, state)
        bucket_s = parse_duration(bucket, "bucket", bounds.POSITIVE_DURATION)
        bucket_ms = max(1000, int(bucket_s * 1000))
        if (state.clock.now_ms() - start) / bucket_ms > MAX_BUCKETS:
            raise UsageError(f"bucket: {bucket} is too short for since={since} (at most {MAX_BUCKETS:,} buckets)")
        job_id = None if job is None else (await control.job(job)).id
        buckets: dict[int, dict[str, int]] = {}
        for at, status, count in await store.timeline(job_id, start, bucket_ms):
            buckets.setdefault(at, {})[str(status)] = count
        return {
            "job": job,
            "since": iso_utc(start),
            "bucket_s": bucket_ms / 1000,
            "buckets": [{"at": iso_utc(at), "runs": counts} for at, counts in sorted(buckets.items())],
        }

    return r
