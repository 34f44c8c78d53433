"""What every request must pass before the application reads any of it: an ASGI middleware, so a refused
request costs the server its headers only, never its body.

In this order, each refusal in the API's error shape, with `Connection: close` (a body not read is not
waited for):
1. Host: the name must be the listen address's own (127.0.0.1, localhost and ::1 on a loopback address; on
   0.0.0.0 or :: any IP address and this machine's name too), or one configured (`[api] allowed_hosts`,
   `cronui serve --allow-host`; "*" allows any). A web page that rebinds its own name to 127.0.0.1 sends
   its name as Host: 403. The port is not compared: a container's or a proxy's port mapping changes it,
   and the name alone is what a rebinding page cannot fake. Hooks are checked too (behind a reverse proxy,
   name the public host).
2. Origin, when a browser sends one: it must be the same origin as the Host the request was sent to (a
   page of this server), else 403: a cross-site page cannot use the API, even from a browser on this host.
3. `/api/v1`, `/mcp`, and `/metrics` unless `[metrics] public = true`: a token, before the body is read:
   the API token of the settings (admin) or one of `cronui tokens` (its scope), else 401 (a token removed
   or expired too). With no API token set and none stored, a loopback server needs none (an admin caller
   named `loopback`, as before tokens); on any other address a token is always needed. The caller found is
   put in the request's state (`scope["state"]["caller"]`, `request.state.caller`): the routes check its
   scope (cronui.api.common.ROUTE_SCOPES, 403) and run the use cases as it.
4. The body: a Content-Length over the cap is 413 at once; a body without one (chunked) is counted as it
   arrives and cut at the cap (413). The API's cap is `[api] max_body`; hooks keep their own.
   A body that stops arriving for BODY_IDLE_S is 408.
5. The live event stream: at most `[api] max_streams` open at once; past that 503 with Retry-After. A
   client that stops reading is dropped by the stream (cronui.api.events), which frees its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from sse_starlette.sse import SendTimeoutError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cronui.api.common import CHALLENGE, PREFIX, UNAUTHORIZED, error
from cronui.application.access import is_loopback
from cronui.application.caller import Caller

log = logging.getLogger("cronui")

EVENTS_PATH = f"{PREFIX}/events"
HOOKS_PREFIX = "/hooks/"
PINGS_PREFIX = "/ping/"  # a check's pings: their body is capped as a hook's
METRICS_PATH = "/metrics"
MCP_PATH = "/mcp"  # the MCP server over streamable HTTP: the same tokens as the API
BODY_IDLE_S = 30.0  # a request body that sends nothing for this long is given up on (408)
DRAIN_S = 30.0  # how long an answered request's unread body may keep its connection (see _drain)
STREAMS_RETRY_S = 5  # Retry-After of a refused event stream
_WILDCARDS = {"", "0.0.0.0", "::"}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


class AllowedHosts:
    """The names a request's Host may give: the listen address's own and those configured."""

    def __init__(self, listen_host: str, configured: Iterable[str] = ()) -> None:
        names = {_name(n) for n in configured}
        self.any = "*" in names
        host = _name(listen_host)
        self.wildcard = host in _WILDCARDS
        self.loopback = self.wildcard or is_loopback(host)
        self.names = (names - {"*"}) | {host} | (_LOOPBACK_NAMES if self.loopback else set())
        if self.wildcard:
            self.names.add(socket.gethostname().lower())

    def allows(self, name: str) -> bool:
        if self.any or name in self.names:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False  # a name: only those listed (a rebinding page's name is not)
        return self.wildcard or (self.loopback and address.is_loopback)


def _name(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _split(authority: str) -> tuple[str, int | None] | None:
    """`name[:port]` (an IPv6 address in brackets) -> (name, port); None when it is not one."""
    try:
        parts = urlsplit(f"//{authority}")
        if not parts.hostname or parts.username is not None or parts.path or parts.query or parts.fragment:
            return None
        return _name(parts.hostname), parts.port
    except ValueError:
        return None


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes its cap: answered 413 (by the application's handler, or
    by the guard when it escapes)."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"the request body is larger than {cap:,} bytes")


class BodyStalled(HTTPException):
    def __init__(self) -> None:
        super().__init__(408, f"the request body sent nothing for {BODY_IDLE_S:g}s")


class Guard:
    """The checks above, around the application."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: AllowedHosts,
        authenticate: Callable[[str | None], Awaitable[Caller | None]],
        max_body: int,
        hook_max_body: int,
        max_streams: int,
        metrics_public: bool = False,
        tokened: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.authenticate = authenticate  # a request's bearer secret (None: none sent) -> its caller, None: 401
        self.max_body = max_body
        self.hook_max_body = hook_max_body
        self.max_streams = max_streams
        self.metrics_public = metrics_public
        self.tokened = tuple(tokened)  # other paths the token guards besides /api/v1 (a mounted face: /mcp)
        self.streams = 0  # event streams open now
        self.draining: set[asyncio.Task[None]] = set()  # see _drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        body = Body(receive, headers)
        started = False

        async def sent(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            if message["type"] == "http.response.body" and not message.get("more_body") and not body.complete:
                self._drain(receive)  # the answer is complete, the body is not: see _drain
            await send(message)

        refusal = self._refusal(scope, headers)
        if refusal is None and self._tokened(scope["path"]):
            scheme, _, given = headers.get("authorization", "").partition(" ")
            caller = await self.authenticate(given.strip() if scheme.lower() == "bearer" else None)
            if caller is None:
                refusal = 401, UNAUTHORIZED, CHALLENGE
            else:  # a dict of this request's own: a server's lifespan state is shared by every request
                scope["state"] = {**scope.get("state", {}), "caller": caller}
        if refusal is None:
            refusal = self._too_large(scope, headers)
        if refusal is not None:
            status, message, extra = refusal
            await error(status, message, headers={**extra, "Connection": "close"})(scope, receive, sent)
            return
        path: str = scope["path"]
        body.cap = self.hook_max_body if path.startswith((HOOKS_PREFIX, PINGS_PREFIX)) else self.max_body
        is_stream = path == EVENTS_PATH and scope["method"] == "GET"
        if is_stream:
            if self.streams >= self.max_streams:
                message = f"{self.max_streams} event streams are open, as many as this server allows; try again later"
                extra = {"Retry-After": str(STREAMS_RETRY_S), "Connection": "close"}
                await error(503, message, headers=extra)(scope, receive, sent)
                return
            self.streams += 1
        try:
            await self.app(scope, body.capped, sent)
        except (BodyTooLarge, BodyStalled) as e:  # raised where no handler answered it
            if not started:
                await error(e.status_code, e.detail, headers={"Connection": "close"})(scope, receive, sent)
        except SendTimeoutError:  # the connection closes: the client's events are not kept for it
            log.info("an event stream's client stopped reading: its stream was dropped")
        finally:
            if is_stream:
                self.streams -= 1

    def _drain(self, receive: Receive) -> None:
        """Hypercorn hands a body to the application through a bounded queue, and once the answer is sent
        it puts the client's disconnect on that same queue: with the body left unread the queue is full, the
        answer's last send never returns and the connection is never closed. So, from the answer's last
        send on, what is queued is read and dropped (a chunk at a time: memory stays flat) until the
        disconnect has come and the server has stopped reading (the connection closes under a client still
        sending), DRAIN_S at most."""
        task = asyncio.create_task(_drain(receive))
        self.draining.add(task)
        task.add_done_callback(self.draining.discard)

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str, dict[str, str]] | None:
        host = _split(headers.get("host", ""))
        if host is None or not self.hosts.allows(host[0]):
            shown = headers.get("host", "")[:100]
            return 403, f"Host {shown!r} is not a name this server answers to (see [api] allowed_hosts)", {}
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, host):
            return 403, f"cross-origin request from {origin[:100]!r} refused", {}
        return None

    def _tokened(self, path: str) -> bool:
        """Whether a request to `path` needs a token (see 3. above)."""
        return any(path == p or path.startswith(p + "/") for p in (PREFIX, MCP_PATH, *self.tokened)) or (
            path == METRICS_PATH and not self.metrics_public
        )

    def _too_large(self, scope: Scope, headers: Headers) -> tuple[int, str, dict[str, str]] | None:
        path: str = scope["path"]
        cap = self.hook_max_body if path.startswith(HOOKS_PREFIX) else self.max_body
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            return 413, f"the request body is larger than {cap:,} bytes", {}
        return None


