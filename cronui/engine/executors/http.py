"""HTTP jobs: one request through the shared httpx client, judged by status and (optionally) body.

Connect errors, timeouts, 429 and 5xx are transient (retried by the job's policy, honouring
Retry-After); any other 4xx is permanent: retrying cannot fix a bad URL or a rejected credential.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from cronui import body_files
from cronui.engine import infra
from cronui.engine.executors import redirects
from cronui.engine.executors.base import Outcome, RunContext, milestone_request, permanent_failure
from cronui.engine.executors.pacing import DeadlinePassed, Pacer
from cronui.model import RunStatus, params
from cronui.secrets import MASK, MissingSecret
from cronui.secrets import references as secret_refs
from cronui.targets import HttpTarget

HEADERS_OF_INTEREST = ("content-type", "content-length", "retry-after", "location", "etag", "last-modified")
SENSITIVE_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"}


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def classify(status: int) -> tuple[bool, str]:
    """(transient, words) for a non-success status."""
    phrase = httpx.codes.get_reason_phrase(status)
    if status == 429 or status >= 500:
        return True, f"HTTP {status} {phrase}".strip()
    return False, f"HTTP {status} {phrase} (permanent: not retried)".replace("  ", " ")


def status_failure(resp: httpx.Response, fields: dict[str, Any], detail: str = "") -> Outcome:
    """A failed run for an unwanted HTTP status: transient or permanent, with Retry-After honoured."""
    transient, words = classify(resp.status_code)
    return Outcome(
        RunStatus.FAILED,
        error=f"{words}: {detail}" if detail else words,
        http_status=resp.status_code,
        transient=transient,
        retry_after_s=retry_after_seconds(resp.headers.get("retry-after")),
        fields=fields,
    )


def guess_type(content: bytes) -> str:
    """JSON when a small body parses as JSON, or a large one (never parsed on the loop) starts like JSON;
    else plain text."""
    if len(content) <= body_files.SNIFF_CAP:
        try:
            json.loads(content)
            return "application/json"
        except ValueError:
            pass
    elif content.lstrip()[:1] in (b"{", b"["):
        return "application/json"
    return "text/plain; charset=utf-8"


def masked_request(method: str, url: str, headers: dict[str, str], body: Any, ctx: RunContext) -> dict[str, Any]:
    """The request as sent, for the run record: secrets masked, credentials hidden."""
    shown = {k: (MASK if k.lower() in SENSITIVE_HEADERS else ctx.mask(v)) for k, v in headers.items()}
    if isinstance(body, str):
        body = ctx.mask(body[:4096])
    return {"method": method, "url": ctx.mask(url), "headers": shown, "body": body}


def redirect_guard(headers: Mapping[str, str], body: object = None) -> redirects.RedirectGuard:
    """What must not follow a redirect to another origin: headers written with `${env:NAME}` and
    credential headers; a body written with `${env:NAME}` (such a redirect is refused)."""
    names = {k for k, v in headers.items() if secret_refs(v)} | SENSITIVE_HEADERS
    return redirects.guard_for(names, body_secret=isinstance(body, str) and bool(secret_refs(body)))


def transport_error(e: httpx.HTTPError) -> str:
    if isinstance(e, redirects.RedirectRefused):
        return str(e)
    if isinstance(e, httpx.TimeoutException):
        return f"timed out talking to the server ({type(e).__name__})"
    if isinstance(e, httpx.ConnectError):
        return f"could not connect: {e}"
    return f"{type(e).__name__}: {e}"


async def run(ctx: RunContext) -> Outcome:
    spec = ctx.job.target
    if not isinstance(spec, HttpTarget):
        return permanent_failure(f"not an http job ({spec.kind})")
    method = (spec.method or "GET").upper()
    try:
        values = ctx.run.params or {}  # {param.K}: filled in after ${env:}, so a value never names a secret
        url = params.render(ctx.resolve(spec.url), {k: quote(params.text(v), safe="") for k, v in values.items()})
        headers = {k: ctx.resolve(v) for k, v in spec.headers.items()}
        raw_body = spec.body
        content: bytes | None = None
        if isinstance(raw_body, str) and raw_body.startswith("@"):
            path = Path(raw_body[1:]).expanduser()
            try:
                content = await asyncio.to_thread(body_files.read, path)  # a slow disk never holds the loop
            except OSError as e:
                return permanent_failure(f"body file {path}: {e.strerror}")
            except ValueError as e:
                return permanent_failure(f"body file: {e}")
        elif raw_body is not None:
            content = params.render(ctx.resolve(str(raw_body)), values).encode()
    except MissingSecret as e:
        return permanent_failure(str(e))
    guard = redirect_guard(spec.headers, raw_body)
    if content is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = guess_type(content)
    request_record = masked_request(method, url, headers, content.decode("utf-8", "replace") if content else None, ctx)
    client = ctx.http
    own = client is None
    if client is None:
        client = redirects.client(timeout=httpx.Timeout(30.0, connect=10.0))
    timeout = httpx.Timeout(ctx.job.timeout_s, connect=min(10.0, ctx.job.timeout_s))
    pacer = Pacer(deadline=time.monotonic() + ctx.job.timeout_s + 1.0)  # a second after the dispatcher's
    endpoint = infra.endpoint_of(url)
    try:
        t0 = time.monotonic()
        sent = {"headers": request_record["headers"], "body": request_record["body"]}
        ctx.milestone("request-sent", method=method, url=ctx.mask(url), request=milestone_request(sent, ctx))
        async with redirects.stream(
            client, method, url, headers=headers, content=content, timeout=timeout, extensions=guard.extensions()
        ) as resp:
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                if len(body) < ctx.output_cap:
                    body += chunk
                ctx.output("stdout", chunk)
                await pacer.tick()  # a fast endless body never starves the loop, nor outlives the timeout
            elapsed_ms = int((time.monotonic() - t0) * 1000)
    except redirects.RedirectRefused as e:
        return permanent_failure(ctx.mask(str(e)), fields={"request": request_record}, endpoints={endpoint: None})
    except DeadlinePassed:
        error = f"timed out after {ctx.job.timeout_s:g}s"
        return Outcome(RunStatus.TIMED_OUT, error=error, fields={"request": request_record})
    except httpx.HTTPError as e:
        error = ctx.mask(transport_error(e))
        seen = {endpoint: error if infra.unreachable_error(e) else None}
        return Outcome(RunStatus.FAILED, error=error, fields={"request": request_record}, endpoints=seen)
    finally:
        if own:
            await client.aclose()
    if guard.dropped:
        ctx.milestone("redirect-headers-dropped", to=guard.left_for, headers=", ".join(guard.dropped))
    status = resp.status_code
    ctx.milestone("response-received", status=status, bytes=ctx.stdout.total, elapsed_ms=elapsed_ms)
    outcome = _judged(spec, status, body, resp, request_record, elapsed_ms)
    down = outcome.status is not RunStatus.SUCCEEDED and infra.unreachable_status(status)
    outcome.endpoints = {endpoint: f"HTTP {status} {resp.reason_phrase}".strip() if down else None}
    return outcome


def _judged(
    spec: HttpTarget,
    status: int,
    body: bytearray,
    resp: httpx.Response,
    request_record: dict[str, Any],
    elapsed_ms: int,
) -> Outcome:
    """The outcome of a request that was answered: by its status, then (optionally) its body."""
    interesting = {k: resp.headers[k] for k in HEADERS_OF_INTEREST if k in resp.headers}
    fields: dict[str, Any] = {"request": request_record, "summary": f"HTTP {status} in {elapsed_ms} ms"}
    if interesting:
        fields["request"] = {**request_record, "response_headers": interesting}
    expected = spec.expect_status
    ok_status = status == int(expected) if expected is not None else 200 <= status < 300
    if not ok_status:
        if expected is not None and 200 <= status < 400:
            return permanent_failure(f"HTTP {status}, expected {expected}", http_status=status, fields=fields)
        return status_failure(resp, fields)
    needle = spec.expect_body
    if needle and needle not in bytes(body).decode("utf-8", "replace"):
        return Outcome(
            RunStatus.FAILED,
            error=f"the response body does not contain {needle!r}",
            http_status=status,
            fields=fields,
        )
    return Outcome(RunStatus.SUCCEEDED, http_status=status, fields=fields)
