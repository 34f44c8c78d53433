"""One set of rules for a job, whoever writes it: the CLI, the TUI editor, or a job file."""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from typing import overload
from urllib.parse import urlsplit

from cronui.alert_options import ALERT_RATE, ALERT_RATE_RUNS, SPANS, channel_problem, parse_kinds
from cronui.bounds import (
    ALERT_AFTER,
    APPROVAL_MAX_WAITING,
    DAILY_BUDGET,
    DURATION,
    HTTP_STATUS,
    KEEP_TURNS,
    MAX_COST,
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
from cronui.chain_runs import ChainRuns, too_many_message
from cronui.chains import when_problem
from cronui.controls import has_control
from cronui.job_texts import text_problems
from cronui.model import APPROVAL_DEFAULTS, CHAINS, Job, params
from cronui.placement import check_label
from cronui.retry_rules import rule_problems
from cronui.schedule import ScheduleError, get_zone, parse
from cronui.targets import (
    DELIVERY_FORMATS,
    DELIVERY_MODES,
    HTTP_METHODS,
    AgentTarget,
    Delivery,
    HttpTarget,
    ShellTarget,
    conversation_problem,
    split_fallback,
    tools_problem,
)

# \Z, not $: `$` also matches before a trailing newline, which let "name\n" through
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}\Z")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# a header name is an HTTP token (RFC 9110); a value holds no control character but tab
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
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
        m = DURATION_RE.match(text)
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
    for error in problems(job, now_ms, pools):
        raise error
    return job


def job_errors(job: Job, now_ms: int, pools: Mapping[str, int] | None = None) -> list[JobError]:
    """Every problem of `job`, in the order `validate` checks them (it refuses the first); [] when none.
    A form that shows each problem at its field (the TUI editor) asks for all of them at once."""
    return list(problems(job, now_ms, pools))


def problems(job: Job, now_ms: int, pools: Mapping[str, int] | None = None) -> Iterator[JobError]:
    """The problems of `job`, one per wrong value, lazily; the schedule is normalized on the way when valid."""
    if not isinstance(job.name, str) or not NAME_RE.match(job.name):
        yield JobError(
            "name",
            f"{show(job.name)} is not a valid job name (letters, digits, '.', '_', '-'; up to 80; "
            "starting with a letter or digit)",
        )
    texts = list(text_problems(job))  # NUL, sizes, ${env:} references: before anything parses a text
    for field, problem in texts:
        yield JobError(field, problem)
    zone = job.timezone
    try:
        get_zone(zone)
    except ScheduleError as e:
        yield JobError("timezone", str(e), hint="--tz")  # the zone is wrong, not the schedule
        zone = "UTC"  # the schedule's own problems are still found (and it is left as written)
    if not any(field == "schedule" for field, _ in texts):
        try:
            sched = parse(job.schedule, zone, now_ms=now_ms, starts_ms=job.starts_at, ends_ms=job.ends_at)
        except ScheduleError as e:
            yield JobError("schedule", str(e))
        else:
            if zone == job.timezone:
                job.schedule = sched.expr
    if job.target.kind is not job.kind:
        yield JobError("kind", f"a {job.kind} job holds a {job.target.kind} target")
    elif job.is_check:  # nothing runs: a shell command, if any, names what the crontab runs
        if not isinstance(job.target, ShellTarget):
            yield JobError("check", f"a check runs nothing: it takes no {job.kind} target (--shell may name it)")
    else:
        flagged = {field for field, _ in texts}  # a text refused above is not refused again for its shape
        yield from (e for e in _target_errors(job.target) if e.field not in flagged)
    yield from _delivery_errors(job.delivery)
    if job.alert_on is not None:
        try:
            parse_kinds(job.alert_on)
        except ValueError as e:
            yield JobError("alert-on", str(e))
    if job.approval_default not in APPROVAL_DEFAULTS:
        yield JobError("approval-default", f"expected approve or reject, got {show(job.approval_default)}")
    if not isinstance(job.approval, bool):
        yield JobError("approval", f"expected true or false, got {show(job.approval)}")
    yield from number_errors(job)
    if job.pool is not None:
        error = _word_error(job.pool, "pool")
        if error is None and pools is not None and job.pool not in pools:
            known = ", ".join(sorted(pools)) or "none configured"
            error = JobError("pool", f"unknown pool {job.pool!r} (configured pools: {known}; add it under [pools])")
        if error is not None:
            yield error
    for tag in job.tags:
        error = _word_error(tag, "tag")
        if error is not None:
            yield error
    if job.node_label is not None:
        try:
            check_label(job.node_label)
        except ValueError as e:
            yield JobError("node-label", str(e))
    for label, target in chain_targets(job):
        if not isinstance(target, str) or not NAME_RE.match(target):
            yield JobError(label, f"{show(target)} is not a job name")
        elif target == job.name:
            yield JobError(label, "a job cannot chain to itself")
    yield from edge_errors(job)
    yield from (JobError(field, problem) for field, problem in rule_problems(job))  # cronui.retry_rules
    yield from (JobError("param", problem) for problem in params.job_problems(job))  # run-time parameters


