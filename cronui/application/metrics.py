"""`GET /metrics`: what the store reads (cronui.store.metrics) as Prometheus metric families, in Prometheus'
text format or OpenMetrics.

The runs' families are counters of runs that ended (reached a final status), kept by the store's rollup as
they end: `cronui_runs_total`, `cronui_tokens_total`, `cronui_cost_usd_total` and the duration and lateness
histograms (whose buckets, counts and sums are counters too). Retention pruning does not lower them: a
counter that went down would read to Prometheus as a restart and `rate()` / `increase()` would count the
whole history again. Runs still waiting or running are a gauge (`cronui_runs_active`), as are the alert
outbox, the jobs' health and the scheduling processes: things that are, not things that happened.

Per-job labels: the oldest `[metrics] max_jobs` live jobs (by id) are labelled with their name; every other
job's runs (and those of removed jobs) are summed under job="(other)". Runs of no pool are pool="".

The text is written here, line by line, rather than through prometheus-client's metric objects: at 1,000
labelled jobs a scrape is some 34,000 samples, which prometheus-client took about 0.3 s to build and encode
where this takes under 0.1 s (on a busy 2-core machine; tests/benchmarks/bench_metrics.py). The tests read
it back with prometheus-client's parsers, of both formats.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from cronui.application.context import Cronui
from cronui.model.alerts import HEALTHS
from cronui.store.metrics import DURATION_BOUNDS_S, LATENESS_BOUNDS_S, OTHER, Histogram, MetricsReading

OTHER_JOB = "(other)"  # the `job` label of the runs summed past `max_jobs`
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass
class Family:
    """One metric family: its name (a counter's without `_total`), type, help, and its sample lines."""

    name: str
    kind: str  # counter, gauge, histogram
    help: str
    lines: list[str] = field(default_factory=list)


async def read(app: Cronui) -> MetricsReading:
    """One reading of the store for a scrape."""
    return await app.store.metrics_reading(app.settings.metrics.max_jobs)


def media_type(accept: str) -> str:
    """OpenMetrics when the scraper accepts it (Prometheus does), else Prometheus' text format."""
    types = (part.split(";")[0].strip() for part in accept.split(","))
    return OPENMETRICS_TYPE if "application/openmetrics-text" in types else TEXT_TYPE


def exposition(families: Sequence[Family], media: str) -> bytes:
    """The families written in `media` (TEXT_TYPE or OPENMETRICS_TYPE)."""
    open_metrics = media == OPENMETRICS_TYPE
    out: list[str] = []
    for f in families:
        # the text format names a counter's family by its samples (`_total`), OpenMetrics without
        name = f"{f.name}_total" if f.kind == "counter" and not open_metrics else f.name
        out.append(f"# HELP {name} {f.help}\n# TYPE {name} {f.kind}\n")
        out += f.lines
    if open_metrics:
        out.append("# EOF\n")
    return "".join(out).encode()


def label(value: str) -> str:
    """A label value, escaped as both formats want it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def families(reading: MetricsReading, now_ms: int) -> list[Family]:
    """The metric families of one reading (`now_ms`: which nodes' heartbeats are still live)."""
    names = {job_id: label(name) for job_id, name in reading.jobs.items()}

    def job(job_id: int) -> str:
        return names.get(job_id, OTHER_JOB) if job_id != OTHER else OTHER_JOB

    runs = Family("cronui_runs", "counter", "Runs that ended, by job, status, trigger and failure kind.")
    tokens: dict[str, int] = {}
    cost: dict[str, float] = {}
    durations: dict[str, Histogram] = {}
    lateness: dict[str, Histogram] = {}
    for g in reading.runs:
        name = job(g.job_id)
        runs.lines.append(
            f'cronui_runs_total{{job="{name}",status="{label(g.status)}",trigger="{label(g.trigger)}",'
            f'failure_kind="{label(g.failure_kind)}"}} {g.runs}\n'
        )
        tokens[name] = tokens.get(name, 0) + g.tokens
        if g.cost_usd is not None:
            cost[name] = cost.get(name, 0.0) + g.cost_usd
        _merge(durations, name, g.duration, len(DURATION_BOUNDS_S))
        _merge(lateness, name, g.lateness, len(LATENESS_BOUNDS_S))
    out = [runs]
    out.append(_per_job("cronui_tokens", "counter", "Tokens the runs that ended used, by job.", tokens.items()))
    out.append(_per_job("cronui_cost_usd", "counter", "What the runs that ended cost (USD), by job.", cost.items()))
    out.append(
        _histogram(
            "cronui_run_duration_seconds", "How long the runs that ended ran, by job.", DURATION_BOUNDS_S, durations
        )
    )
    out.append(
        _histogram(
            "cronui_run_lateness_seconds",
            "How late the runs that ended had started (started_at - scheduled_for), by job.",
            LATENESS_BOUNDS_S,
            lateness,
        )
    )
    active = Family("cronui_runs_active", "gauge", "Runs waiting (pending, awaiting_approval) or running now, by pool.")
    active.lines += (
        f'cronui_runs_active{{pool="{label(pool)}",status="{label(status)}"}} {count}\n'
        for pool, status, count in reading.active
    )
    sends = Family(
        "cronui_alert_sends_recorded",
        "gauge",
        "Alert notices the outbox keeps, by kind (recovered for a recovery) and outcome (sent, failed, pending).",
    )
    sends.lines += (
        f'cronui_alert_sends_recorded{{kind="{label(notice)}",outcome="{label(outcome)}"}} {count}\n'
        for notice, outcome, count in reading.sends
    )
    out += [active, sends]
    out += _health(reading, names)
    out += _scheduling(reading, now_ms)
    return out


def _merge(into: dict[str, Histogram], name: str, h: Histogram, n: int) -> None:
    into.setdefault(name, Histogram([0] * n)).add(h.buckets, h.count, h.sum_ms)


def _per_job(name: str, kind: str, text: str, values: Iterable[tuple[str, float]]) -> Family:
    """A family with one sample per job (the job labels escaped already)."""
    sample = f"{name}_total" if kind == "counter" else name
    return Family(name, kind, text, [f'{sample}{{job="{job}"}} {number(v)}\n' for job, v in values])


def _histogram(name: str, text: str, bounds_s: Sequence[float], by_job: dict[str, Histogram]) -> Family:
    family = Family(name, "histogram", text)
    les = [f"{b:g}" for b in bounds_s]
    for job, h in by_job.items():
        family.lines += (f'{name}_bucket{{job="{job}",le="{le}"}} {c}\n' for le, c in zip(les, h.buckets, strict=True))
        family.lines += (
            f'{name}_bucket{{job="{job}",le="+Inf"}} {h.count}\n',
            f'{name}_count{{job="{job}"}} {h.count}\n',
            f'{name}_sum{{job="{job}"}} {number(h.sum_ms / 1000)}\n',
        )
    return family


def _health(reading: MetricsReading, names: dict[int, str]) -> Iterator[Family]:
    """Each labelled job's health (1 on its current one), and how many jobs are in each health."""
    per_job = Family("cronui_job_health", "gauge", "A job's health: 1 on the one it has now (labelled jobs only).")
    counts = dict.fromkeys(HEALTHS, 0)
    for job_id, health in reading.health.items():
        counts[health] = counts.get(health, 0) + 1
        if job_id in names:
            per_job.lines.append(f'cronui_job_health{{job="{names[job_id]}",health="{label(health)}"}} 1\n')
    yield per_job
    yield Family(
        "cronui_jobs",
        "gauge",
        "Live jobs in each health (every job).",
        [f'cronui_jobs{{health="{label(h)}"}} {n}\n' for h, n in counts.items()],
    )


def _scheduling(reading: MetricsReading, now_ms: int) -> Iterator[Family]:
    alive = [n for n in reading.nodes if n.expires_at > now_ms]
    yield Family(
        "cronui_nodes_alive",
        "gauge",
        "Scheduling processes with a live heartbeat.",
        [f"cronui_nodes_alive {len(alive)}\n"],
    )
    holder = Family(
        "cronui_scheduler_holder", "gauge", "The process holding the scheduler lease (1), while its lease is live."
    )
    lease = reading.lease
    if lease is not None and lease.expires_at > now_ms:
        holder.lines.append(f'cronui_scheduler_holder{{node="{label(lease.holder)}",host="{label(lease.host)}"}} 1\n')
    yield holder
