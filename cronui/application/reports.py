"""What the CLI's `--json` and the HTTP API both report: who schedules (`status`), and a job with its stats
(`jobs show`). One builder each, so the two faces print the same objects."""

from __future__ import annotations

import json
import socket
from typing import Any

from cronui.application.shapes import job_json
from cronui.config import Settings
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control
from cronui.engine.faults import LAST_FAULT_KEY
from cronui.model import Job, Lease, RunStatus
from cronui.model.records import JobStats
from cronui.placement import missing_labels
from cronui.redaction import redacted
from cronui.store import Store
from cronui.timefmt import iso_utc

DAY_MS = 86_400_000


async def live_holder(store: Store) -> bool:
    """Whether a live process schedules: holds the scheduler lease (a holder on this host must still have its
    pid), or in cluster mode, any node with a live heartbeat."""
    # the engine module loads the dispatcher and its executors (httpx): only commands that ask pay for it
    from cronui.engine.executors.containment import pid_alive

    if store.multi_node:  # cluster mode: any node with a live heartbeat schedules
        now = SystemClock().now_ms()
        return any(n.expires_at > now for n in await store.nodes())
    lease = await store.get_lease()
    if lease is None or lease.expires_at <= SystemClock().now_ms():
        return False
    return lease.host != socket.gethostname() or pid_alive(lease.pid)


def stats_json(st: JobStats) -> dict[str, Any]:
    """A job's (or all jobs') finished runs in a window, as `jobs show --json` prints them."""
    return {
        "runs": st.runs,
        "success_rate": st.success_rate,
        "median_ms": st.median_ms,
        "p95_ms": st.p95_ms,
        "total_tokens": st.total_tokens,
        "cost_usd": st.cost_usd,
    }


async def job_report(store: Store, job: Job, now: int) -> dict[str, Any]:
    """`cronui jobs show --json`: the job in full, with its stats of all time, 7 and 30 days."""
    assert job.id is not None
    data = job_json(job, full=True)
    data["stats"] = {}
    for window, since in (("all", None), ("last_7d", now - 7 * DAY_MS), ("last_30d", now - 30 * DAY_MS)):
        data["stats"][window] = stats_json(await store.job_stats(job.id, since))
    return data


async def status_report(settings: Settings, store: Store, control: Control) -> dict[str, Any]:
    """`cronui status --json`: who schedules (or stalls), the pause flag, job and run counts, the next fire."""
    lease = await store.get_lease()
    live = await live_holder(store)
    jobs = await store.list_jobs()
    counts = await store.run_counts([RunStatus.RUNNING, RunStatus.PENDING, RunStatus.AWAITING_APPROVAL])
    upcoming = sorted((j for j in jobs if j.enabled and j.next_run_at), key=lambda j: j.next_run_at or 0)
    pause = await control.pause_state()
    paused = pause.paused
    now = SystemClock().now_ms()
    data: dict[str, Any] = {
        "db": redacted(settings.db),
        "scheduler": None if not live or lease is None else _scheduler(lease, settings, now),
        "stalled": None if live or lease is None or not _alive(lease) else _scheduler(lease, settings, now),
        "paused": paused,
        "paused_until": iso_utc(pause.until) if paused else None,  # a timed pause ends by itself then
        "jobs": len(jobs),
        "enabled": sum(1 for j in jobs if j.enabled),
        "running": counts[RunStatus.RUNNING],
        "pending": counts[RunStatus.PENDING],
        "awaiting_approval": counts[RunStatus.AWAITING_APPROVAL],
        "next": None if not upcoming else {"job": upcoming[0].name, "at": iso_utc(upcoming[0].next_run_at)},
        "last_db_fault": _last_fault(await store.get_state(LAST_FAULT_KEY)),
        "unplaced": missing_labels(jobs, await store.nodes(), now),
    }
    if store.multi_node:  # cluster mode: no single holder; the nodes with a live heartbeat schedule
        alive = [n for n in await store.nodes() if n.expires_at > now]
        data["nodes"] = len(alive)
        data["scheduler"] = None if not alive else {"nodes": len(alive), "hosts": sorted({n.host for n in alive})}
    return data


def _alive(lease: Lease) -> bool:
    """A lease holder on this host whose process still exists (another host's cannot be told)."""
    from cronui.engine.executors.containment import pid_alive

    return lease.host == socket.gethostname() and pid_alive(lease.pid)


def _scheduler(lease: Lease, settings: Settings, now: int) -> dict[str, Any]:
    """Who holds the lease, and whether it keeps renewing it: a holder renews every lease.renew seconds,
    to now + lease.ttl, so a lease renewed longer ago than two renewals says its holder is stuck (most
    likely the database refuses its writes)."""
    renewed = lease.expires_at - int(settings.lease.ttl * 1000)
    return {
        "host": lease.host,
        "pid": lease.pid,
        "since": iso_utc(lease.acquired_at),
        "node": lease.holder,
        "renewed": iso_utc(renewed),
        "renewing": now - renewed <= 2 * settings.lease.renew * 1000,
    }


def _last_fault(raw: str | None) -> dict[str, Any] | None:
    """The last database fault a scheduler rode out, as it noted it."""
    if raw is None:
        return None
    try:
        note = json.loads(raw)
        return {
            "error": str(note["error"]),
            "since": iso_utc(int(note["since"])),
            "until": iso_utc(int(note["until"])),
            "lasted_s": float(note["lasted_s"]),
            "failures": int(note["failures"]),
            "node": str(note["node"]),
        }
    except (ValueError, TypeError, KeyError):
        return None  # a note written by another version: nothing to show