def edge_errors(job: Job) -> Iterator[JobError]:
    """What is wrong with the options of the job's chain edges (a condition: see cronui.chains)."""
    for chain, edges in job.chain_options.items():
        names = getattr(job, chain) if chain in CHAINS else []
        for name, edge in edges.items():
            if name not in names:
                yield JobError("when", f"a condition for {name!r}, which {chain.replace('_', '-')} does not name")
            elif edge.when is not None and (problem := when_problem(edge.when)) is not None:
                yield JobError("when", problem if len(names) == 1 else f"{name}: {problem}")


def _word_error(value: object, field: str) -> JobError | None:
    if not isinstance(value, str) or not value or not value.isprintable() or any(c.isspace() for c in value):
        return JobError(field, f"{show(value)} must be a non-empty word (no spaces or control characters)")
    return None


def job_numbers(job: Job) -> Iterator[tuple[str, Bound, object]]:
    """(field, bound, value) for every number a job holds; None values are "not set" and are skipped."""
    yield "timeout", POSITIVE_DURATION, job.timeout_s
    yield "retries", RETRIES, job.max_retries
    yield "retry-delay", DURATION, job.retry_delay_s
    yield "queue-limit", QUEUE_LIMIT, job.queue_limit
    yield "misfire-grace", DURATION, job.misfire_grace_s
    yield "grace", POSITIVE_DURATION, job.grace_s
    t = job.target
    if isinstance(t, HttpTarget):
        yield "expect-status", HTTP_STATUS, t.expect_status
    elif isinstance(t, AgentTarget):
        yield "max-tokens", MAX_TOKENS, t.max_tokens
        yield "temperature", TEMPERATURE, t.temperature
        yield "idle-timeout", POSITIVE_DURATION, t.idle_timeout_s
        yield "keep-turns", KEEP_TURNS, t.keep_turns
        yield "max-cost", MAX_COST, t.max_cost_usd
        yield "daily-budget", DAILY_BUDGET, t.daily_budget_usd
    d = job.delivery
    yield "alert-after", ALERT_AFTER, d.alert_after
    yield "alert-cooldown", DURATION, d.alert_cooldown_s
    yield "approval-timeout", POSITIVE_DURATION, job.approval_timeout_s
    yield "approval-max-waiting", APPROVAL_MAX_WAITING, job.approval_max_waiting
    for word, attr, _ in SPANS:  # what the job is expected to do (None: the `[alerts]` default)
        yield f"alert-{word.replace('_', '-')}", POSITIVE_DURATION, getattr(job, attr)
    yield "alert-rate", ALERT_RATE, job.alert_rate_pct
    yield "alert-rate", ALERT_RATE_RUNS, job.alert_rate_n


_REQUIRED_NUMBERS = frozenset(
    {"timeout", "retries", "retry-delay", "queue-limit", "misfire-grace", "approval-timeout", "approval-max-waiting"}
)


def number_errors(job: Job) -> list[JobError]:
    """Every number of `job` not finite or out of its bounds (cronui.bounds), one error each (a stored job: all)."""
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
    job: Job,
    graph: Mapping[str, Sequence[str]],
    exists: Container[str],
    notes: Mapping[str, str] | None = None,
    runs: ChainRuns | None = None,
) -> Iterator[JobError]:
    """What is wrong with `job`'s chains, in the order to fix it: each target not in `exists` (with the
    target's entry in `notes`, if any, saying why it is missing), then a loop through `graph`, the
    chains of every job as they would be saved, then a run of the job or of one above it that could
    start some job more than MAX_CHAIN_RUNS times (see cronui.chain_runs; `runs` keeps the counts for
    the next job checked against the same graph). Lazy: a caller that stops at the first problem pays
    for no cycle search."""
    for label, target in chain_targets(job):
        if target not in exists:
            note = (notes or {}).get(target)
            yield JobError(label, f"no job named {target!r}" + (f" ({note})" if note else ""))
    cycle = find_cycle(graph, job.name)
    if cycle:
        yield JobError("chain", f"this would make a cycle ({' -> '.join(cycle)})")
        return
    runs = runs if runs is not None else ChainRuns(graph)
    found = runs.too_many([job.name, *runs.ancestors(job.name)])
    if found is not None:
        yield JobError("chain", too_many_message(*found))


