"""Overviews, whichever face asks: who schedules (`status`), finished runs per job and overall (`stats`),
runs per time bucket (`timeline`, and the fleet's across jobs), and a job's recent outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cronui import bounds
from cronui.application.context import Cronui
from cronui.application.errors import Invalid
from cronui.application.reports import stats_json, status_report
from cronui.application.runs import start_of
from cronui.application.values import parse_duration
from cronui.model import RunStatus
from cronui.model.records import FleetBucket, JobStats, percentile
from cronui.timefmt import iso_utc

OVERALL_DURATIONS = 10_000  # the overall median and p95 come from the latest this many finished runs (docs.py says so)
MAX_BUCKETS = 10_000  # timeline: how many buckets one request may ask for


async def status(app: Cronui) -> dict[str, Any]:
    """`status --json`: who schedules (or stalls), the pause flag, job and run counts, the next fire; the
    database named without its password."""
    return await status_report(app.settings, app.store, app.control)


async def stats_report(app: Cronui, since: str | None = None) -> dict[str, Any]:
    """Finished runs per job and overall, within `since` (a duration; all time without one). The overall
    median and p95 are those of the latest OVERALL_DURATIONS finished runs in the window."""
    start = None if since is None else start_of(app, since)
    per_job: dict[str, Any] = {}
    runs = succeeded = failed = tokens = 0
    cost: float | None = None
    for job in await app.store.list_jobs():
        assert job.id is not None
        st = await app.store.job_stats(job.id, start)
        per_job[job.name] = stats_json(st)
        runs, succeeded, failed, tokens = (
            runs + st.runs,
            succeeded + st.succeeded,
            failed + st.failed,
            tokens + st.total_tokens,
        )
        if st.cost_usd is not None:
            cost = (cost or 0.0) + st.cost_usd
    durations = await app.store.latest_durations(start, OVERALL_DURATIONS)  # only the numbers, sorted
    overall = {
        "runs": runs,
        "success_rate": None if succeeded + failed == 0 else succeeded / (succeeded + failed),
        "median_ms": percentile(durations, 0.5),
        "p95_ms": percentile(durations, 0.95),
        "total_tokens": tokens,
        "cost_usd": cost,
    }
    return {"since": iso_utc(start), "overall": overall, "jobs": per_job}


async def timeline(app: Cronui, job: str | None = None, since: str = "24h", bucket: str = "1h") -> dict[str, Any]:
    """Runs per time bucket and status, of one job or all, over the last `since`: at most MAX_BUCKETS
    buckets of `bucket` (at least a second) each."""
    start = start_of(app, since)
    bucket_s = parse_duration(bucket, "bucket", bounds.POSITIVE_DURATION)
    bucket_ms = max(1000, int(bucket_s * 1000))
    if (app.now_ms() - start) / bucket_ms > MAX_BUCKETS:
        raise Invalid(f"bucket: {bucket} is too short for since={since} (at most {MAX_BUCKETS:,} buckets)")
    job_id = None if job is None else (await app.control.job(job)).id
    buckets: dict[int, dict[str, int]] = {}
    for at, st, count in await app.store.timeline(job_id, start, bucket_ms):
        buckets.setdefault(at, {})[str(st)] = count
    return {
        "job": job,
        "since": iso_utc(start),
        "bucket_s": bucket_ms / 1000,
        "buckets": [{"at": iso_utc(at), "runs": counts} for at, counts in sorted(buckets.items())],
    }


async def job_stats(app: Cronui, job_id: int, since: int | None = None) -> JobStats:
    """A job's finished runs since `since` (epoch ms; all time without it)."""
    return await app.store.job_stats(job_id, since=since)


async def fleet(app: Cronui, since: int, bucket_ms: int) -> list[FleetBucket]:
    """Every job's runs per bucket of `bucket_ms` since `since`, by status."""
    return await app.store.fleet(since, bucket_ms)


async def recent_statuses(app: Cronui, job_ids: Sequence[int], per_job: int) -> dict[int, list[RunStatus]]:
    """The outcomes of each job's latest `per_job` finished runs, oldest first (a strip reads left to right)."""
    return await app.store.recent_statuses(job_ids, per_job)
