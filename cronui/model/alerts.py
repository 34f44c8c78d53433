"""Alerts as values: the kinds cronui watches for, an episode (one occurrence of a condition, recorded once
however many nodes see it) and a send (one notice of an episode to one channel, with its attempts and
outcome). The store keeps episodes unique on (subject, kind, episode) and sends unique on (episode, notice,
channel), so several nodes, or one restarted, send each notice once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class AlertKind(enum.StrEnum):
    FAILURE = "failure"  # --alert-after N failures in a row
    LATE = "late"  # a slot not started --alert-late after its time
    OVERRUN = "overrun"  # a run still running --alert-overrun after it started
    SHORT = "short"  # a successful run shorter than --alert-short
    NO_SUCCESS = "no_success"  # no successful run for --alert-no-success
    DEGRADED = "degraded"  # success rate below --alert-rate over the last N finished runs
    RECOVERED = "recovered"  # the notice sent when an episode's condition clears
    APPROVAL = "approval"
    BUDGET = "budget"
    INFRA = "infra"  # an endpoint that cannot be reached at all (its subject is the endpoint)


# the kinds the store's evaluation pass decides (the others are raised where they happen)
EVALUATED = (AlertKind.LATE, AlertKind.OVERRUN, AlertKind.NO_SUCCESS)

# a job's health, worst first (store/health.py decides it)
HEALTHS = ("paused", "failing", "late", "overrun", "no_success", "degraded", "never_ran", "ok")

# notices of a moment, not of a condition that clears: recorded closed (a budget's at the end of its day), no
# recovery is ever told; a retry notice (`--notify-retries`) rides as kind `failure`, its episode `retry:RUN`
NOTICE_KINDS = (AlertKind.BUDGET, AlertKind.APPROVAL)
RETRY_EPISODE = "retry:"
NOTICE_FIELDS = "fields"  # an episode's data: what a JSON webhook gets besides the alert (a "needs approval"'s)


def is_notice(kind: AlertKind | str, episode: str) -> bool:
    """Whether an episode is a notice of a moment (see NOTICE_KINDS), which never recovers."""
    return kind in NOTICE_KINDS or (kind == AlertKind.FAILURE and episode.startswith(RETRY_EPISODE))


SENT = "sent"
FAILED = "failed"
PENDING = "pending"


def job_subject(job_id: int) -> str:
    """The subject of a job's own episodes."""
    return f"job:{job_id}"


@dataclass
class AlertDefaults:
    """`[alerts]` in the config: expectations every job inherits unless it sets its own, where alerts go
    (`to`) and which kinds are sent there (`on`; empty: every kind)."""

    late_s: float | None = None
    overrun_s: float | None = None
    short_s: float | None = None
    no_success_s: float | None = None
    rate_pct: float | None = None
    rate_n: int | None = None
    to: list[str] = field(default_factory=list)
    on: list[str] = field(default_factory=list)


@dataclass
class AlertEpisode:
    """One occurrence of a condition: opened once, closed (recovered) once."""

    subject: str
    kind: AlertKind
    episode: str
    text: str
    opened_at: int
    job_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    closed_at: int | None = None
    id: int | None = None
    job_name: str | None = None
    run_id: int | None = None  # the run the condition is about (late, overrun)
    since: int | None = None  # the moment it refers to: the slot, the run's start, the latest success


@dataclass
class AlertSend:
    """One notice (the episode's kind, or `recovered`) to one channel, as the outbox keeps it."""

    id: int
    episode_id: int
    notice: str
    channel: str  # as written: a `${env:NAME}` reference stays one
    format: str | None
    created_at: int
    next_at: int
    attempts: int = 0
    outcome: str = PENDING
    answer: str | None = None
    sent_at: int | None = None
    subject: str = ""
    kind: str = ""
    text: str = ""
    job_id: int | None = None
    job_name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # its episode's (a failure's recovery says its own text)
