"""Alerts as every face shows them: the episodes recorded (newest first) with each of their sends and its
outcome (`cronui alerts`, `GET /api/v1/alerts`), and a test notice to one channel (`cronui alerts test URL`).

A channel is shown masked (`cronui.masking.mask_channel`: `${env:NAME}` references as written, literal
tokens and passwords hidden) and what a service answered is shown masked and cut, so no output holds a
channel's secret."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cronui import secrets
from cronui.alert_options import channel_problem
from cronui.application.context import Cronui
from cronui.application.errors import Invalid
from cronui.application.values import parse_count
from cronui.engine import channels
from cronui.masking import mask_channel, mask_text
from cronui.model.alerts import AlertEpisode, AlertSend, is_notice
from cronui.timefmt import iso_utc

DEFAULT_LIMIT = 50  # episodes one listing shows
MAX_LIMIT = 1000
ANSWER_SHOWN = 200  # characters of a service's answer a listing shows (the store keeps more)
TEST_DEADLINE_S = 20.0


def answer_shown(answer: str | None, channel: str, cap: int = ANSWER_SHOWN) -> str | None:
    """What a service answered, as shown: the channel's secret parts masked (again: an answer may quote the
    URL it was sent to), control-free, cut to `cap` characters."""
    if answer is None:
        return None
    text = secrets.mask(mask_text(answer), channels.url_parts(channel))
    text = " ".join(text.split())
    return text if len(text) <= cap else text[: cap - 1] + "…"


def send_json(s: AlertSend) -> dict[str, Any]:
    return {
        "id": s.id,
        "notice": s.notice,
        "channel": mask_channel(s.channel),
        "format": s.format,
        "outcome": s.outcome,
        "attempts": s.attempts,
        "answer": answer_shown(s.answer, s.channel),
        "queued_at": iso_utc(s.created_at),
        "sent_at": iso_utc(s.sent_at),
        "next_at": iso_utc(s.next_at) if s.outcome == "pending" else None,
    }


def alert_json(e: AlertEpisode, sends: list[AlertSend]) -> dict[str, Any]:
    """One episode as `cronui alerts --json` and the API show it."""
    return {
        "id": e.id,
        "kind": str(e.kind),
        "subject": e.subject,
        "job": e.job_name,
        "episode": e.episode,
        "text": e.text,
        "opened_at": iso_utc(e.opened_at),
        "closed_at": iso_utc(e.closed_at),
        # false: a notice of a moment (a budget spent, a retry planned, a run waiting for approval), told
        # once; it is recorded closed (a budget's at the end of its day) and never recovers
        "recovers": not is_notice(e.kind, e.episode),
        "sends": [send_json(s) for s in sends],
    }


async def list_alerts(app: Cronui, job: str | None = None, limit: str | int | None = None) -> list[dict[str, Any]]:
    """The latest episodes, newest first, of one job (by name) or of all, each with its sends."""
    count = DEFAULT_LIMIT if limit is None else parse_count(str(limit), "limit", MAX_LIMIT)
    job_id = None if job is None else (await app.control.job(job)).id
    return [alert_json(e, sends) for e, sends in await app.store.list_alert_episodes(count, job_id)]


@dataclass
class NoticeResult:
    channel: str  # masked
    sent: bool
    answer: str


def check_channel(url: str, env: Mapping[str, str]) -> None:
    """A channel `alerts test` can send to: a URL apprise knows (or an https webhook) whose `${env:NAME}`
    references are all set; else Invalid naming what is wrong."""
    shown = repr(mask_channel(url))
    if "://" not in url or any(c.isspace() for c in url.strip()):
        raise Invalid(f"URL: expected one channel URL like mailto://me@example.com or tgram://TOKEN/CHAT, got {shown}")
    unset = secrets.missing([url], env)
    if unset:
        raise Invalid(f"URL: environment variable {unset[0]} is not set (referenced as ${{env:{unset[0]}}})")
    resolved = secrets.resolve(url, env)
    problem = None if channels.is_webhook(resolved) else channel_problem(resolved)
    if problem:
        raise Invalid(f"URL: {shown[1:-1]}: {problem}")


async def send_test_notice(url: str, env: Mapping[str, str] | None = None) -> NoticeResult:
    """Send a test notice to `url` now (not through the outbox: nothing is recorded) and say what the
    service answered, masked."""
    environ = os.environ if env is None else env
    url = url.strip()
    check_channel(url, environ)
    host = socket.gethostname()
    title = "cronui: a test notice"
    text = f"A test notice from cronui on {host}: alerts sent here reach you."
    body = {"job": None, "alert": text, "kind": "test", "subject": "test", "text": text}
    async with httpx.AsyncClient() as client:
        ok, answer = await channels.send(client, url, "json", title, body, environ, deadline_s=TEST_DEADLINE_S)
    return NoticeResult(mask_channel(url), ok, answer_shown(answer, url, cap=channels.ANSWER_CAP) or "")
