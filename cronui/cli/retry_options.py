"""The retry-rule options `cronui jobs add` and `cronui jobs edit` share (cronui.retry_rules):
`--retry-on-exit 75,111`, `--no-retry-on-exit 2` (shell), `--retry-on-status 502,503` (http); '' clears one."""

from __future__ import annotations

import argparse

from cronui.jobs import JobError
from cronui.model import Job
from cronui.retry_rules import RULES, option, parse_codes

_HELP = {
    "retry_on_exit": "shell: retry only on these exit codes (e.g. 75,111)",
    "no_retry_on_exit": "shell: never retry on these exit codes (e.g. 2)",
    "retry_on_status": "http: retry only on these statuses (e.g. 502,503)",
}


def add_retry_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("retry rules (unset: any transient failure is retried; '' clears)")
    for rule in RULES:
        g.add_argument(f"--{option(rule)}", metavar="CODES", help=_HELP[rule])


def apply_retry_options(job: Job, a: argparse.Namespace) -> None:
    for rule in RULES:
        value = getattr(a, rule, None)
        if value is None:
            continue
        try:
            setattr(job, rule, parse_codes(value, rule) if value.strip() else None)
        except ValueError as e:
            raise JobError(option(rule), str(e)) from None
