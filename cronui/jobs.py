"""One set of rules for a job, whoever writes it: the CLI, the TUI editor, or a job file."""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from typing import overload
from urllib.parse import urlsplit

from cronui.bounds import (
    ALERT_AFTER,
    DURATION,
    HTTP_STATUS,
    KEEP_TURNS,
    MAX_TOKENS,
    POSITIVE_DURATION,
    QUEUE_LIMIT,
    RETRIES,
    TEMPERATURE,
    Bound,
    Duration,
    OutOfBounds,
    show,
)
from cronui.controls import has_control
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

# \Z, not $: `$` also matches before a trailing newline, which let "name\n" through
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}\Z")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# a header name is an HTTP token (RFC 9110); a value holds no control character but tab
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
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


def parse_duration(text: str | float | int, field: str, bound: Duration = DURATION) -> float:
    """'90', '90s', '15m', '2h', '1d' (or a number of seconds) -> seconds, finite and within `bound`."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise JobError(field, f"expected a duration like 30s, 10m or 2h, got {show(text)}")
    if isinstance(text, str):
        m = _DURATION_RE.match(text)
        if not m:
            raise JobError(field, f"expected a duration like 30s, 10m or 2h, got {show(text)}")
        value: int | float = float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        value = text
    try:
        return bound.check(value, given=text)
    except OutOfBounds as e:
        raise JobError(field, str(e)) from None


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
    if not isinstance(job.name, str) or not NAME_RE.match(job.name):
        raise JobError(
            f"name: {show(job.name)} is not a valid job name (letters, digits, '.', '_', '-'; up to 80; "
            "starting with a letter or digit)"
        )
    try:
        get_zone(job.timezone)
    except ScheduleError as e:
        raise JobError("timezone", str(e), hint="--tz") from None  # the zone is wrong, not the schedule
    try:
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
    for error in number_errors(job):
        raise error
    if job.pool is not None:
        _check_word(job.pool, "pool")
        if pools is not None and job.pool not in pools:
            known = ", ".join(sorted(pools)) or "none configured"
            raise JobError("pool", f"unknown pool {job.pool!r} (configured pools: {known}; add it under [pools])")
    for tag in job.tags:
        _check_word(tag, "tag")
    for label, target in chain_targets(job):
        if not isinstance(target, str) or not NAME_RE.match(target):
            raise JobError(label, f"{show(target)} is not a job name")
        if target == job.name:
            raise JobError(label, "a job cannot chain to itself")
    return job


def _check_word(value: object, field: str) -> None:
    if not isinstance(value, str) or not value or not value.isprintable() or any(c.isspace() for c in value):
        raise JobError(field, f"{show(value)} must be a non-empty word (no spaces or control characters)")


def job_numbers(job: Job) -> Iterator[tuple[str, Bound, object]]:
    """(field, bound, value) for every number a job holds; None values are "not set" and are skipped."""
    yield "timeout", POSITIVE_DURATION, job.timeout_s
    yield "retries", RETRIES, job.max_retries
    yield "retry-delay", DURATION, job.retry_delay_s
    yield "queue-limit", QUEUE_LIMIT, job.queue_limit
    yield "misfire-grace", DURATION, job.misfire_grace_s
    t = job.target
    if isinstance(t, HttpTarget):
        yield "expect-status", HTTP_STATUS, t.expect_status
    elif isinstance(t, AgentTarget):
        yield "max-tokens", MAX_TOKENS, t.max_tokens
        yield "temperature", TEMPERATURE, t.temperature
        yield "idle-timeout", POSITIVE_DURATION, t.idle_timeout_s
        yield "keep-turns", KEEP_TURNS, t.keep_turns
    d = job.delivery
    yield "alert-after", ALERT_AFTER, d.alert_after
    yield "alert-cooldown", DURATION, d.alert_cooldown_s


_REQUIRED_NUMBERS = frozenset({"timeout", "retries", "retry-delay", "queue-limit", "misfire-grace"})


def number_errors(job: Job) -> list[JobError]:
    """Every number of `job` that is not finite or out of its bounds (see cronui.bounds), one error each.
    `validate` refuses the first; a job stored before these checks existed is shown with all of them."""
    errors: list[JobError] = []
    for field, bound, value in job_numbers(job):
        if value is None and field not in _REQUIRED_NUMBERS:
            continue
        try:
            bound.check(value)
        except OutOfBounds as e:
            errors.append(JobError(field, str(e)))
    return errors


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


_ENV_REF_RE = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}")


def _check_url(value: object, field: str) -> None:
    """An http(s) URL with a host, or one that starts with ${env:NAME} (resolved when the job runs)."""
    expected = "expected an http:// or https:// URL (or ${env:NAME})"
    if not isinstance(value, str) or not value.strip():
        raise JobError(field, f"{expected}, got {show(value)}")
    if _ENV_REF_RE.match(value):
        return
    if value != value.strip() or any(c.isspace() for c in value) or has_control(value):
        raise JobError(field, f"{expected} without spaces or control characters, got {show(value)}")
    try:
        parts = urlsplit(value)
    except ValueError as e:  # e.g. an unbalanced [ in the host
        raise JobError(field, f"{expected}, got {show(value)} ({e})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise JobError(field, f"{expected}, got {show(value)}")
    host = parts.netloc.rpartition("@")[2]
    if not host or host.startswith(":") or (not parts.hostname and "${env:" not in host):
        raise JobError(field, f"{show(value)} has no host (expected e.g. https://example.com/path)")
    if "${env:" not in host:
        try:
            parts.port  # noqa: B018 - it raises on a port that is not a number from 0 to 65535
        except ValueError:
            raise JobError(field, f"{show(value)} has an invalid port") from None


def _check_headers(headers: object, field: str) -> None:
    if not isinstance(headers, dict):
        raise JobError(field, f"expected a table of header names and values, got {show(headers)}")
    for key, value in headers.items():
        if not isinstance(key, str) or not HEADER_NAME_RE.match(key):
            raise JobError(field, f"{show(key)} is not a valid header name")
        if not isinstance(value, str) or has_control(value):
            raise JobError(field, f"{key}: the value must be text without line breaks or control characters")


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
    _check_headers(t.headers, "header")


def _validate_agent(t: AgentTarget) -> None:
    _check_url(t.base_url, "agent")
    if not str(t.model or "").strip():
        raise JobError("model", "say which model to ask", hint="--model")
    if not isinstance(t.model, str) or t.model != t.model.strip() or has_control(t.model):
        raise JobError("model", f"{show(t.model)} must not start or end with spaces or hold control characters")
    if not str(t.message or "").strip():
        raise JobError("message", "the message to send is empty", hint="--message")
    env = t.api_key_env
    if env is not None and not ENV_KEY_RE.match(str(env)):
        raise JobError("api-key-env", f"{env!r} is not an environment variable name (give the name, not the key)")
    if t.conversation not in CONVERSATIONS:
        raise JobError("conversation", f"expected {' or '.join(CONVERSATIONS)}, got {t.conversation!r}")
    _check_headers(t.headers, "agent-headers")
    if t.stream is not None and not isinstance(t.stream, bool):
        raise JobError("stream", f"expected true or false, got {show(t.stream)}")
    try:
        json.dumps(t.extra, allow_nan=False)
    except (TypeError, ValueError):
        raise JobError("extra", "holds a value a JSON request cannot carry (a date, NaN or infinity)") from None


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
