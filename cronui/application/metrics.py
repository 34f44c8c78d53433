"""`GET /metrics`: what the store reads (cronui.store.metrics) as Prometheus metric families.

Every family is a gauge (or a gauge histogram) of what the store keeps now, not a counter: retention
pruning removes old runs and so lowers the figures, which a counter must never do (Prometheus would read
each prune as a restart). Hence the `_recorded` names; `delta()` or `increase()` over a window shorter
than the retention reads them as counts of new runs.

Per-job labels: the oldest `[metrics] max_jobs` live jobs (by id) are labelled with their name; every other
job's runs (and those of removed jobs) are summed under job="(other)". Runs of no pool are pool="".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric

from cronui.application.context import Cronui
from cronui.model.alerts import HEALTHS
from cronui.store.metrics import DURATION_BOUNDS_S, LATENESS_BOUNDS_S, OTHER, Histogram, MetricsReading

OTHER_JOB = "(other)"  # the `job` label of the runs summed past `max_jobs`


async def read(app: Cronui) -> MetricsReading:
    """One reading of the store for a scrape."""
    return await app.store.metrics_reading(app.settings.metrics.max_jobs)


def families(reading: MetricsReading, now_ms: int) -> list[Metric]:
    """The metric families of one reading (`now_ms`: which nodes' heartbeats are still live)."""
    names = reading.jobs

    def job(job_id: int) -> str:
        return names.get(job_id, OTHER_JOB) if job_id != OTHER else OTHER_JOB

    runs = GaugeMetricFamily(
        "cronui_runs_recorded",
        "Runs the store keeps, by job, status, trigger and failure kind (pruning lowers it).",
        labels=["job", "status", "trigger", "failure_kind"],
    )
    tokens: dict[str, int] = {}
    cost: dict[str, float] = {}
    durations: dict[str, Histogram] = {}
    lateness: dict[str, Histogram] = {}
    for g in reading.runs:
        name = job(g.job_id)
        runs.add_metric([name, g.status, g.trigger, g.failure_kind], g.runs)
        tokens[name] = tokens.get(name, 0) + g.tokens
        if g.cost_usd is not None:
            cost[name] = cost.get(name, 0.0) + g.cost_usd
        _merge(durations, name, g.duration, len(DURATION_BOUNDS_S))
        _merge(lateness, name, g.lateness, len(LATENESS_BOUNDS_S))
    out: list[Metric] = [runs]
    out.append(_gauge("cronui_tokens_recorded", "Tokens the kept runs used, by job.", ["job"], tokens.items()))
    out.append(_gauge("cronui_cost_usd_recorded", "What the kept runs cost (USD), by job.", ["job"], cost.items()))
    out.append(
        _histogram("cronui_run_duration_seconds", "How long the kept runs ran, by job.", DURATION_BOUNDS_S, durations)
    )
    out.append(
        _histogram(
            "cronui_run_lateness_seconds",
            "How late the kept runs started (started_at - scheduled_for), by job.",
            LATENESS_BOUNDS_S,
            lateness,
        )
    )
    active = GaugeMetricFamily(
        "cronui_runs_active",
        "Runs waiting (pending, awaiting_approval) or running now, by pool.",
        labels=["pool", "status"],
    )
    for pool, status, count in reading.active:
        active.add_metric([pool, status], count)
    out.append(active)
    sends = GaugeMetricFamily(
        "cronui_alert_sends_recorded",
        "Alert notices the outbox keeps, by kind (recovered for a recovery) and outcome (sent, failed, pending).",
        labels=["kind", "outcome"],
    )
    for notice, outcome, count in reading.sends:
        sends.add_metric([notice, outcome], count)
    out.append(sends)
    out += _health(reading)
    out += _scheduling(reading, now_ms)
    return out


def _merge(into: dict[str, Histogram], name: str, h: Histogram, n: int) -> None:
    into.setdefault(name, Histogram([0] * n)).add(h.buckets, h.count, h.sum_ms)


def _gauge(name: str, text: str, labels: list[str], values: Iterable[tuple[str, float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=labels)
    for label, value in values:
        family.add_metric([label], value)
    return family


def _histogram(name: str, text: str, bounds_s: Sequence[float], by_job: dict[str, Histogram]) -> Metric:
    family = GaugeHistogramMetricFamily(name, text, labels=["job"])
    for job_name, h in by_job.items():
        buckets = [(f"{b:g}", float(c)) for b, c in zip(bounds_s, h.buckets, strict=True)]
        family.add_metric([job_name], [*buckets, ("+Inf", float(h.count))], h.sum_ms / 1000)
    return family


def _health(reading: MetricsReading) -> Iterator[Metric]:
    """Each labelled job's health (1 on its current one), and how many jobs are in each health."""
    per_job = GaugeMetricFamily(
        "cronui_job_health", "A job's health: 1 on the one it has now (labelled jobs only).", labels=["job", "health"]
    )
    counts = dict.fromkeys(HEALTHS, 0)
    for job_id, health in reading.health.items():
        counts[health] = counts.get(health, 0) + 1
        if job_id in reading.jobs:
            per_job.add_metric([reading.jobs[job_id], health], 1)
    yield per_job
    yield _gauge("cronui_jobs", "Live jobs in each health (every job).", ["health"], counts.items())


def _scheduling(reading: MetricsReading, now_ms: int) -> Iterator[Metric]:
    alive = [n for n in reading.nodes if n.expires_at > now_ms]
    yield GaugeMetricFamily("cronui_nodes_alive", "Scheduling processes with a live heartbeat.", value=len(alive))
    holder = GaugeMetricFamily(
        "cronui_scheduler_holder",
        "The process holding the scheduler lease (1), while its lease is live.",
        labels=["node", "host"],
    )
    lease = reading.lease
    if lease is not None and lease.expires_at > now_ms:
        holder.add_metric([lease.holder, lease.host], 1)
    yield holder
