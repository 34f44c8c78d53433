"""API and MCP tokens with a scope (`cronui tokens add|list|rm`), and who a request's bearer token makes its
caller.

A token's secret is `cu_` and 32 random bytes (URL-safe), shown once when it is made; the store keeps its
sha256 only, and finds a request's token by that hash. Each token has a scope (read < run < write < admin,
`cronui.application.caller.Scope`) and may expire. Callers with a stored token are held to the `[policy]`
(`limited`).

The API token of the settings (`[api] token`, CRONUI_API_TOKEN) stays what it was: an admin token, the
operator's own, not held to the policy; its caller is named `env` (owner `api:env`). With no API token set
and no token stored, a server on a loopback address stays open as before: its requests' caller is
`loopback` (admin, not limited), as anyone on this host could use the CLI instead.

A token may carry its own `[policy]` overrides (`--policy KEY=VALUE`, the same keys; kept as JSON on the
token): its caller carries them, and the policy's rules merge them over the `[policy]` for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cronui import bounds
from cronui.application.access import api_token
from cronui.application.caller import Caller, Scope
from cronui.application.context import Cronui
from cronui.application.errors import Invalid
from cronui.engine.control import NotFound
from cronui.jobs import parse_duration
from cronui.owner_budget import ENV_WHO as ENV_WHO  # the caller the settings' API token makes (owner `api:env`)
from cronui.owner_budget import (
    OPEN_WHO as OPEN_WHO,  # the caller of an open loopback server (no token set, none stored)
)
from cronui.policy import overrides_from_json, overrides_json, parse_overrides, shown
from cronui.store.tokens import StoredToken
from cronui.timefmt import iso_utc

PREFIX = "cu_"  # what a stored token's secret starts with (so a scanner of leaked secrets can spot one)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TOUCH_MS = 60_000  # a token's last use is written at most once a minute, not once per request
EXPIRES = bounds.Duration(positive=True, hi=100 * 366 * bounds.DAY_S)


class _FromSettings:
    """The API token of the settings (`[api] token`, CRONUI_API_TOKEN), read when it is needed."""


FROM_SETTINGS = _FromSettings()


@dataclass(frozen=True)
class NewToken:
    """A token just made: its secret, shown this once."""

    token: StoredToken
    secret: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise Invalid(
            f"name: expected 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit), got {name!r}",
            [{"field": "name", "problem": "invalid"}],
        )
    return name


def parse_scope(text: str) -> Scope:
    try:
        return Scope.parse(text)
    except ValueError:
        problem = f"{text!r} is not one of read, run, write, admin"
        raise Invalid(f"--scope: {problem}", [{"field": "scope", "problem": problem}]) from None


def parse_policy(pairs: Sequence[str]) -> dict[str, Any] | None:
    """`--policy KEY=VALUE` (repeatable) as the token's own overrides of the `[policy]`; None for none."""
    if not pairs:
        return None
    try:
        return parse_overrides(pairs)
    except ValueError as e:
        raise Invalid(f"--policy: {e}", [{"field": "policy", "problem": str(e)}]) from None


def read_policy(token: StoredToken) -> dict[str, Any] | None:
    """A stored token's own overrides, checked again (None: none). Text this version cannot read makes a
    token that may not create anything (`ValueError`, for `authenticate` to refuse it)."""
    if token.policy is None:
        return None
    return overrides_from_json(json.loads(token.policy)) or None


async def add_token(
    ctx: Cronui, name: str, scope: str, expires: str | None = None, policy: Sequence[str] = ()
) -> NewToken:
    """Make a token named `name` with `scope`, expiring `expires` from now (a duration: 30d, 12h) or never,
    with its own `[policy]` overrides (`policy`: KEY=VALUE texts). Refused when the name is taken, the
    scope unknown, the duration or an override wrong; nothing is written then."""
    parse_name(name)
    level = parse_scope(scope)
    overrides = parse_policy(policy)
    now = ctx.now_ms()
    expires_at = None
    if expires is not None:
        expires_at = now + int(parse_duration(expires, "--expires", EXPIRES) * 1000)
    secret = PREFIX + secrets.token_urlsafe(32)
    stored = None if overrides is None else json.dumps(overrides_json(overrides), separators=(",", ":"))
    token = StoredToken(name, level.label, now, expires_at, policy=stored)
    if not await ctx.store.add_token(token, digest(secret)):
        raise Invalid(f"name: a token named {name!r} already exists", [{"field": "name", "problem": "exists"}])
    return NewToken(token, secret)


