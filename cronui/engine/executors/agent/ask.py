"""Asking one model: the request (streamed, or one plain request when the server refuses to stream), the
reply read within bounds, and what a failure means for the next model in the job's fallbacks."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from cronui.engine import infra
from cronui.engine.executors import redirects
from cronui.engine.executors.agent.cost import CostLimit, cost_limit, load_price_table
from cronui.engine.executors.agent.reply import Reply
from cronui.engine.executors.agent.shapes import StreamError
from cronui.engine.executors.agent.stream import (
    MAX_ERROR_BODY_BYTES,
    CutStream,
    StalledStream,
    json_body,
    plain_reply,
    read_body,
    read_stream,
)
from cronui.engine.executors.base import Outcome, RunContext, permanent_failure
from cronui.engine.executors.http import status_failure, transport_error
from cronui.engine.executors.pacing import DeadlinePassed, Pacer
from cronui.model import RunStatus
from cronui.targets import AgentTarget, split_fallback


@dataclass
class Endpoint:
    """A model and where to ask it: the job's own, or one of its fallbacks."""

    model: str
    base: str  # the base URL without its trailing slash (price tables know a provider by it)

    @property
    def url(self) -> str:
        return self.base if self.base.endswith("/chat/completions") else f"{self.base}/chat/completions"


def endpoints(spec: AgentTarget) -> list[Endpoint]:
    """The job's model, then its fallbacks in order (a fallback without a URL uses the job's)."""
    out = [Endpoint(spec.model, spec.base_url.rstrip("/"))]
    for text in spec.fallbacks:
        model, base = split_fallback(text)
        out.append(Endpoint(model, (base or spec.base_url).rstrip("/")))
    return out


@dataclass
class Asking:
    """What every request of one run shares, whichever endpoint it goes to."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    guard: redirects.RedirectGuard
    timeout: httpx.Timeout
    idle_s: float
    stream: bool
    key_env: str | None
    fields: dict[str, Any]
    pacer: Pacer  # reading hands the loop back, and stops at the run's deadline
    timeout_s: float  # the job's timeout, for the message when its deadline passes while reading
    max_cost: float | None = None
    # each endpoint asked: None when it answered, else why it could not be reached (engine/infra.py)
    endpoints: dict[str, str | None] = field(default_factory=dict)


async def ask(ctx: RunContext, a: Asking, at: Endpoint, body: dict[str, Any]) -> Reply | Outcome:
    """One model's complete reply, or the outcome of its failure; what it found of the model's endpoint
    goes to `a.endpoints`."""
    answer, unreachable = await _ask(ctx, a, at, body)
    if unreachable is not False:
        endpoint = ctx.mask(infra.endpoint_of(at.url))
        a.endpoints[endpoint] = unreachable if isinstance(unreachable, str) else None
    return answer


async def _ask(
    ctx: RunContext, a: Asking, at: Endpoint, body: dict[str, Any]
) -> tuple[Reply | Outcome, str | bool | None]:
    """One model's reply or failure, and what it says of the endpoint: why it could not be reached, None when
    it answered, False when it cannot tell (the run's deadline passed)."""
    fields, url = a.fields, at.url
    started = time.monotonic()
    try:
        reply: Reply | None = None
        if a.stream:
            streaming = {**body, "stream": True, "stream_options": {"include_usage": True}}
            ctx.milestone("execution-started", stream=True, model=at.model)
            async with redirects.stream(
                a.client,
                "POST",
                url,
                headers=a.headers,
                json=streaming,
                timeout=a.timeout,
                extensions=a.guard.extensions(),
            ) as resp:
                if resp.status_code >= 400:
                    raw = await read_body(resp, a.pacer, MAX_ERROR_BODY_BYTES, cut=True)
                    text = raw.decode("utf-8", "replace")
                    if not _refuses_streaming(resp.status_code, text):
                        return _http_failure(resp, text, fields, a.key_env), _status_down(resp)
                elif "text/event-stream" in resp.headers.get("content-type", ""):
                    limit = None
                    if a.max_cost is not None:
                        await load_price_table()
                        limit = cost_limit(ctx, at.model, at.base, body, a.max_cost)
                    reply = await read_stream(resp, ctx, started, a.idle_s, a.pacer, limit)
                else:  # answered the whole thing at once
                    reply = plain_reply(json_body(await read_body(resp, a.pacer)), ctx, started)
        if reply is None:
            ctx.milestone("execution-started", stream=False, model=at.model)
            async with redirects.stream(
                a.client, "POST", url, headers=a.headers, json=body, timeout=a.timeout, extensions=a.guard.extensions()
            ) as resp:
                if resp.status_code >= 400:
                    raw = await read_body(resp, a.pacer, MAX_ERROR_BODY_BYTES, cut=True)
                    return _http_failure(resp, raw.decode("utf-8", "replace"), fields, a.key_env), _status_down(resp)
                reply = plain_reply(json_body(await read_body(resp, a.pacer)), ctx, started)
    except StalledStream as e:
        return Outcome(RunStatus.TIMED_OUT, error=str(e), fields=fields), None
    except DeadlinePassed:
        return Outcome(RunStatus.TIMED_OUT, error=f"timed out after {a.timeout_s:g}s", fields=fields), False
    except CutStream as e:
        return Outcome(RunStatus.FAILED, error=str(e), fields=fields), None
    except httpx.HTTPError as e:
        if isinstance(e, httpx.ReadTimeout):
            idle = f"no token for {a.idle_s:g}s (idle timeout)"
            return Outcome(RunStatus.TIMED_OUT, error=idle, fields=fields), None
        error = ctx.mask(transport_error(e))
        return Outcome(RunStatus.FAILED, error=error, fields=fields), error if infra.unreachable_error(e) else None
    except StreamError as e:
        return permanent_failure(ctx.mask(str(e)), fields=fields), None
    except CostLimit as e:
        return permanent_failure(str(e), fields=fields), None
    return reply, None


def _status_down(resp: httpx.Response) -> str | None:
    """Why a status says the endpoint cannot be reached (a 502/503/504 from what stands in front of it)."""
    status = resp.status_code
    return f"HTTP {status} {resp.reason_phrase}".strip() if infra.unreachable_status(status) else None


def _refuses_streaming(status: int, body: str) -> bool:
    return status in (400, 422) and "stream" in body.lower()


def worth_another(outcome: Outcome) -> bool:
    """A failure another model may not share: a server error, a rate limit, a timeout, a cut stream."""
    return outcome.transient and outcome.status in (RunStatus.FAILED, RunStatus.TIMED_OUT)


def chain_failed(last: Outcome, at: Endpoint, failed: list[str], count: int) -> Outcome:
    """The last model's failure, saying what failed before it."""
    if len(failed) == count:
        error = f"all {count} models failed; the last, {at.model}: {last.error}"
    elif len(failed) > 1:
        error = f"{at.model}: {last.error} (after {', '.join(failed[:-1])} failed)"
    else:
        error = f"{at.model}: {last.error}"
    return dataclasses.replace(last, error=error)


def _http_failure(resp: httpx.Response, text: str, fields: dict[str, Any], key_env: str | None) -> Outcome:
    status = resp.status_code
    detail = text.strip().replace("\n", " ")[:200]
    if status in (401, 403):
        hint = f"check the API key in ${key_env}" if key_env else "the server wants an API key (--api-key-env)"
        return permanent_failure(
            f"HTTP {status} from the model server: {hint} (permanent: not retried)", http_status=status, fields=fields
        )
    return status_failure(resp, fields, detail)
