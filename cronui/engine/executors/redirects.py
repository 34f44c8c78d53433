"""Redirects never carry a job's secrets to another origin.

Every client the engine sends with runs `guard` before each request it sends, redirects included. A
request that carries a `RedirectGuard` in its extensions (HTTP and agent jobs) has, once a redirect
leaves the origin it was first sent to, the headers the guard names removed (those whose values came
from `${env:NAME}` and credential headers); a redirect that would resend a body holding a secret to
another origin is refused, and the run's error says why. An upgrade from http to https on the same host
counts as the same origin.

Redirects are followed here, not by httpx: httpx reads each redirect's whole body into memory before
following it, so a server answering `302` with an endless body would exhaust memory. `stream` closes
every redirect response unread and stops after `MAX_HOPS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

GUARD = "cronui.redirect_guard"
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HOPS = 20  # as httpx's own default


def origin(url: httpx.URL) -> str:
    port = url.port or _DEFAULT_PORTS.get(url.scheme)
    return f"{url.scheme}://{url.host}:{port}"


def _same_origin(first: httpx.URL, url: httpx.URL) -> bool:
    if origin(first) == origin(url):
        return True
    upgrade = first.scheme == "http" and url.scheme == "https" and first.host == url.host
    return upgrade and first.port in (None, 80) and url.port in (None, 443)


class RedirectRefused(httpx.RequestError):
    """A redirect to another origin that could only be followed by sending a secret there."""


@dataclass
class RedirectGuard:
    secret_headers: frozenset[str]  # lower-case names of headers not to send to another origin
    body_secret: bool = False  # the body holds a secret: never resent to another origin
    first: httpx.URL | None = None  # where the request was first sent
    dropped: list[str] = field(default_factory=list)  # headers removed on the way
    left_for: str | None = None  # the other origin the request went to

    def extensions(self) -> dict[str, Any]:
        return {GUARD: self}


def guard_for(headers: Iterable[str], body_secret: bool = False) -> RedirectGuard:
    return RedirectGuard(frozenset(h.lower() for h in headers), body_secret)


async def guard(request: httpx.Request) -> None:
    """The client's request hook: strip or refuse what must not leave the first origin."""
    g = request.extensions.get(GUARD)
    if not isinstance(g, RedirectGuard):
        return
    if g.first is None:
        g.first = request.url
        return
    if _same_origin(g.first, request.url):
        return
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if g.body_secret and has_body:
        raise RedirectRefused(
            f"refused a redirect from {origin(g.first)} to {origin(request.url)}: the request body holds a"
            " secret (${env:...}) that must not go to another origin",
            request=request,
        )
    g.left_for = origin(request.url)
    for name in [k for k in request.headers if k.lower() in g.secret_headers]:
        del request.headers[name]
        if name not in g.dropped:
            g.dropped.append(name)


def client(**kwargs: Any) -> httpx.AsyncClient:
    """An httpx client with the guard installed; it never follows redirects itself (see `stream`)."""
    return httpx.AsyncClient(event_hooks={"request": [guard]}, follow_redirects=False, **kwargs)


@asynccontextmanager
async def stream(
    client: httpx.AsyncClient, method: str, url: str, *, max_hops: int = MAX_HOPS, **kwargs: Any
) -> AsyncIterator[httpx.Response]:
    """Like `client.stream(...)`, following redirects with every redirect response closed unread."""
    request = client.build_request(method, url, **kwargs)
    for _ in range(max_hops + 1):
        response = await client.send(request, stream=True, follow_redirects=False)
        following = response.next_request
        if following is None:
            break
        await response.aclose()  # its body is never read: it may be endless
        request = following
    else:
        raise httpx.TooManyRedirects(f"Exceeded maximum allowed redirects ({max_hops}).", request=request)
    try:
        yield response
    finally:
        await response.aclose()
