"""The one error every schedule problem raises, and how a bad input is quoted in its message."""

from __future__ import annotations


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be used; ``str(e)`` is one line naming the problem."""


def show(text: str, limit: int = 40) -> str:
    """`text` quoted for an error message: one line, and not too long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def need_text(value: object, problem: str) -> str:
    """`value` if it is a str, else a ScheduleError: `problem`, then the type that came instead.

    The callers answer from caches keyed by the text, which must not see unhashable or odd values.
    """
    if not isinstance(value, str):
        raise ScheduleError(f"{problem}, not {type(value).__name__}")
    return value
