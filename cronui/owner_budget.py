"""Which job owners the scheduler holds to the `[policy]` daily budget per owner, and each one's budget: kept
apart from `cronui.policy` (which reads every key of the policy) so the store's claim can ask it with no more
than the bounds of a number.

An owner is the caller that created a job (`api:ci-bot`, `mcp:ci-bot`, `cli:USER@HOST`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from cronui import bounds
from cronui.bounds import OutOfBounds

# the callers of the API token of the settings and of an open loopback server: the operator's own, never
# held to the policy (`cronui.application.tokens`)
ENV_WHO = "env"
OPEN_WHO = "loopback"
NONE_WORDS = ("none", "off", "")  # a daily budget written as one of these: no budget


def parse_budget(v: Any) -> float | None:
    """A daily budget in USD (above 0), or none."""
    if v is None or (isinstance(v, str) and v.strip().lower() in NONE_WORDS):
        return None
    try:
        return bounds.DAILY_BUDGET.parse(v) if isinstance(v, str) else bounds.DAILY_BUDGET.check(v)
    except OutOfBounds as e:
        raise ValueError(f"{e} (or none)") from None


def held_owner(owner: str | None) -> str | None:
    """Whether the scheduler holds a job's owner to the `[policy]` daily budget: the owners callers held to
    the policy make (`api:NAME`, `mcp:NAME`; an agent's follow-ups keep its job's owner), not the host's
    user (`cli:`, `tui:`) nor the operator's own token (`api:env`, an open loopback server). Returns the
    name of the token whose overrides apply, or None when the owner is not held."""
    if owner is None:
        return None
    origin, _, who = owner.partition(":")
    if origin not in ("api", "mcp") or not who or who in (ENV_WHO, OPEN_WHO):
        return None
    return who


def owner_budgets(
    owners: Iterable[str | None], daily_usd: float | None, token_policies: Mapping[str, str | None]
) -> dict[str, float]:
    """The daily budget of each owner held to one (`held_owner`): its token's own `daily_budget_usd` where the
    token overrides it (`token_policies`: token name -> stored JSON), else `daily_usd`; owners with none are
    left out. A token's overrides that cannot be read leave it at `daily_usd`."""
    out: dict[str, float] = {}
    for owner in set(owners):
        name = held_owner(owner)
        if owner is None or name is None:
            continue
        budget = daily_usd
        stored = token_policies.get(name)
        if stored is not None:
            try:
                overrides = json.loads(stored)
                if isinstance(overrides, dict) and "daily_budget_usd" in overrides:
                    budget = parse_budget(overrides["daily_budget_usd"])
            except ValueError:
                pass  # overrides this version cannot read: the `[policy]`'s own budget
        if budget is not None:
            out[owner] = budget
    return out
