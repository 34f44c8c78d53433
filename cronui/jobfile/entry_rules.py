"""The retry-rule keys of a `[[job]]` table (`retry_on_exit`, `no_retry_on_exit`, `retry_on_status`: lists of
whole numbers; see cronui.retry_rules), read onto the job; which kinds may hold them is the job's validation's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cronui.model import Job
from cronui.retry_rules import RULES, parse_codes


def read_rules(entry: Mapping[str, Any], job: Job, fail: Callable[[str, str], None]) -> None:
    for rule in RULES:
        if rule not in entry:
            continue
        value = entry[rule]
        if not isinstance(value, list):
            fail(rule, f"expected a list of whole numbers like [75, 111], got {type(value).__name__} {value!r}")
            continue
        try:
            setattr(job, rule, parse_codes(value, rule))
        except ValueError as e:
            fail(rule, str(e))
