"""Chain conditions: `--when 'contains:X'` / `--when 'regex:X'` on a chain edge, checked against what the
run recorded as its output (an agent's reply, a shell command's stdout, an HTTP response's body).

A condition is checked when it is saved (a bad regex is refused there, never found when a run ends) and
when the run's last attempt ends; an edge whose condition does not match is not fired, and the run's
milestones say so (`chain-not-fired`), so nobody has to wonder why a chain did not run.
"""

from __future__ import annotations

import re

WHEN_KINDS = ("contains", "regex")
WHEN_SYNTAX = "contains:TEXT or regex:PATTERN"


def parse_when(when: object) -> tuple[str, str]:
    """`contains:TEXT` -> ("contains", TEXT); `regex:PATTERN` -> ("regex", PATTERN), the pattern compiled
    once here so a bad one is refused. Raises ValueError with a one-line reason."""
    if not isinstance(when, str):
        raise ValueError(f"expected {WHEN_SYNTAX}, got {when!r}")
    kind, sep, arg = when.partition(":")
    if not sep or kind not in WHEN_KINDS:
        raise ValueError(f"expected {WHEN_SYNTAX}, got {when!r}")
    if not arg:
        raise ValueError(f"{kind}: needs something to look for after the colon")
    if kind == "regex":
        try:
            re.compile(arg)
        except re.error as e:
            raise ValueError(f"{arg!r} is not a valid regular expression ({e})") from None
    return kind, arg


def when_problem(when: object) -> str | None:
    """What is wrong with a condition, in one line; None when it is one."""
    try:
        parse_when(when)
    except ValueError as e:
        return str(e)
    return None


def matches(when: str, output: str) -> bool:
    """Whether `output` meets the condition: contains TEXT (case-sensitive), or has a match of PATTERN
    anywhere (re.search; `(?i)` makes it ignore case)."""
    kind, arg = parse_when(when)
    if kind == "contains":
        return arg in output
    return re.search(arg, output) is not None


def describe_miss(when: str) -> str:
    """Why an edge with this condition was not fired, as the run's milestone says it."""
    kind, arg = parse_when(when)
    if kind == "contains":
        return f"the output does not contain {arg!r}"
    return f"the output has no match for /{arg}/"
