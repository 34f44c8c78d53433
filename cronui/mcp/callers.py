"""Who asks through MCP, decided in one place per transport.

Over stdio the server runs as the host's user who launched it, but it is an agent runtime (or a desktop
client acting for a model) that calls its tools: it is held to the `[policy]` unless launched with
`--unlimited`; a token (`--token` or CRONUI_MCP_TOKEN) gives that token's scope instead. Over HTTP the caller
is the one the API's guard authenticated from the bearer token."""

from __future__ import annotations

import dataclasses
from typing import Any

from cronui.application import tokens
from cronui.application.caller import Caller, Scope, host_user
from cronui.application.context import Cronui
from cronui.application.errors import Invalid

ORIGIN = "mcp"
TOKEN_ENV = "CRONUI_MCP_TOKEN"


def resolve_caller(token: str | None, *, unlimited: bool = False) -> Caller:
    """The caller of a stdio server without a token: the host's user as an admin held to the policy
    (`unlimited`: not). A token is checked against the store by `token_caller`."""
    if token is not None and not token.strip():
        raise Invalid("--token: empty (give a token's secret, or leave CRONUI_MCP_TOKEN unset)")
    return Caller(ORIGIN, host_user(), Scope.ADMIN, limited=not unlimited)


async def token_caller(app: Cronui, token: str) -> Caller:
    """The caller a token makes over stdio (its scope, held to the policy; the API token: an admin), or a
    one-line refusal when it is no token (unknown, removed, expired)."""
    found = await tokens.authenticate(app, token.strip(), origin=ORIGIN)
    if found is None:
        raise Invalid("--token: no stored token matches (add one with `cronui tokens add NAME --scope read`)")
    return found


def http_caller(request: Any) -> Caller:
    """The caller of one HTTP request to /mcp: the one the API's guard authenticated and put on the request's
    state; until the guard knows callers, the API token's holder, an admin held to the policy."""
    found = getattr(getattr(request, "state", None), "caller", None)
    if isinstance(found, Caller):
        return dataclasses.replace(found, origin=ORIGIN)
    return Caller(ORIGIN, "api-token", Scope.ADMIN, limited=True)