def chain_graph(jobs: Iterable[Job]) -> dict[str, list[str]]:
    """Job name -> the names it triggers."""
    return {j.name: [t for _, t in chain_targets(j)] for j in jobs}


def check_chains(job: Job, edges: Mapping[str, list[str]], existing: Iterable[str]) -> None:
    """Chains must name existing jobs, must not form a cycle, and must not let one run start a job more
    than MAX_CHAIN_RUNS times (see cronui.chain_runs).

    `edges` maps the names of other jobs that chain to their targets; `existing` holds the names of
    this job's targets that exist."""
    for error in chain_problems(job, edges, existing):
        raise error


def chain_problems(job: Job, edges: Mapping[str, list[str]], existing: Iterable[str]) -> Iterator[JobError]:
    """What `check_chains` refuses, every problem in turn (see `chain_errors`)."""
    graph = {name: targets for name, targets in edges.items() if name != job.name}
    graph.update(chain_graph([job]))
    return chain_errors(job, graph, set(existing))


def check_chain_graph(jobs: Iterable[Job], names: set[str]) -> None:
    """The same rules for many jobs saved at once; `names` are all live job names afterwards."""
    jobs = list(jobs)
    graph = chain_graph(jobs)
    runs = ChainRuns(graph)
    for job in jobs:
        for error in chain_errors(job, graph, names, runs=runs):
            raise error.in_job(job.name)


_ENV_REF_RE = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}")


def _channels_error(value: object, field: str) -> JobError | None:
    """Where results or alerts go: one channel, or several separated by spaces (`--deliver-to` and
    `--alert-to` repeated). Each is an http(s) webhook, as before apprise, or any apprise URL."""
    if not isinstance(value, str) or (len(value.split()) < 2 and ("://" not in value or _is_webhook(value))):
        return _url_error(value, field)  # one webhook, checked as before apprise
    for channel in value.split():
        error = _url_error(channel, field) if _is_webhook(channel) else None
        problem = None if _is_webhook(channel) else channel_problem(channel)
        if error is not None or problem is not None:
            return error or JobError(field, problem or "")
    return None


def _is_webhook(value: str) -> bool:
    return value.strip().lower().startswith(("http://", "https://")) or bool(_ENV_REF_RE.match(value.strip()))


