"""Posting a run's result to webhooks (Slack, Discord, generic JSON). What a failure alert says is the rule
in cronui.model.failures (engine/failure_alerts.py records it as an episode, sent through the alerts' outbox).

Delivery follows the final attempt of a run and has its own status, kept apart from the run's:
`delivered` (the target answered 2xx — never claimed without one), `failed` (with the reason, after
retries with backoff) or `suppressed` (with the reason). A run that succeeded stays succeeded when its
delivery fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cronui import secrets
from cronui.engine.executors import redirects
from cronui.model import Job, Run, RunStatus
from cronui.model.failures import FAILURES
from cronui.timefmt import human_span, iso_utc

DELIVERED = "delivered"
FAILED = "failed"
SUPPRESSED = "suppressed"
PENDING = "pending"

TEXT_CAP = {"slack": 3500, "discord": 1800, "json": 16_000}  # by format (targets.DELIVERY_FORMATS)
ATTEMPTS = 3
ATTEMPT_DEADLINE_S = 30.0  # one whole attempt, redirects and a slow or endless answer included
ANSWER_CAP = 64 * 1024  # at most this much of a target's answer is read; the rest is never wanted


@dataclass
class Result:
    status: str
    reason: str | None = None


def wanted(job: Job, run: Run) -> bool:
    """Whether this run's result is meant to be delivered at all."""
    mode = job.delivery.mode or "never"
    if not job.delivery.to or mode == "never":
        return False
    return mode == "always" or (mode == "on_failure" and run.status in FAILURES)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n… (truncated)"


def payload(fmt: str, job: Job, run: Run, text: str) -> dict[str, Any]:
    """The message for the target: job, status, duration, cost and the reply or output."""
    mark = "✅" if run.status is RunStatus.SUCCEEDED else "❌"
    cost = f" · ${run.cost_usd:.4f}" if run.cost_usd is not None else ""
    head = f"{mark} {job.name} #{run.id} {run.status} in {human_span(run.duration_ms)}{cost}"
    body = text.strip() or (run.error or "")
    if fmt == "json":
        return {
            "job": job.name,
            "run_id": run.id,
            "status": str(run.status),
            "trigger": str(run.trigger),
            "attempt": run.attempt,
            "scheduled_for": iso_utc(run.scheduled_for),
            "finished_at": iso_utc(run.finished_at),
            "duration_ms": run.duration_ms,
            "cost_usd": run.cost_usd,
            "total_tokens": run.total_tokens,
            "error": run.error,
            "text": _cap(text, TEXT_CAP["json"]),
        }
    limit = TEXT_CAP[fmt]
    message = head if not body else f"{head}\n{_cap(body, limit)}"
    if fmt == "discord":
        return {"content": message}
    return {"text": message}


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    attempts: int = ATTEMPTS,
    backoff_s: float = 1.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    deadline_s: float = ATTEMPT_DEADLINE_S,
) -> Result:
    """POST with retries on transport errors, 429 and 5xx; `delivered` only on a 2xx.

    Each attempt ends within `deadline_s` whatever the target does, and reads at most
    `ANSWER_CAP` bytes of its answer: a target that streams forever can neither hold the delivery nor
    fill memory."""
    found: list[str] = []
    try:
        target = secrets.resolve(url, env, found)
    except secrets.MissingSecret as e:
        return Result(FAILED, str(e))
    reason = ""
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(deadline_s):
                status, phrase = await _attempt(client, target, body)
        except httpx.HTTPError as e:
            reason = f"{type(e).__name__}: {e}"
        except TimeoutError:
            reason = f"the target did not answer within {deadline_s:g}s"
        else:
            if 200 <= status < 300:
                return Result(DELIVERED)
            reason = f"HTTP {status} {phrase} from the target".strip()
            if status != 429 and status < 500:
                return Result(FAILED, secrets.mask(reason, found))
        if attempt < attempts:
            await sleep(backoff_s * 2 ** (attempt - 1))
    return Result(FAILED, secrets.mask(f"{reason} (after {attempts} attempts)", found))


async def _attempt(client: httpx.AsyncClient, target: str, body: Mapping[str, Any]) -> tuple[int, str]:
    """One POST: the answer's status, with at most `ANSWER_CAP` bytes of its body read (a small
    answer read whole lets the connection be reused; a larger one is closed unread)."""
    timeout = httpx.Timeout(15.0, connect=5.0)
    async with redirects.stream(client, "POST", target, json=dict(body), timeout=timeout) as resp:
        read = 0
        async for chunk in resp.aiter_raw():
            read += len(chunk)
            if read >= ANSWER_CAP:
                break
        return resp.status_code, resp.reason_phrase
