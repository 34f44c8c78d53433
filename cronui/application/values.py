"""Values callers send, read one way for every face: whole numbers within bounds, counts, instants in a
zone, and durations (`jobs.parse_duration`, whose pattern the API's document shows)."""

from __future__ import annotations

from datetime import datetime

from cronui.application.errors import Invalid
from cronui.bounds import OutOfBounds, Whole, cut, show
from cronui.jobs import DURATION_RE, parse_duration
from cronui.schedule import get_zone

__all__ = ["DURATION_RE", "parse_count", "parse_duration", "parse_instant", "parse_int"]


def parse_count(text: str, name: str = "-n", limit: int = 10_000) -> int:
    try:
        return Whole(1, limit).parse(text)
    except OutOfBounds as e:
        if str(e).startswith("expected a whole number"):
            raise Invalid(f"{name}: expected a positive integer, got {show(text)}") from None
        raise Invalid(f"{name}: expected a positive integer up to {limit}, got {cut(text.strip())}") from None


def parse_int(text: str, name: str, lo: int = 0, hi: int = 1_000_000) -> int:
    try:
        return Whole(lo, hi).parse(text)
    except OutOfBounds as e:
        raise Invalid(f"{name}: {e}") from None


def parse_instant(text: str, zone: str, name: str = "--from") -> int:
    """An ISO-8601 time as UTC epoch ms; a time without an offset is read in `zone`."""
    raw = text.strip()
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{name}: {text!r} is not an ISO-8601 time (e.g. 2026-11-23T09:00)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=get_zone(zone))
    return int(dt.timestamp() * 1000)