def _url_error(value: object, field: str) -> JobError | None:
    """An http(s) URL with a host, or one that starts with ${env:NAME} (resolved when the job runs)."""
    expected = "expected an http:// or https:// URL (or ${env:NAME})"
    if not isinstance(value, str) or not value.strip():
        return JobError(field, f"{expected}, got {show(value)}")
    if value != value.strip() or any(c.isspace() for c in value) or has_control(value):
        return JobError(field, f"{expected} without spaces or control characters, got {show(value)}")
    if _ENV_REF_RE.match(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError as e:  # e.g. an unbalanced [ in the host
        return JobError(field, f"{expected}, got {show(value)} ({e})")
    if parts.scheme.lower() not in ("http", "https"):
        return JobError(field, f"{expected}, got {show(value)}")
    host = parts.netloc.rpartition("@")[2]
    if not host or host.startswith(":") or (not parts.hostname and "${env:" not in host):
        return JobError(field, f"{show(value)} has no host (expected e.g. https://example.com/path)")
    if "${env:" not in host:
        try:
            parts.port  # noqa: B018 - it raises on a port that is not a number from 0 to 65535
        except ValueError:
            return JobError(field, f"{show(value)} has an invalid port")
    return None


def _headers_error(headers: object, field: str) -> JobError | None:
    if not isinstance(headers, dict):
        return JobError(field, f"expected a table of header names and values, got {show(headers)}")
    for key, value in headers.items():
        if not isinstance(key, str) or not HEADER_NAME_RE.match(key):
            return JobError(field, f"{show(key)} is not a valid header name")
        if not isinstance(value, str) or has_control(value):
            return JobError(field, f"{key}: the value must be text without line breaks or control characters")
    return None


def _present(*errors: JobError | None) -> Iterator[JobError]:
    return (e for e in errors if e is not None)


def _shell_errors(t: ShellTarget) -> Iterator[JobError]:
    if not isinstance(t.command, str) or not t.command.strip():
        yield JobError("shell", "the command is empty")
    bad = next((key for key in t.env if not ENV_KEY_RE.match(key)), None)
    if bad is not None:
        yield JobError("env", f"{bad!r} is not a valid variable name")


def _target_errors(t: ShellTarget | HttpTarget | AgentTarget) -> Iterator[JobError]:
    if isinstance(t, ShellTarget):
        return _shell_errors(t)
    if isinstance(t, HttpTarget):
        return _http_errors(t)
    return _agent_errors(t)


def _http_errors(t: HttpTarget) -> Iterator[JobError]:
    yield from _present(_url_error(t.url, "http"))
    method = str(t.method or "GET").upper()
    if method not in HTTP_METHODS:
        yield JobError("method", f"expected one of {', '.join(HTTP_METHODS)}, got {t.method!r}")
    else:
        t.method = method
    expect = t.expect_status
    if expect is not None and (isinstance(expect, bool) or not isinstance(expect, int) or not 100 <= expect <= 599):
        yield JobError("expect-status", f"expected an HTTP status code 100-599, got {expect!r}")
    yield from _present(_headers_error(t.headers, "header"))


def _agent_errors(t: AgentTarget) -> Iterator[JobError]:
    yield from _present(_url_error(t.base_url, "agent"))
    if not str(t.model or "").strip():
        yield JobError("model", "say which model to ask", hint="--model")
    elif not isinstance(t.model, str) or t.model != t.model.strip() or has_control(t.model):
        yield JobError("model", f"{show(t.model)} must not start or end with spaces or hold control characters")
    if not str(t.message or "").strip():
        yield JobError("message", "the message to send is empty", hint="--message")
    env = t.api_key_env
    if env is not None and not ENV_KEY_RE.match(str(env)):
        yield JobError("api-key-env", f"{env!r} is not an environment variable name (give the name, not the key)")
    if (problem := conversation_problem(t.conversation)) is not None:
        yield JobError("conversation", problem)
    yield from _present(_headers_error(t.headers, "agent-headers"))
    yield from _fallback_errors(t.fallbacks)
    if (problem := tools_problem(t.tools)) is not None:
        yield JobError("tools", problem)
    if t.gate is not None and (not isinstance(t.gate, str) or not t.gate.strip()):
        yield JobError("gate", "the check to run is empty (give a shell command, or leave the gate out)")
    if t.stream is not None and not isinstance(t.stream, bool):
        yield JobError("stream", f"expected true or false, got {show(t.stream)}")
    try:
        json.dumps(t.extra, allow_nan=False)
    except (TypeError, ValueError):
        yield JobError("extra", "holds a value a JSON request cannot carry (a date, NaN or infinity)")


def _fallback_errors(fallbacks: object) -> Iterator[JobError]:
    if not isinstance(fallbacks, list):
        yield JobError("fallback", f"expected a list of MODEL or MODEL@BASE_URL, got {show(fallbacks)}")
        return
    for text in fallbacks:
        if not isinstance(text, str):
            yield JobError("fallback", f"expected MODEL or MODEL@BASE_URL, got {show(text)}")
            return
        try:
            model, url = split_fallback(text)
        except ValueError as e:
            yield JobError("fallback", str(e))
            return
        if model != model.strip() or has_control(model):
            yield JobError("fallback", f"{show(model)} must not start or end with spaces or hold control characters")
            return
        if url is not None:
            error = _url_error(url, "fallback")
            if error is not None:
                yield error
                return


def _delivery_errors(d: Delivery) -> Iterator[JobError]:
    if d.mode is not None and d.mode not in DELIVERY_MODES:
        yield JobError("deliver", f"expected {', '.join(DELIVERY_MODES[:-1])} or {DELIVERY_MODES[-1]}, got {d.mode!r}")
    if d.format not in DELIVERY_FORMATS:
        yield JobError(
            "deliver-format", f"expected {', '.join(DELIVERY_FORMATS[:-1])} or {DELIVERY_FORMATS[-1]}, got {d.format!r}"
        )
    if d.notify_retries and not d.alert_target:
        yield JobError("notify-retries", "retry notices need a target (--deliver-to or --alert-to)")
    if d.mode not in (None, "never") and not d.to:
        yield JobError("deliver-to", "delivery is on but there is no target URL")
    for value, option in ((d.to, "deliver-to"), (d.alert_to, "alert-to")):
        if value:
            yield from _present(_channels_error(value, option))
