"""`cronui serve`: the HTTP API and live event stream, with the engine (it schedules, or stands by while
another process does)."""

from __future__ import annotations

import argparse
import asyncio

from cronui.application.context import Cronui
from cronui.cli.common import Commands, UsageError, command, settings_from, with_app
from cronui.config import host_names
from cronui.jobs import parse_duration

EPILOG = """\
auth: every /api/v1 request needs `Authorization: Bearer TOKEN`: a token from `cronui tokens add NAME
--scope read|run|write|admin` (it may do what its scope allows: 403 otherwise), or the admin token from
CRONUI_API_TOKEN or `[api] token` in the config (a ${env:NAME} reference is resolved). With no token set
or made, only a loopback address may be listened on, and requests there need none. `POST /hooks/NAME`
takes the job's own trigger token instead (`cronui jobs token NAME`).

hosts: a request's Host must name the listen address (127.0.0.1, localhost, ::1; on 0.0.0.0 any IP
address and this machine's name) or a name given with --allow-host or `[api] allowed_hosts` (behind a
reverse proxy: its public name); a browser's request from another origin is refused (403).

examples:
  cronui serve                                  http://127.0.0.1:8377/api/v1
  CRONUI_API_TOKEN=... cronui serve --listen 0.0.0.0:8377
  curl -H "Authorization: Bearer $CRONUI_API_TOKEN" http://127.0.0.1:8377/api/v1/jobs

mcp: the MCP tools (as `cronui mcp` serves them over stdio) at /mcp, streamable HTTP, with the same token.
"""


def add_parsers(sub: Commands) -> None:
    """Registers serve."""
    from cronui.application.access import DEFAULT_LISTEN  # small: no web stack loads for --help

    p = command(
        sub,
        "serve",
        "serve the HTTP API and live event stream (and schedule)",
        cmd_serve,
        description="Serve the HTTP API (OpenAPI at /api/v1/openapi.json) while scheduling, like the daemon.",
        epilog=EPILOG,
    )
    p.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN, help=f"default {DEFAULT_LISTEN}")
    p.add_argument("--grace", metavar="S", help="on SIGTERM, let runs finish this long (default 30s)")
    p.add_argument(
        "--allow-host",
        metavar="NAME",
        action="append",
        default=[],
        help="a name requests may give as Host besides the listen address (repeatable; adds to [api] allowed_hosts)",
    )


async def _tokens_stored(app: Cronui) -> int:
    """1 when `cronui tokens add` made any token (a server off loopback then takes only tokens), else 0."""
    return int(await app.store.has_tokens())


def cmd_serve(args: argparse.Namespace) -> int:
    # the web stack (FastAPI, Hypercorn) loads only for `cronui serve`
    from cronui.api.server import ApiState, ListenFailed, listen_socket, serve
    from cronui.application.access import ListenError, api_token, is_loopback, parse_listen

    settings = settings_from(args)
    try:
        host, port = parse_listen(args.listen)
    except ListenError as e:
        raise UsageError(f"cronui serve: {e}") from None
    grace = parse_duration(args.grace or "30", "--grace")
    try:
        hosts = host_names(args.allow_host)
    except ValueError as e:
        raise UsageError(f"cronui serve: --allow-host: {e}") from None
    token = api_token(settings)
    if token is None and not is_loopback(host) and not with_app(args, _tokens_stored):
        raise UsageError(
            f"cronui serve: refusing to listen on {host} with no token: make one with `cronui tokens add`, "
            "or set CRONUI_API_TOKEN or [api] token in the config (or listen on 127.0.0.1)"
        )
    try:
        sock = listen_socket(host, port)
    except ListenFailed as e:
        raise UsageError(f"cronui serve: {e}") from None
    from cronui.mcp.transports import http_mount

    def with_mcp(state: ApiState) -> None:
        state.mounts.append(http_mount)  # the MCP tools at /mcp, behind the same guard and token

    return asyncio.run(serve(settings, sock, token, grace_s=grace, allowed_hosts=hosts, configure=with_mcp))