def _same_origin(origin: str, host: tuple[str, int | None]) -> bool:
    """Whether a browser's Origin is the origin of the Host the request was sent to."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    default = _DEFAULT_PORTS.get(parts.scheme)
    if default is None or not parts.hostname or parts.path not in ("", "/"):
        return False  # "null" (a sandboxed page, a file), or not a web origin
    return _name(parts.hostname) == host[0] and (port or default) == (host[1] or default)


class Body:
    """A request's body as the application receives it: counted against `cap` (past it, BodyTooLarge), given
    up on when it stalls (BodyStalled), and known to be `complete` or not once the request is answered."""

    def __init__(self, receive: Receive, headers: Headers) -> None:
        self.receive = receive
        self.cap = 0
        self.seen = 0
        declared = headers.get("content-length", "")
        self.complete = declared in ("", "0") and "transfer-encoding" not in headers

    async def capped(self) -> Message:
        if self.complete:
            return await self.receive()  # past the body: only the client's disconnect comes
        try:
            async with asyncio.timeout(BODY_IDLE_S):
                message = await self.receive()
        except TimeoutError:
            raise BodyStalled() from None
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
            if self.seen > self.cap:
                raise BodyTooLarge(self.cap)
        elif message["type"] == "http.disconnect":
            self.complete = True
        return message


async def _drain(receive: Receive) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DRAIN_S
    disconnected = False
    with contextlib.suppress(TimeoutError):
        while True:  # after the disconnect, until nothing more comes for a second
            async with asyncio.timeout_at(min(end, loop.time() + 1.0) if disconnected else end):
                message = await receive()
            disconnected = disconnected or message["type"] == "http.disconnect"
