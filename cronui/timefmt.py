"""Instants and spans as text: the one home of cronui's time and duration formats.

Instants are UTC epoch milliseconds inside cronui; they become text only at the edges, through these
functions. Two kinds of duration text exist, and each has one function:
- `human_span(ms)` for reading ("1.25s", "3m05s", "2h07m"), in CLI lines, the TUI and deliveries;
- `duration_spec(seconds)` for writing back ("90s", "10m", "2h", "1d"), in job files and the editor,
  which `cronui.jobs.parse_duration` reads to the same number.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def iso_utc(ms: int | None) -> str | None:
    """UTC epoch ms -> '2026-11-23T09:00:00.004Z' (the JSON contract's time format)."""
    if ms is None:
        return None
    return _iso_utc(ms)


@functools.lru_cache(maxsize=4096)  # a burst of runs shares its slot; a page of rows shares its times
def _iso_utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_in_zone(ms: int, zone: ZoneInfo) -> str:
    """UTC epoch ms -> '2026-11-24T09:00:00+01:00' in `zone` (milliseconds shown only when there are some)."""
    dt = datetime.fromtimestamp(ms / 1000, zone)
    return dt.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


def human_span(ms: int | float | None, decimals: int = 2) -> str:
    """A duration for reading: '0.04s', '12.3s', '3m05s', '2h07m', '3d04h'; '—' when unknown. Under ten
    seconds it shows `decimals` places (3 for a milestone's offset, where milliseconds matter)."""
    if ms is None:
        return "—"
    if not math.isfinite(ms) or abs(ms) >= 1e15:  # only a value stored before bounds were checked
        return f"{ms / 1000:g}s"
    s = ms / 1000
    if s < 10:
        return f"{s:.{decimals}f}s"
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def duration_spec(seconds: float) -> str | float:
    """Seconds as the shortest exact duration text ('90s', '10m', '2h', '1d'), or the number itself
    when it is not a whole number of seconds (so reading it back gives exactly the same float)."""
    if not math.isfinite(seconds) or seconds != int(seconds):
        return seconds
    s = int(seconds)
    if s == 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def duration_field(seconds: float) -> str:
    """`duration_spec` for a text field: a fraction of a second keeps its unit ('1.5s')."""
    spec = duration_spec(seconds)
    return spec if isinstance(spec, str) else f"{spec}s"
