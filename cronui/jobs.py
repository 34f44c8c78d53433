"""One set of rules for a job, whoever writes it: the CLI, the TUI editor, or a job file."""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from typing import overload

from cronui.model import Job
from cronui.schedule import ScheduleError, get_zone, parse
from cronui.targets import (
    CONVERSATIONS,
    DELIVERY_FORMATS,
    DELIVERY_MODES,
    HTTP_METHODS,
    AgentTarget,
    Delivery,
    HttpTarget,
    ShellTarget,
)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class JobError(ValueError):
    """A job field is wrong. `field` names it as the CLI spells its option ("retry-delay", "on-success"),
    `problem` says what is wrong, `hint` where to fix it (an option, for the CLI), and `job` which job,
    when many are checked at once. `str()` is the line users see: "job 'x': field: problem (hint)".

    `JobError(message)` is a refusal about no single field: `field` is None and `problem` the message."""

    @overload
    def __init__(self, message: str, /) -> None: ...

    @overload
    def __init__(self, field: str, problem: str, /, *, hint: str | None = None, job: str | None = None) -> None: ...

    def __init__(
        self, first: str, problem: str | None = None, /, *, hint: str | None = None, job: str | None = None
    ) -> None:
        self.field: str | None = first if problem is not None else None
        self.problem: str = problem if problem is not None else first
        self.hint = hint
        self.job = job
        text = self.problem if self.field is None else f"{self.field}: {self.problem}"
        if hint:
            text += f" ({hint})"
        super().__init__(text if job is None else f"job {job!r}: {text}")

    def in_job(self, name: str) -> JobError:
        """The same problem, said of job `name` (when many jobs are checked at once)."""
        if self.field is None:
            return JobError(f"job {name!r}: {self}")
        return JobError(self.field, self.problem, hint=self.hint, job=name)


def parse_duration(text: str | float | int, field: str) -> float:
    """'90', '90s', '15m', '2h', '1d' -> seconds."""
    if isinstance(text, bool):
        raise JobError(field, f"expected a duration like 30s, 10m or 2h, got {text!r}")
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _DURATION_RE.match(text)
        if not m:
            raise JobError(field, f"expected a duration like 30s, 10m or 2h, got {text!r}")
        value = float(m.group(1)) * _UNIT_S[m.group(2)]
    if value < 0:
        raise JobError(field, "must not be negative")
    return value


def parse_env_pairs(pairs: Iterable[str], field: str = "--env") -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not ENV_KEY_RE.match(key):
            raise JobError(field, f"expected KEY=VALUE with a shell-style KEY, got {pair!r}")
        env[key] = value
    return env


def validate(job: Job, now_ms: int, pools: Mapping[str, int] | None = None) -> Job:
    """Check every field of `job` and normalize its schedule; raise JobError naming the first problem."""
    if not NAME_RE.match(job.name or ""):
        raise JobError(
            f"name: {job.name!r} is not a valid job name (letters, digits, '.', '_', '-'; up to 80; "
            "starting with a letter or digit)"
        )
    try:
        get_zone(job.timezone)
        sched = parse(job.schedule, job.timezone, now_ms=now_ms)
    except ScheduleError as e:
        raise JobError("schedule", str(e)) from None
    job.schedule = sched.expr
    if job.target.kind is not job.kind:
        raise JobError("kind", f"a {job.kind} job holds a {job.target.kind} target")
    if isinstance(job.target, ShellTarget):
        _validate_shell(job.target)
    elif isinstance(job.target, HttpTarget):
        _validate_http(job.target)
    else:
        _validate_agent(job.target)
    _validate_delivery(job.delivery)
    if job.timeout_s <= 0:
        raise JobError("timeout", "must be more than 0 seconds")
    if job.max_retries < 0 or job.max_retries > 100:
        raise JobError("retries", f"expected 0 to 100, got {job.max_retries}")
    if job.retry_delay_s < 0:
        raise JobError("retry-delay", "must not be negative")
    if job.queue_limit < 1:
        raise JobError("queue-limit", f"expected at least 1, got {job.queue_limit}")
    if job.misfire_grace_s < 0:
        raise JobError("misfire-grace", "must not be negative")
    if job.pool is not None and pools is not None and job.pool not in pools:
        known = ", ".join(sorted(pools)) or "none configured"
        raise JobError("pool", f"unknown pool {job.pool!r} (configured pools: {known}; add it under [pools])")
    for tag in job.tags:
        if not tag or any(c.isspace() for c in tag):
            raise JobError("tag", f"{tag!r} must be a non-empty word")
    for label, target in chain_targets(job):
        if target == job.name:
            raise JobError(label, "a job cannot chain to itself")
    return job


def chain_targets(job: Job) -> Iterator[tuple[str, str]]:
    """(option, target name) for each job that `job` triggers: on-success first, then on-failure."""
    for label, targets in (("on-success", job.on_success), ("on-failure", job.on_failure)):
        for target in targets:
            yield label, target


