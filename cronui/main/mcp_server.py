"""`cronui mcp`: the MCP server over stdio, for a desktop MCP client or an agent runtime that launches it. It
opens the store as the CLI does and writes as the CLI does (the process that schedules is woken to act on a
run asked for); `cronui serve` answers the same tools at /mcp over HTTP."""

from __future__ import annotations

import argparse
import os

from cronui.application.context import Cronui
from cronui.cli.common import Commands, command, with_app

EPILOG = """\
who asks: the host's user who launched it, as an admin held to the [policy] (what an agent may create);
--unlimited lifts the policy, and a token (--token, or CRONUI_MCP_TOKEN) gives that token's scope instead.

a desktop client's config (e.g. claude_desktop_config.json):
  {"mcpServers": {"cronui": {"command": "cronui", "args": ["mcp"]}}}

over HTTP: `cronui serve` answers the same tools at http://127.0.0.1:8377/mcp (Authorization: Bearer TOKEN)
"""


def add_parsers(sub: Commands) -> None:
    """Registers mcp."""
    p = command(
        sub,
        "mcp",
        "serve cronui's jobs and runs as MCP tools over stdio",
        cmd_mcp,
        description="Answer Model Context Protocol requests on stdin/stdout: list, explain, create and run jobs.",
        epilog=EPILOG,
    )
    p.add_argument("--token", metavar="SECRET", help="act with this token's scope (default: CRONUI_MCP_TOKEN)")
    p.add_argument("--unlimited", action="store_true", help="not held to the [policy] (the host's user's own use)")


def cmd_mcp(args: argparse.Namespace) -> int:
    # the SDK loads only for `cronui mcp`
    from cronui.mcp.callers import TOKEN_ENV, resolve_caller, token_caller
    from cronui.mcp.transports import serve_stdio

    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV)
    caller = resolve_caller(token, unlimited=args.unlimited)

    async def body(app: Cronui) -> int:
        who = caller if token is None else await token_caller(app, token)
        await serve_stdio(app.as_caller(who), who)
        return 0

    return with_app(args, body)
