"""`GET /metrics`: Prometheus' text format, read back with prometheus-client's own parser, its values those of
the runs that ended (counters: a prune does not lower them, a restart keeps them); the API token unless
`[metrics] public = true`; jobs past `[metrics] max_jobs` summed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from cronui.api.app import ApiState
from cronui.application import metrics
from cronui.config import ConfigError, Settings, load_settings
from cronui.model import FailureKind, Run, RunStatus, Trigger
from cronui.store.metrics import Histogram, MetricsReading, RunGroup
from tests.api.conftest import Api, running_api
from tests.store.backends import BACKENDS, drop_schema, postgres_url

NOW = int(time.time() * 1000)  # runs of today: the server's retention leaves them be


def fresh(state: ApiState) -> None:
    state.metrics_reuse_s = 0  # every scrape reads the store anew


async def scrape(api: Api) -> dict[str, list[Sample]]:
    r = await api.client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float | None:
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


async def insert_runs(api: Api, rows: list[tuple[int, str, str, int | None, int | None, str | None]]) -> None:
    """(job id, trigger, status, started late by ms (None: not started), duration_ms, failure_kind), inserted as
    the store inserts a run (one ended already: a ping's, a missed slot's)."""
    for i, (job_id, trigger, status, late, duration, kind) in enumerate(rows):
        slot = NOW - 60_000 + i
        run = Run(job_id=job_id, trigger=Trigger(trigger), scheduled_for=slot, queued_at=slot, status=RunStatus(status))
        run.started_at, run.duration_ms = None if late is None else slot + late, duration
        run.total_tokens, run.cost_usd = 7, 0.5
        run.failure_kind = None if kind is None else FailureKind(kind)
        assert await api.store.insert_run(run) is not None


async def test_metrics_are_the_stores_runs_parsed_back(settings: Settings) -> None:
    async with running_api(settings, configure=fresh) as api:
        backup = await api.add("backup")
        report = await api.add("report")
        await insert_runs(
            api,
            [
                (backup["id"], "schedule", "succeeded", 200, 3_000, None),
                (backup["id"], "schedule", "succeeded", 20_000, 100_000, None),
                (backup["id"], "schedule", "failed", 0, 50, "infra"),
                (report["id"], "manual", "failed", 0, 400, "job"),
            ],
        )
        m = await scrape(api)
    runs = "cronui_runs_total"
    assert value(m, runs, job="backup", status="succeeded", trigger="schedule", failure_kind="") == 2
    assert value(m, runs, job="backup", status="failed", trigger="schedule", failure_kind="infra") == 1
    assert value(m, runs, job="report", status="failed", trigger="manual", failure_kind="job") == 1
    assert sum(s.value for s in m[runs]) == 4
    duration = "cronui_run_duration_seconds_bucket"
    assert [value(m, duration, job="backup", le=le) for le in ("0.1", "5", "60", "300", "+Inf")] == [1, 2, 2, 3, 3]
    assert value(m, "cronui_run_duration_seconds_sum", job="backup") == pytest.approx(103.05)
    assert value(m, "cronui_run_duration_seconds_count", job="report") == 1
    lateness = "cronui_run_lateness_seconds_bucket"
    assert [value(m, lateness, job="backup", le=le) for le in ("0.1", "0.5", "15", "60", "+Inf")] == [1, 2, 2, 3, 3]
    assert value(m, "cronui_tokens_total", job="backup") == 21
    assert value(m, "cronui_cost_usd_total", job="report") == 0.5
    assert value(m, "cronui_job_health", job="backup", health="failing") is None  # its failures were not counted
    assert {s.labels["job"] for s in m["cronui_job_health"]} == {"backup", "report"}
    assert sum(s.value for s in m["cronui_jobs"]) == 2
    assert value(m, "cronui_nodes_alive") == 1  # this server's engine
    (holder,) = m["cronui_scheduler_holder"]
    assert holder.value == 1 and holder.labels["host"]


def ended(samples: dict[str, list[Sample]]) -> dict[str, list[Sample]]:
    """The families of the runs that ended (counters and histograms)."""
    prefixes = ("cronui_runs_total", "cronui_run_duration", "cronui_run_lateness", "cronui_tokens", "cronui_cost")
    found = {name: s for name, s in samples.items() if name.startswith(prefixes)}
    assert found["cronui_runs_total"] and found["cronui_run_lateness_seconds_bucket"]
    return found


@pytest.mark.parametrize("kind", BACKENDS)
async def test_runs_that_ended_are_counters_a_prune_and_a_restart_keep(kind: str, tmp_path: Path) -> None:
    url = await postgres_url() if kind == "postgres" else None
    settings = Settings(db=url or str(tmp_path / "c.db"), timezone="UTC", timezone_source="test")
    try:
        async with running_api(settings, configure=fresh) as api:
            await api.add("ok", command="true")
            await api.add("bad", command="exit 3")
            for name in ("ok", "ok", "bad"):
                await api.final((await api.client.post(f"/api/v1/jobs/{name}/run")).json()["id"])
            first = await scrape(api)
            assert value(first, "cronui_runs_total", job="ok", status="succeeded", trigger="api") == 2
            assert value(first, "cronui_runs_total", job="bad", status="failed", trigger="api") == 1
            assert value(first, "cronui_run_duration_seconds_count", job="ok") == 2
            res = await api.store.prune(NOW + 86_400_000 * 400, keep_days=1, runs_per_job=1, event_hours=1)
            assert res.runs == 3  # every run is gone from the history
            assert ended(await scrape(api)) == ended(first)
        async with running_api(settings, configure=fresh) as api:  # the server restarted
            assert ended(await scrape(api)) == ended(first)
            await api.final((await api.client.post("/api/v1/jobs/bad/run")).json()["id"])
            assert value(await scrape(api), "cronui_runs_total", job="bad", status="failed", trigger="api") == 2
    finally:
        if url is not None:
            await drop_schema(url)


async def test_waiting_and_running_runs_per_pool(tmp_path: Path) -> None:
    settings = Settings(db=str(tmp_path / "c.db"), timezone="UTC", timezone_source="test", pools={"gpu": 1})
    async with running_api(settings, configure=fresh) as api:
        await api.store.set_state("paused", "1")  # the scheduler holds what waits
        job = await api.add("train", pool="gpu")
        other = await api.add("free")
        await insert_runs(api, [(job["id"], "manual", "pending", None, None, None)] * 2)
        await insert_runs(api, [(other["id"], "manual", "awaiting_approval", None, None, None)])
        m = await scrape(api)
    assert value(m, "cronui_runs_active", pool="gpu", status="pending") == 2
    assert value(m, "cronui_runs_active", pool="", status="awaiting_approval") == 1


async def test_the_api_token_is_asked_unless_metrics_are_public(settings: Settings) -> None:
    async with running_api(settings) as api:
        r = await api.anon.get("/metrics")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "token" in r.json()["error"]
        r = await api.anon.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        assert (await api.client.get("/metrics")).status_code == 200
        r = await api.anon.get("/metrics", headers={"Host": "evil.example"})
        assert r.status_code == 403  # the Host check stays
    settings.metrics.public = True
    async with running_api(settings) as api:
        r = await api.anon.get("/metrics")
        assert r.status_code == 200 and "cronui_runs_total" in r.text
        assert (await api.anon.get("/api/v1/status")).status_code == 401  # only /metrics is opened
        r = await api.anon.get("/metrics", headers={"Host": "evil.example"})
        assert r.status_code == 403


async def test_jobs_past_max_jobs_are_summed_under_other(settings: Settings) -> None:
    settings.metrics.max_jobs = 2
    async with running_api(settings, configure=fresh) as api:
        jobs = [await api.add(f"job{i}") for i in range(4)]
        await insert_runs(api, [(j["id"], "schedule", "succeeded", 0, 10, None) for j in jobs for _ in range(3)])
        m = await scrape(api)
    by_job = {s.labels["job"]: s.value for s in m["cronui_runs_total"]}
    assert by_job == {"job0": 3, "job1": 3, "(other)": 6}
    assert value(m, "cronui_run_duration_seconds_count", job="(other)") == 6
    assert {s.labels["job"] for s in m["cronui_job_health"]} == {"job0", "job1"}
    assert sum(s.value for s in m["cronui_jobs"]) == 4  # counted over every job


async def test_a_scrape_shortly_after_another_reuses_its_reading(settings: Settings) -> None:
    async with running_api(settings) as api:
        job = await api.add("once")
        first = await scrape(api)
        await insert_runs(api, [(job["id"], "manual", "succeeded", 0, 10, None)])
        assert await scrape(api) == first  # within metrics_reuse_s
        api.state[0].metrics_reuse_s = 0
        assert value(await scrape(api), "cronui_runs_total", job="once") == 1


def test_metrics_settings_are_checked_with_one_line_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    for text, key in (("max_jobs = -1", "metrics.max_jobs"), ('public = "maybe"', "metrics.public")):
        config.write_text(f"[metrics]\n{text}\n")
        with pytest.raises(ConfigError) as e:
            load_settings(config, env={})
        assert key in str(e.value) and "\n" not in str(e.value)
    config.write_text("[metrics]\nmax_jobs = 50\npublic = true\n")
    settings = load_settings(config, env={})
    assert (settings.metrics.max_jobs, settings.metrics.public) == (50, True)
    settings = load_settings(config, env={"CRONUI_METRICS_PUBLIC": "false", "CRONUI_METRICS_MAX_JOBS": "0"})
    assert (settings.metrics.max_jobs, settings.metrics.public) == (0, False)
    assert load_settings(None, env={}).metrics.max_jobs == 1000


async def test_openmetrics_when_the_scraper_asks_for_it(settings: Settings) -> None:
    async with running_api(settings, configure=fresh) as api:
        job = await api.add("om")
        await insert_runs(api, [(job["id"], "manual", "succeeded", 0, 10, None)])
        accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        r = await api.client.get("/metrics", headers={"Accept": accept})
    assert r.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert r.text.endswith("# EOF\n")
    found = {f.name: f for f in openmetrics_families(r.text)}
    assert found["cronui_runs"].type == "counter" and found["cronui_run_duration_seconds"].type == "histogram"
    (sample,) = [s for s in found["cronui_runs"].samples if s.labels["job"] == "om"]
    assert sample.name == "cronui_runs_total" and sample.value == 1


def test_label_values_are_escaped_in_both_formats() -> None:
    odd = 'back\\up "nightly"\nsecond line'
    group = RunGroup(1, "succeeded", "manual", "", 2, 5, 0.25, Histogram([1] * 11, 1, 50), Histogram([0] * 9))
    reading = MetricsReading({1: odd}, [group], [('gpu "a"', "pending", 1)], [], {1: "ok"})
    families = metrics.families(reading, NOW)
    for media, parse in (
        (metrics.TEXT_TYPE, text_string_to_metric_families),
        (metrics.OPENMETRICS_TYPE, openmetrics_families),
    ):
        parsed = {s.name: s for f in parse(metrics.exposition(families, media).decode()) for s in f.samples}
        assert parsed["cronui_runs_total"].labels["job"] == odd, media
        assert parsed["cronui_cost_usd_total"].value == 0.25 and parsed["cronui_tokens_total"].value == 5
        assert parsed["cronui_run_duration_seconds_sum"].value == 0.05
        assert parsed["cronui_runs_active"].labels["pool"] == 'gpu "a"'
