"""What every face shows of watching: a job's expectations with those it inherits from `[alerts]` named
(`jobs show`, the API's job), each job's health (`jobs list`, the API, `cronui status --check`).

The `alerts` object of a job (the JSON contract): the values in force, the job's own or `[alerts]`'s —
`late_s`, `overrun_s`, `short_s`, `no_success_s` (seconds or null), `rate` (`"PCT/N"` or null), `on` (the
kinds sent; empty: every kind), `to` (the channels, masked) — and `inherited`, the names of those whose value
comes from `[alerts]`, and `from_grace`, those whose value is a check's grace (`late_s` of a check with no
--alert-late of its own: a slot with no ping within its grace is late, whatever `[alerts] late` says).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cronui.alert_options import SPANS, rate_text
from cronui.application.context import Cronui
from cronui.engine import channels
from cronui.model import Job
from cronui.model.alerts import AlertDefaults, AlertSend
from cronui.timefmt import duration_spec

OK = "ok"
ALERTS_PAGE = 200  # the alerts a face lists at most, newest first: a page, never the whole history


def alerts_json(job: Job, defaults: AlertDefaults) -> dict[str, Any]:
    """A job's expectations and alert routing in force, and which of them it inherits (see the module)."""
    out: dict[str, Any] = {}
    inherited: list[str] = []
    from_grace: list[str] = []
    for word, attr, default in SPANS:
        own = getattr(job, attr)
        if own is None and word == "late" and job.is_check:  # a check's grace is its late span, over [alerts]
            out["late_s"] = job.check_grace_s
            from_grace.append("late_s")
            continue
        out[f"{word}_s"] = own if own is not None else getattr(defaults, default)
        if own is None and out[f"{word}_s"] is not None:
            inherited.append(f"{word}_s")
    if job.alert_rate_pct is not None:
        out["rate"] = rate_text(job.alert_rate_pct, job.alert_rate_n)
    else:
        out["rate"] = rate_text(defaults.rate_pct, defaults.rate_n)
        if out["rate"] is not None:
            inherited.append("rate")
    out["on"] = list(job.alert_on) if job.alert_on is not None else list(defaults.on)
    if job.alert_on is None and defaults.on:
        inherited.append("on")
    d = job.delivery
    own_to = channels.split_channels(d.alert_to) or channels.split_channels(d.to)
    out["to"] = [channels.shown(c) for c in (own_to or defaults.to)]
    if not own_to and defaults.to:
        inherited.append("to")
    out["inherited"] = inherited
    out["from_grace"] = from_grace
    return out


def alerts_lines(data: dict[str, Any]) -> list[str]:
    """`jobs show`'s lines of the `alerts` object: `late 10m (from [alerts])`, `late 30m (the check's grace)`..."""
    inherited = set(data["inherited"])
    parts = []
    for word, _, _ in SPANS:
        value = data[f"{word}_s"]
        if value is not None:
            spec = duration_spec(value)
            shown = spec if isinstance(spec, str) else f"{spec:g}s"
            source = " (from [alerts])" if f"{word}_s" in inherited else ""
            source = " (the check's grace)" if f"{word}_s" in data["from_grace"] else source
            parts.append(f"{word} {shown}{source}")
    if data["rate"] is not None:
        parts.append(f"rate {data['rate']}" + (" (from [alerts])" if "rate" in inherited else ""))
    lines = [" · ".join(parts)] if parts else []
    if data["on"]:
        lines.append("on " + ", ".join(data["on"]) + (" (from [alerts])" if "on" in inherited else ""))
    if data["to"]:
        lines.append("to " + " ".join(data["to"]) + (" (from [alerts])" if "to" in inherited else ""))
    return lines


async def healths(app: Cronui) -> dict[int, str]:
    """Every job's health by its id (one query over all jobs)."""
    return await app.store.job_health()


async def recent_alerts(app: Cronui, limit: int = ALERTS_PAGE) -> list[AlertSend]:
    """The latest alert sends, newest first, at most `limit`, each channel as every output shows it
    (`${env:NAME}` as written, secrets masked)."""
    sends = await app.store.list_alert_sends(max(1, min(limit, ALERTS_PAGE)))
    return [dataclasses.replace(s, channel=channels.shown(s.channel)) for s in sends]


async def watch_report(app: Cronui, job: Job) -> dict[str, Any]:
    """What `jobs show --json` and the API's `GET /jobs/NAME` add of watching: `health` and `alerts`."""
    assert job.id is not None
    return {"health": (await healths(app)).get(job.id, OK), "alerts": alerts_json(job, app.settings.alerts)}


async def unhealthy(app: Cronui) -> list[tuple[str, str]]:
    """`cronui status --check`: (name, health) of every enabled job whose health is not `ok`."""
    found = await healths(app)
    return [
        (j.name, found.get(j.id, OK))
        for j in await app.store.list_job_heads()
        if j.enabled and j.id is not None and found.get(j.id, OK) != OK
    ]
