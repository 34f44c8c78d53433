"""Who asks through MCP: over stdio the host's user held to the policy unless --unlimited, a token refused in
one line while no stored token can match it; over HTTP the caller the API's guard put on the request."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from cronui.application.caller import Caller, Scope, host_user
from cronui.application.errors import Invalid
from cronui.mcp.callers import http_caller, resolve_caller


def test_stdio_runs_as_the_host_user_held_to_the_policy_unless_unlimited() -> None:
    assert resolve_caller(None) == Caller("mcp", host_user(), Scope.ADMIN, limited=True)
    assert resolve_caller(None, unlimited=True).limited is False
    assert resolve_caller(None).owner == f"mcp:{host_user()}"
    with pytest.raises(Invalid, match=r"^--token: empty"):
        resolve_caller("  ")


def test_http_takes_the_caller_the_guard_authenticated() -> None:
    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": [], "state": {}}
    assert http_caller(Request(scope)).origin == "mcp"  # none yet: the API token's holder
    scope["state"]["caller"] = Caller("api", "ci-bot", Scope.READ, limited=True)
    assert http_caller(Request(scope)) == Caller("mcp", "ci-bot", Scope.READ, limited=True)
