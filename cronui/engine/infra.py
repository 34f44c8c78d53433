"""Infrastructure failures apart from job failures.

An agent gateway or HTTP target that cannot be reached at all (the connection refused, no such host, a TLS
handshake that fails, a connect timeout, or a 502/503/504 from what stands in front of it) says nothing
about the job: the run fails with `failure_kind` `infra`, which counts toward neither `--alert-after` nor
auto-disable. Executors note each endpoint (an origin: scheme, host and port) they called and whether it
answered (`Outcome.endpoints`); the store keeps each endpoint's state and decides, once for every node, when
one goes down and when it answers again (`Recorded.endpoints`). `announce` is where such a change is told:
a job-less `infra` event now, and the `infra` alert (one per endpoint, not one per job) with its `recovered`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from cronui.engine import alerts
from cronui.model import EventKind, FailureKind, RunEvent, RunStatus
from cronui.model.alerts import AlertKind
from cronui.model.records import EndpointChange
from cronui.store import Store
from cronui.timefmt import human_span

log = logging.getLogger(__name__)

UNREACHABLE_STATUSES = (502, 503, 504)  # a proxy or load balancer answering for a backend that is not there


def endpoint_of(url: str) -> str:
    """The origin a URL calls (`https://api.example.com:8443`): no credentials, path or query, so one
    endpoint is one outage whatever job or route calls it, and nothing secret is kept with it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "?"
    if ":" in host:
        host = f"[{host}]"
    scheme = (parts.scheme or "http").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def unreachable_error(e: BaseException) -> bool:
    """Whether a transport error means the endpoint could not be reached at all (refused, no such host, TLS,
    no connection within the connect timeout), as opposed to one that answered and then failed."""
    if isinstance(e, httpx.ConnectError | httpx.ConnectTimeout):
        return True
    cause: BaseException | None = e
    for _ in range(8):  # a TLS failure httpx reports under another name, a few causes down at most
        if cause is None:
            break
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def unreachable_status(status: int) -> bool:
    return status in UNREACHABLE_STATUSES


def failure_kind(status: RunStatus, endpoints: Mapping[str, str | None]) -> FailureKind | None:
    """A run's failure kind: `infra` when it failed and every endpoint it called could not be reached (with
    fallbacks: each of them), `job` for any other failure, None for a run that did not fail."""
    if not status.counts_as_failure:
        return None
    if endpoints and all(error is not None for error in endpoints.values()):
        return FailureKind.INFRA
    return FailureKind.JOB


def change_text(change: EndpointChange) -> str:
    """One line for a change, as an alert or a log line says it."""
    if change.down:
        return f"🔌 {change.endpoint} cannot be reached: {change.error or 'no answer'}"
    out = "" if change.down_since is None else f" after {human_span(change.at - change.down_since, decimals=0)}"
    return f"✅ {change.endpoint} answers again{out}"


def change_event(change: EndpointChange) -> RunEvent:
    """The job-less event that records a change in the live log (`runs tail`, the daemon's log)."""
    data: dict[str, Any] = {
        "endpoint": change.endpoint,
        "state": "down" if change.down else "up",
        "episode": change.episode,
    }
    if change.error:
        data["error"] = change.error
    if change.down_since is not None and not change.down:
        data["down_ms"] = change.at - change.down_since
    return RunEvent(EventKind.INFRA, change.at, data=data)


def alert_subject(endpoint: str) -> str:
    """What an endpoint's `infra` alert episodes are about (unique with the kind and the episode)."""
    return f"endpoint:{endpoint}"


def announce(changes: Sequence[EndpointChange], publish: Callable[[RunEvent], None]) -> None:
    """Tell the changes the store decided: each is decided once for every node, so each is told once, as a
    job-less `infra` event in the live log (`alert_changes` turns them into alert episodes)."""
    for change in changes:
        log.log(logging.WARNING if change.down else logging.INFO, "%s", change_text(change))
        publish(change_event(change))


async def alert_changes(store: Store, changes: Sequence[EndpointChange]) -> None:
    """An endpoint going down opens its `infra` episode (one per endpoint and outage, not one per job); its
    coming back closes it, which sends `recovered`. Both are unique in the store, so a change seen by
    several nodes, or again after a restart, alerts once."""
    for change in changes:
        subject, episode = alert_subject(change.endpoint), str(change.episode)
        if change.down:
            data = change_event(change).data
            await alerts.raise_alert(store, subject, AlertKind.INFRA, episode, change_text(change), data, now=change.at)
        else:
            await alerts.close_alert(store, subject, AlertKind.INFRA, episode, now=change.at)