def find_cycle(graph: Mapping[str, Sequence[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start in `graph`, if there is one."""
    seen: set[str] = set()
    stack = [(t, [start, t]) for t in graph.get(start, [])]
    while stack:
        node, path = stack.pop()
        if node == start:
            return path
        if node in seen:
            continue
        seen.add(node)
        stack.extend((n, [*path, n]) for n in graph.get(node, []))
    return None


def chain_errors(
    job: Job, graph: Mapping[str, Sequence[str]], exists: Container[str], notes: Mapping[str, str] | None = None
) -> Iterator[JobError]:
    """What is wrong with `job`'s chains, in the order to fix it: each target not in `exists` (with the
    target's entry in `notes`, if any, saying why it is missing), then a loop through `graph`, the
    chains of every job as they would be saved. Lazy: a caller that stops at the first problem pays
    for no cycle search."""
    for label, target in chain_targets(job):
        if target not in exists:
            note = (notes or {}).get(target)
            yield JobError(label, f"no job named {target!r}" + (f" ({note})" if note else ""))
    cycle = find_cycle(graph, job.name)
    if cycle:
        yield JobError("chain", f"this would make a cycle ({' -> '.join(cycle)})")


def chain_graph(jobs: Iterable[Job]) -> dict[str, list[str]]:
    """Job name -> the names it triggers."""
    return {j.name: [t for _, t in chain_targets(j)] for j in jobs}


def check_chains(job: Job, edges: Mapping[str, list[str]], existing: Iterable[str]) -> None:
    """Chains must name existing jobs and must not form a cycle.

    `edges` maps the names of other jobs that chain to their targets; `existing` holds the names of
    this job's targets that exist."""
    graph = {name: targets for name, targets in edges.items() if name != job.name}
    graph.update(chain_graph([job]))
    for error in chain_errors(job, graph, set(existing)):
        raise error


def check_chain_graph(jobs: Iterable[Job], names: set[str]) -> None:
    """The same rules for many jobs saved at once; `names` are all live job names afterwards."""
    jobs = list(jobs)
    graph = chain_graph(jobs)
    for job in jobs:
        for error in chain_errors(job, graph, names):
            raise error.in_job(job.name)


_URL_RE = re.compile(r"^(https?://|\$\{env:[A-Za-z_][A-Za-z0-9_]*\})", re.IGNORECASE)


def _check_url(value: object, field: str) -> None:
    if not isinstance(value, str) or not _URL_RE.match(value.strip()):
        raise JobError(field, f"expected an http:// or https:// URL (or ${{env:NAME}}), got {value!r}")


def _validate_shell(t: ShellTarget) -> None:
    if not isinstance(t.command, str) or not t.command.strip():
        raise JobError("shell", "the command is empty")
    for key in t.env:
        if not ENV_KEY_RE.match(key):
            raise JobError("env", f"{key!r} is not a valid variable name")


def _validate_http(t: HttpTarget) -> None:
    _check_url(t.url, "http")
    method = str(t.method or "GET").upper()
    if method not in HTTP_METHODS:
        raise JobError("method", f"expected one of {', '.join(HTTP_METHODS)}, got {t.method!r}")
    t.method = method
    expect = t.expect_status
    if expect is not None and (isinstance(expect, bool) or not isinstance(expect, int) or not 100 <= expect <= 599):
        raise JobError("expect-status", f"expected an HTTP status code 100-599, got {expect!r}")
    for key in t.headers:
        if not key or any(c.isspace() or c == ":" for c in key):
            raise JobError("header", f"{key!r} is not a valid header name")


def _validate_agent(t: AgentTarget) -> None:
    _check_url(t.base_url, "agent")
    if not str(t.model or "").strip():
        raise JobError("model", "say which model to ask", hint="--model")
    if not str(t.message or "").strip():
        raise JobError("message", "the message to send is empty", hint="--message")
    env = t.api_key_env
    if env is not None and not ENV_KEY_RE.match(str(env)):
        raise JobError("api-key-env", f"{env!r} is not an environment variable name (give the name, not the key)")
    if t.conversation not in CONVERSATIONS:
        raise JobError("conversation", f"expected {' or '.join(CONVERSATIONS)}, got {t.conversation!r}")
    max_tokens = t.max_tokens
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise JobError("max-tokens", f"expected a positive whole number, got {max_tokens!r}")


def _validate_delivery(d: Delivery) -> None:
    if d.mode is not None and d.mode not in DELIVERY_MODES:
        raise JobError("deliver", f"expected {', '.join(DELIVERY_MODES[:-1])} or {DELIVERY_MODES[-1]}, got {d.mode!r}")
    if d.format not in DELIVERY_FORMATS:
        raise JobError(
            "deliver-format", f"expected {', '.join(DELIVERY_FORMATS[:-1])} or {DELIVERY_FORMATS[-1]}, got {d.format!r}"
        )
    if d.mode not in (None, "never") and not d.to:
        raise JobError("deliver-to", "delivery is on but there is no target URL")
    for value, option in ((d.to, "deliver-to"), (d.alert_to, "alert-to")):
        if value:
            _check_url(value, option)
    after = d.alert_after
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 1):
        raise JobError("alert-after", f"expected a positive whole number, got {after!r}")
