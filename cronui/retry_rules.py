"""Retry rules: which failed ends are worth another attempt, read alike from the CLI
(`--retry-on-exit 75,111`, `--no-retry-on-exit 2`, `--retry-on-status 502,503`), job files (`retry_on_exit`,
`no_retry_on_exit`, `retry_on_status`: lists of whole numbers) and the API, and applied where a run's end is
recorded (engine/finishing.py).

Without rules a failure is retried when its executor calls it transient (a shell job's exit, a 5xx, a 429,
a timeout) and the job has retries left. With rules:
- `retry_on_exit` (shell): a non-zero exit is retried only when its code is listed;
- `no_retry_on_exit` (shell): an exit whose code is listed is never retried;
- `retry_on_status` (http): a response with an unwanted status is retried only when its status is listed
  (a listed 4xx too).
Ends without an exit code or a status (a timeout, a signal, a connection refused) follow the executor's word.
A job has either list of exit codes, not both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cronui.bounds import HTTP_STATUS, Whole, show
from cronui.model import Job, TargetKind

EXIT_CODE = Whole(1, 255)  # a process's exit status that is a failure
RULES = ("retry_on_exit", "no_retry_on_exit", "retry_on_status")  # the job's fields and the file's keys
KIND_OF = {"retry_on_exit": TargetKind.SHELL, "no_retry_on_exit": TargetKind.SHELL, "retry_on_status": TargetKind.HTTP}
BOUND_OF = {"retry_on_exit": EXIT_CODE, "no_retry_on_exit": EXIT_CODE, "retry_on_status": HTTP_STATUS}


def option(rule: str) -> str:
    """The CLI's spelling of a rule (and the field its problems name): `retry-on-exit`."""
    return rule.replace("_", "-")


def parse_codes(value: Any, rule: str) -> list[int]:
    """`75,111`, `"75, 111"`, 75 or [75, 111] -> [75, 111] (sorted, once each); ValueError saying why not."""
    bound = BOUND_OF[rule]
    if isinstance(value, str):
        items: list[Any] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise ValueError(f"expected a list of whole numbers like [75, 111], got {show(value)}")
    if not items:
        raise ValueError("expected at least one code (leave the key out, or pass '' on edit, for none)")
    codes = set()
    for item in items:
        if isinstance(item, str) and item.lstrip("-").isdigit():
            item = int(item)
        if not isinstance(item, int) or isinstance(item, bool) or not bound.lo <= item <= bound.hi:
            raise ValueError(f"{show(item)} is not a code from {bound.lo} to {bound.hi}")
        codes.add(item)
    return sorted(codes)


def rule_problems(job: Job) -> Iterator[tuple[str, str]]:
    """(field, problem) for each rule the job may not hold: one of the wrong kind, both lists of exit codes,
    codes out of range."""
    for rule in RULES:
        value = getattr(job, rule)
        if value is None:
            continue
        if job.kind is not KIND_OF[rule]:
            yield option(rule), f"only {KIND_OF[rule]} jobs have it, not {job.kind} jobs"
            continue
        try:
            parse_codes(value, rule)
        except ValueError as e:
            yield option(rule), str(e)
    if job.retry_on_exit is not None and job.no_retry_on_exit is not None:
        yield "no-retry-on-exit", "a job retries only on some exit codes or never on some, not both"


def worth_retrying(job: Job, transient: bool, exit_code: int | None, http_status: int | None) -> bool:
    """Whether a failed end may be retried by the job's rules (see the module); `transient` is the executor's
    word on it. The attempts left are the caller's to count."""
    if exit_code is not None and exit_code != 0 and job.kind is TargetKind.SHELL:
        if job.retry_on_exit is not None:
            return exit_code in job.retry_on_exit
        if job.no_retry_on_exit is not None and exit_code in job.no_retry_on_exit:
            return False
    if http_status is not None and job.kind is TargetKind.HTTP and job.retry_on_status is not None:
        return http_status in job.retry_on_status
    return transient


def rules_json(job: Job) -> dict[str, list[int] | None]:
    """The rules as the job's JSON carries them (null: not set)."""
    return {rule: getattr(job, rule) for rule in RULES}


def rules_lines(job: Job) -> list[str]:
    """`jobs show`'s lines of the rules the job sets."""
    words = {
        "retry_on_exit": "retry only on exit",
        "no_retry_on_exit": "never retry on exit",
        "retry_on_status": "retry only on status",
    }
    return [f"{words[r]} {', '.join(map(str, getattr(job, r)))}" for r in RULES if getattr(job, r) is not None]