async def list_tokens(ctx: Cronui) -> list[StoredToken]:
    return await ctx.store.list_tokens()


async def remove_token(ctx: Cronui, name: str) -> None:
    """Remove the token named `name`: its secret is refused from the next request on."""
    if not await ctx.store.remove_token(name):
        raise NotFound(f"no token named {name!r}")


def expired(token: StoredToken, now: int) -> bool:
    return token.expires_at is not None and token.expires_at <= now


def token_json(token: StoredToken, now: int) -> dict[str, Any]:
    """A token as `tokens list --json` shows it: never its secret (which is not kept)."""
    return {
        "name": token.name,
        "scope": token.scope,
        "created_at": iso_utc(token.created_at),
        "expires_at": iso_utc(token.expires_at),
        "last_used_at": iso_utc(token.last_used_at),
        "expired": expired(token, now),
        "policy": policy_json(token),
    }


def policy_json(token: StoredToken) -> dict[str, Any] | None:
    """A token's own overrides as `tokens list` shows them (None: the `[policy]` as it is)."""
    try:
        found = read_policy(token)
    except ValueError:
        return {"unreadable": token.policy}
    return None if found is None else overrides_json(found)


def policy_text(token: StoredToken) -> str:
    """A token's own overrides in one line for a table: `kinds=agent,http,shell max_jobs_per_owner=50`."""
    try:
        found = read_policy(token)
    except ValueError:
        return "(unreadable)"
    return " ".join(f"{k}={','.join(v) if k == 'kinds' else shown(k, v)}" for k, v in (found or {}).items())


async def token_policy(ctx: Cronui, name: str) -> dict[str, Any] | None:
    """The own overrides of the token named `name`, if there is one (an agent acting as its job's owner,
    `api:NAME`, is held to that token's policy)."""
    token = await ctx.store.token_by_name(name)
    if token is None:
        return None
    try:
        return read_policy(token)
    except ValueError:
        return None


def _settings_token(ctx: Cronui, admin_token: str | _FromSettings | None) -> str | None:
    return api_token(ctx.settings) if isinstance(admin_token, _FromSettings) else admin_token


async def authenticate(
    ctx: Cronui,
    secret: str,
    *,
    admin_token: str | _FromSettings | None = FROM_SETTINGS,
    origin: str = "api",
) -> Caller | None:
    """The caller `secret` makes, or None when it is no token (unknown, removed, expired).

    The settings' API token (or `admin_token`, the one a server was started with) is an admin caller named
    `env`, not held to the policy; a stored token is a caller named after it, with its scope, held to the
    policy. A stored token's last use is noted at most once a minute."""
    if not secret:
        return None
    admin = _settings_token(ctx, admin_token)
    if admin is not None and hmac.compare_digest(secret.encode(), admin.encode()):
        return Caller(origin, ENV_WHO, Scope.ADMIN, limited=False)
    if not secret.startswith(PREFIX):
        return None  # not one cronui made: no need to ask the store
    token = await ctx.store.token_by_hash(digest(secret))
    now = ctx.now_ms()
    if token is None or expired(token, now):
        return None
    try:
        scope = Scope.parse(token.scope)
    except ValueError:
        return None  # a scope this version does not know (a newer cronui's): refused, never widened
    try:
        overrides = read_policy(token)
    except ValueError:
        return None  # overrides this version cannot read: refused, never widened
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_MS:
        await ctx.store.touch_token(token.name, now, TOUCH_MS)
    return Caller(origin, token.name, scope, limited=True, policy=overrides)


async def request_caller(
    ctx: Cronui,
    secret: str | None,
    *,
    admin_token: str | _FromSettings | None = FROM_SETTINGS,
    open_allowed: bool,
    origin: str = "api",
) -> Caller | None:
    """Who a request with bearer `secret` (None: none sent) is; None: refused (401).

    A request is open (an admin caller named `loopback`) only where `open_allowed` (a loopback listen
    address) and no API token is set and none is stored: as before tokens, anyone on this host."""
    if secret:
        caller = await authenticate(ctx, secret, admin_token=admin_token, origin=origin)
        if caller is not None:
            return caller
    if open_allowed and _settings_token(ctx, admin_token) is None and not await ctx.store.has_tokens():
        return Caller(origin, OPEN_WHO, Scope.ADMIN, limited=False)
    return None
