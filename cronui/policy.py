"""The `[policy]`: what callers held to it (API and MCP tokens, MCP over stdio without `--unlimited`, an
agent's tool calls) may create. The host's own user (CLI, TUI) is not held to it.

    kinds                  job kinds allowed (default agent and http; shell only when named: a shell job is
                           code run on the host)
    max_jobs_per_owner     live jobs one owner may have (default 25)
    max_creations_per_day  jobs one owner may create in 24 hours, removed ones and follow-ups counted (100)
    min_interval           no schedule firing more often than this (default 1m; a one-shot is fine)
    daily_budget_usd       what one owner's agent runs may cost per UTC day (default none)

The values here are plain and checked the same way wherever they come from: the config file, CRONUI_POLICY_*
variables, or a token's own overrides (`cronui tokens add NAME --policy KEY=VALUE`, kept as JSON on the
token and merged over the `[policy]` for that token's caller). The rules are applied by
`cronui.application.policy`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cronui import bounds
from cronui.bounds import OutOfBounds, show
from cronui.jobs import JobError, parse_duration
from cronui.owner_budget import parse_budget

KINDS = ("agent", "http", "shell")

MIN_INTERVAL = bounds.Duration(hi=bounds.MAX_DURATION_S)
JOBS = bounds.Whole(0, 1_000_000)


@dataclass
class Policy:
    kinds: tuple[str, ...] = ("agent", "http")
    max_jobs_per_owner: int = 25
    max_creations_per_day: int = 100
    min_interval: float = 60.0  # seconds
    daily_budget_usd: float | None = None  # None: no budget per owner

    def merged(self, overrides: Mapping[str, Any] | None) -> Policy:
        """This policy with a token's own `overrides` (checked values, by key) over it."""
        if not overrides:
            return self
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if k in POLICY_KEYS})


def parse_kinds(v: Any) -> tuple[str, ...]:
    """Job kinds, as a TOML list or comma-separated text ("agent,http,shell")."""
    items = [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f'expected a list of job kinds like ["agent", "http"], got {show(v)}')
    for item in items:
        if item not in KINDS:
            raise ValueError(f"{show(item)} is not a job kind (known: {', '.join(KINDS)})")
    return tuple(k for k in KINDS if k in items)


def _whole(v: Any) -> int:
    try:
        return JOBS.parse(v) if isinstance(v, str) else JOBS.check(v)
    except OutOfBounds as e:
        raise ValueError(str(e)) from None


def _interval(v: Any) -> float:
    try:
        return parse_duration(v, "min_interval", MIN_INTERVAL)
    except JobError as e:
        raise ValueError(e.problem) from None


POLICY_KEYS: dict[str, Callable[[Any], Any]] = {
    "kinds": parse_kinds,
    "max_jobs_per_owner": _whole,
    "max_creations_per_day": _whole,
    "min_interval": _interval,
    "daily_budget_usd": parse_budget,
}


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` texts (a token's `--policy`) as checked values by key; ValueError names the first wrong one
    as `KEY: problem`."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"expected KEY=VALUE (keys: {', '.join(POLICY_KEYS)}), got {show(pair)}")
        if key not in POLICY_KEYS:
            raise ValueError(f"{show(key)} is not a policy key (known: {', '.join(POLICY_KEYS)})")
        try:
            out[key] = POLICY_KEYS[key](value.strip())
        except ValueError as e:
            raise ValueError(f"{key}: {e}") from None
    return out


def overrides_json(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides as the token keeps them (JSON: kinds a list)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}


def overrides_from_json(data: Any) -> dict[str, Any]:
    """A token's stored overrides read back and checked again; a key this version does not know is left
    out (a newer cronui's), one it cannot read refused as ValueError."""
    if not isinstance(data, Mapping):
        raise ValueError("a token's policy is not a table")
    return {k: POLICY_KEYS[k](v) for k, v in data.items() if k in POLICY_KEYS}


def shown(key: str, value: Any) -> str:
    """A policy value as a refusal and a listing show it: `agent, http`, `1m`, `$5`, `none`."""
    if key == "kinds":
        return ", ".join(value) or "none"
    if key == "min_interval":
        return bounds.span(value)
    if key == "daily_budget_usd":
        return "none" if value is None else f"${value:g}"
    return str(value)
