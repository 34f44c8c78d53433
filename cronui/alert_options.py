"""The words of expectations and alert routing, read alike from the CLI, job files and `[alerts]`:
durations (`30s`, `10m`, `2h`), a success rate `PCT[/N]` and the kinds `[alerts] on` may name."""

from __future__ import annotations

import re
from typing import Any

from cronui.bounds import Number, Whole, show
from cronui.model.alerts import AlertKind

DEFAULT_RATE_RUNS = 20
MAX_RATE_RUNS = 1000
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*(?:/\s*(\d+))?\s*$")
KINDS = [str(k) for k in AlertKind]
ALERT_RATE = Number(0, 100, above=True)  # a success rate in percent
ALERT_RATE_RUNS = Whole(1, MAX_RATE_RUNS)  # over this many of the latest finished runs


def parse_rate(value: Any) -> tuple[float, int]:
    """`90` or `90%/50` -> (90.0, 50): a success rate in percent (0-100) over the last N finished runs
    (default 20, at most 1000)."""
    m = _RATE.match(str(value)) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    if not m:
        raise ValueError(f"expected PCT[/N] like 90 or 90/50, got {show(value)}")
    pct = float(m.group(1))
    n = int(m.group(2)) if m.group(2) else DEFAULT_RATE_RUNS
    if not 0 < pct <= 100:
        raise ValueError(f"the rate must be above 0 and at most 100 percent, got {m.group(1)}")
    if not 1 <= n <= MAX_RATE_RUNS:
        raise ValueError(f"the number of runs must be from 1 to {MAX_RATE_RUNS}, got {n}")
    return pct, n


def rate_text(pct: float | None, n: int | None) -> str | None:
    """A rate as written back (`90/20`), or None."""
    if pct is None:
        return None
    return f"{pct:g}/{n or DEFAULT_RATE_RUNS}"


def parse_kinds(value: Any) -> list[str]:
    """A list of alert kinds (`["failure", "late"]` or `failure, late`), each one cronui knows."""
    items = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(f'expected a list of kinds like ["failure", "late"], got {show(value)}')
    unknown = [i for i in items if i not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r} (known: {', '.join(KINDS)})")
    return list(dict.fromkeys(items))


def parse_channels(value: Any) -> list[str]:
    """A list of channel URLs (`["mailto://...", "tgram://..."]` or one string, space or comma separated)."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and "://" in i for i in items):
        raise ValueError(f'expected a list of channel URLs like ["mailto://me@example.com"], got {show(value)}')
    return list(dict.fromkeys(items))


# the expectations a job sets (None: the `[alerts]` default): (the words of the flag and key, the Job's field,
# the AlertDefaults field it inherits)
SPANS = (
    ("late", "alert_late_s", "late_s"),
    ("overrun", "alert_overrun_s", "overrun_s"),
    ("short", "alert_short_s", "short_s"),
    ("no_success", "alert_no_success_s", "no_success_s"),
)


def channel_problem(url: str) -> str | None:
    """What is wrong with a channel that is not an http(s) webhook: a scheme apprise does not know, or (for
    a URL holding no `${env:NAME}` reference) one apprise cannot read. None when it is fine."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        return f"expected an apprise URL like mailto://... or tgram://... (or an https webhook), got {show(url)}"
    if any(c.isspace() for c in url):
        return f"a channel URL holds no spaces, got {show(url)}"
    import apprise  # loaded only when a channel is not a webhook: its plugins take a while to import
    from apprise.manager_plugins import NotificationManager

    if scheme.lower() not in NotificationManager().schemas():
        return f"unknown channel scheme {scheme + '://'!r} (see apprise's list of services)"
    if "${env:" not in url and apprise.Apprise.instantiate(url) is None:
        return f"{scheme}:// URL apprise cannot read (check its form in apprise's documentation)"
    return None
