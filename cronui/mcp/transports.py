"""How the server is reached: `cronui mcp` over stdio (a desktop client or an agent runtime launches it), and
streamable HTTP at /mcp on `cronui serve`, behind the API's guard (Host, Origin, the bearer token, the body's
size), its session manager started and stopped with the API's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings

from cronui.application.caller import Caller
from cronui.application.context import Cronui
from cronui.mcp.callers import http_caller
from cronui.mcp.server import build_server

HTTP_PATH = "/mcp"


async def serve_stdio(app: Cronui, caller: Caller) -> None:
    """Answer MCP on stdin/stdout until the client closes them, every call made as `caller`."""
    await build_server(app, lambda ctx: caller).run_stdio_async()


def http_mount(app: Cronui) -> tuple[str, Any, Callable[[], AbstractAsyncContextManager[Any]]]:
    """The streamable HTTP server for `cronui serve` to mount: its path, its ASGI app, and its lifespan (the
    session manager, which must run while the app serves). Each call is made as the request's caller."""
    server = build_server(app, lambda ctx: http_caller(ctx.request_context.request))
    # the API's guard checks Host and Origin for every path (with `[api] allowed_hosts`): not again here
    server.streamable_http_app(transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    manager = server.session_manager
    return HTTP_PATH, StreamableHTTPASGIApp(manager), manager.run
