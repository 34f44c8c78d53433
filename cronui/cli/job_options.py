"""The options `cronui jobs add` and `cronui jobs edit` share, and how they change a Job.

An empty value clears an option on edit (`--pool ''`, `--node-label ''`, `--on-success ''`, `--when ''`,
`--tag ''`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from cronui import body_files, bounds
from cronui.alert_options import DEFAULT_RATE_RUNS, KINDS, SPANS, parse_kinds, parse_rate
from cronui.bounds import Number, OutOfBounds, Whole, show
from cronui.chains import when_problem
from cronui.cli.calendar_options import add_calendar_options, apply_calendar_options
from cronui.cli.retry_options import add_retry_options, apply_retry_options
from cronui.config import Settings
from cronui.jobs import JobError, parse_duration, parse_env_pairs
from cronui.model import (
    APPROVAL_DEFAULTS,
    DEFAULT_APPROVAL_MAX_WAITING,
    DEFAULT_APPROVAL_TIMEOUT_S,
    Job,
    MisfirePolicy,
    OverlapPolicy,
    TargetKind,
)
from cronui.param_options import add_param_decl_option, apply_param_decls
from cronui.schedule import ScheduleError
from cronui.schedule.multi import stagger
from cronui.targets import (
    DEFAULT_ALERT_AFTER,
    DEFAULT_ALERT_COOLDOWN_S,
    DEFAULT_DELIVERY_FORMAT,
    DELIVERY_FORMATS,
    DELIVERY_MODES,
    AgentTarget,
    HttpTarget,
    ShellTarget,
    retarget,
)
from cronui.timefmt import duration_spec
from cronui.window_options import add_window_options, apply_window_options, schedule_text


def add_job_options(p: argparse.ArgumentParser, *, editing: bool) -> None:
    req = not editing
    when = "when it runs (repeatable: it runs at each; see `cronui next --help`)"
    p.add_argument("--schedule", required=req, action="append", metavar="EXPR", help=when)
    p.add_argument("--tz", metavar="ZONE", help="IANA time zone (default: the config's, else the system's)")
    kind = p.add_argument_group("what it runs (one of --shell, --http, --agent)")
    kind.add_argument("--shell", metavar="CMD", help="run CMD with /bin/sh -c")
    kind.add_argument("--cwd", metavar="DIR", help="working directory for --shell")
    kind.add_argument("--env", action="append", metavar="K=V", help="environment variable; V may be ${env:NAME}")
    kind.add_argument("--http", metavar="URL", help="request URL (may contain ${env:NAME})")
    kind.add_argument("--method", metavar="M", help=f"HTTP method (default {HttpTarget.method})")
    kind.add_argument("--header", action="append", metavar="'K: V'", help="HTTP header (repeatable)")
    kind.add_argument("--body", metavar="TEXT|@FILE", help="request body; @FILE is read at run time")
    kind.add_argument("--expect-status", metavar="CODE", help="success is this status (default: any 2xx)")
    kind.add_argument("--expect-body", metavar="TEXT", help="success also needs TEXT in the response body")
    kind.add_argument("--agent", metavar="BASE_URL", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    kind.add_argument("--model", metavar="MODEL")
    kind.add_argument(
        "--message", metavar="TEXT", help="placeholders: {job} {scheduled_for} {last_output} {gate_output}"
    )
    kind.add_argument("--system", metavar="TEXT", help="system prompt")
    kind.add_argument("--api-key-env", metavar="VAR", help="the environment variable holding the API key")
    kind.add_argument(
        "--conversation",
        metavar="isolated|persistent|session:NAME",
        help="fresh each run, carried over, or one history shared by every job naming session NAME",
    )
    kind.add_argument("--max-tokens", metavar="N")
    kind.add_argument("--temperature", metavar="T")
    kind.add_argument("--idle-timeout", metavar="S", help="agent: fail when no token arrives for this long (2m)")
    unattended = p.add_argument_group("running unattended")
    kind.add_argument(
        "--tools",
        action="append",
        metavar="TOOLSET",
        help="agent: tools offered to the model: cronui (schedule follow-ups, read its runs; '' clears)",
    )
    unattended.add_argument(
        "--fallback",
        action="append",
        metavar="MODEL[@BASE_URL]",
        help="asked when the model before it fails transiently (repeatable, in order; '' clears)",
    )
    unattended.add_argument(
        "--stagger",
        metavar="DUR",
        help="fire at a fixed offset inside this window, chosen from the job's name (e.g. 5m; '' or 0 removes it)",
    )
    unattended.add_argument(
        "--notify-retries",
        action=argparse.BooleanOptionalAction,
        help="announce a failed attempt that will be retried ('failed, retry 1/3 in 30s') where alerts go",
    )
    unattended.add_argument(
        "--max-cost", metavar="USD", help="stop a streaming reply whose estimated cost passes this ('' removes it)"
    )
    unattended.add_argument(
        "--daily-budget",
        metavar="USD",
        help="start no run once the job's runs cost this today, UTC day ('' removes it)",
    )
    unattended.add_argument(
        "--gate",
        metavar="CMD",
        help="shell check run first: exit 0 asks the model ({gate_output} is its stdout), 1 skips the run",
    )
    out = p.add_argument_group("delivery and alerts")
    out.add_argument(
        "--deliver-to",
        action="append",
        metavar="URL",
        help="where results go: an https webhook or any apprise URL (repeatable; may be ${env:NAME})",
    )
    out.add_argument("--deliver", choices=DELIVERY_MODES, help="when to deliver (default always)")
    out.add_argument(
        "--deliver-format", choices=DELIVERY_FORMATS, help=f"payload shape (default {DEFAULT_DELIVERY_FORMAT})"
    )
    out.add_argument(
        "--alert-to",
        action="append",
        metavar="URL",
        help="where alerts go: an https webhook or any apprise URL (repeatable; default: the delivery target)",
    )
    out.add_argument(
        "--alert-after", metavar="N", help=f"alert after N consecutive failures (default {DEFAULT_ALERT_AFTER})"
    )
    out.add_argument(
        "--alert-cooldown",
        metavar="S",
        help=f"quiet time after an alert (default {duration_spec(DEFAULT_ALERT_COOLDOWN_S)})",
    )
    add_watch_options(p)
    _add_approval_options(p, editing=editing)
    watch = p.add_argument_group("checks (cronui watches, never runs: `cronui ping` / `cronui exec` report runs)")
    watch.add_argument("--check", action="store_true", default=None, help="a check: its runs are reported by pings")
    if editing:
        watch.add_argument("--no-check", dest="check", action="store_false", help="cronui runs it again")
    watch.add_argument("--grace", metavar="DUR", help="a slot with no ping this long after it is missed (default 5m)")
    p.add_argument("--timeout", metavar="S", help="time limit, e.g. 90, 90s, 10m (default 10m)")
    p.add_argument("--retries", metavar="N", help="retries after a failed attempt (default 0)")
    p.add_argument("--retry-delay", metavar="S", help="first retry delay, doubling each time (default 30s)")
    p.add_argument("--overlap", choices=[str(o) for o in OverlapPolicy], help="when the previous run still runs")
    p.add_argument("--queue-limit", metavar="N", help="with --overlap queue: runs waiting at most (default 3)")
    p.add_argument("--misfire", choices=[str(m) for m in MisfirePolicy], help="slots missed while down")
    p.add_argument("--misfire-grace", metavar="S", help="a slot late by less than this still runs (default 5m)")
    p.add_argument("--pool", metavar="NAME", help="concurrency pool (limits in the config's [pools])")
    p.add_argument(
        "--node-label",
        metavar="L",
        help="run only on nodes carrying label L (a node's labels: its config's [node] labels, or --label)",
    )
    p.add_argument("--on-success", action="append", metavar="JOB", help="run JOB after a success")
    p.add_argument(
        "--when",
        metavar="contains:X|regex:X",
        help="fire the on-success chain only when the run's output contains X / matches regex X ('' clears)",
    )
    p.add_argument("--on-failure", action="append", metavar="JOB", help="run JOB after a failure")
    p.add_argument("--tag", action="append", metavar="T", help="a tag (repeatable)")
    p.add_argument("--description", metavar="TEXT")
    if editing:
        p.add_argument("--name", dest="new_name", metavar="NEW", help="rename the job")
        p.add_argument("--enabled", dest="enabled", action="store_const", const=True, help="enable it")
        p.add_argument("--disabled", dest="enabled", action="store_const", const=False, help="disable it")
    else:
        p.add_argument("--disabled", action="store_true", help="create it disabled")
    p.add_argument("--json", action="store_true", help="print the job as JSON")
    add_retry_options(p)
    add_calendar_options(p)
    add_window_options(p)
    add_param_decl_option(p, editing=editing)  # run-time parameters


def _add_approval_options(p: argparse.ArgumentParser, *, editing: bool) -> None:
    g = p.add_argument_group("approval (each new run waits for `cronui runs approve ID`)")
    g.add_argument("--approval", action="store_true", default=None, help="runs wait for a person's approval")
    if editing:
        g.add_argument("--no-approval", dest="approval", action="store_false", help="runs no longer wait")
    g.add_argument(
        "--approval-timeout",
        metavar="DUR",
        help=f"how long a run waits before the default applies (default {duration_spec(DEFAULT_APPROVAL_TIMEOUT_S)})",
    )
    g.add_argument(
        "--approval-default",
        choices=APPROVAL_DEFAULTS,
        help="what a run nobody decided becomes at its timeout (default reject)",
    )
    g.add_argument(
        "--approval-max-waiting",
        metavar="N",
        help=f"runs waiting at most; a new one beyond is skipped (default {DEFAULT_APPROVAL_MAX_WAITING})",
    )


def _apply_approval_options(job: Job, a: argparse.Namespace) -> None:
    if a.approval is not None:
        job.approval = a.approval
    if a.approval_timeout is not None:
        job.approval_timeout_s = parse_duration(
            a.approval_timeout or str(DEFAULT_APPROVAL_TIMEOUT_S), "--approval-timeout", bounds.POSITIVE_DURATION
        )
    if a.approval_default is not None:
        job.approval_default = a.approval_default
    if a.approval_max_waiting is not None:
        job.approval_max_waiting = _whole(
            a.approval_max_waiting or str(DEFAULT_APPROVAL_MAX_WAITING),
            "--approval-max-waiting",
            bounds.APPROVAL_MAX_WAITING,
        )


def _channels(values: list[str]) -> str | None:
    """Repeated `--deliver-to` / `--alert-to`: the channels kept as one value, separated by spaces; an
    empty one clears them."""
    given = [v for v in values if v.strip()]
    return " ".join(given) if given else None


def _names(values: list[str] | None) -> list[str] | None:
    """Repeatable name options; a single empty value clears the list."""
    if values is None:
        return None
    return [v for v in values if v.strip()]


def _whole(text: str, option: str, bound: Whole) -> int:
    try:
        return bound.parse(text)
    except OutOfBounds as e:
        raise JobError(option, str(e)) from None


def _number(text: str, option: str, bound: Number) -> float:
    try:
        return bound.parse(text)
    except OutOfBounds as e:
        raise JobError(option, str(e)) from None


def apply_job_options(job: Job, a: argparse.Namespace, settings: Settings) -> None:
    if a.schedule is not None:
        job.schedule = schedule_text(a.schedule) or ""
    if a.tz is not None:
        job.timezone = a.tz
    if a.shell is not None:
        job.kind = TargetKind.SHELL
        job.target = retarget(job.target, job.kind, command=a.shell)
    if a.cwd is not None:
        if not isinstance(job.target, ShellTarget):
            raise JobError("--cwd: only shell jobs have a working directory")
        job.target.cwd = a.cwd or None
    if a.env is not None:
        if not isinstance(job.target, ShellTarget):
            raise JobError("--env: only shell jobs have environment variables")
        pairs = [e for e in a.env if e]
        job.target.env = {**job.target.env, **parse_env_pairs(pairs)} if pairs else {}
    _apply_http_options(job, a)
    _apply_agent_options(job, a)
    if a.stagger is not None:
        window = parse_duration(a.stagger or "0", "--stagger")
        try:
            job.schedule = stagger(job.schedule, job.name, window)
        except ScheduleError as e:
            raise JobError("stagger", str(e)) from None
    _apply_delivery_options(job, a)
    if a.timeout is not None:
        job.timeout_s = parse_duration(
            a.timeout or str(settings.default_timeout), "--timeout", bounds.POSITIVE_DURATION
        )
    if a.retries is not None:
        job.max_retries = _whole(a.retries or "0", "--retries", bounds.RETRIES)
    if a.retry_delay is not None:
        job.retry_delay_s = parse_duration(a.retry_delay or "30", "--retry-delay")
    if a.overlap is not None:
        job.overlap = OverlapPolicy(a.overlap)
    if a.queue_limit is not None:
        job.queue_limit = _whole(a.queue_limit or "3", "--queue-limit", bounds.QUEUE_LIMIT)
    if a.misfire is not None:
        job.misfire = MisfirePolicy(a.misfire)
    if a.misfire_grace is not None:
        job.misfire_grace_s = parse_duration(a.misfire_grace or str(settings.misfire_grace), "--misfire-grace")
    if a.pool is not None:
        job.pool = a.pool or None
    if a.node_label is not None:
        job.node_label = a.node_label or None
    if (names := _names(a.on_success)) is not None:
        job.on_success = names
    if (names := _names(a.on_failure)) is not None:
        job.on_failure = names
    _apply_when(job, a.when)
    if (names := _names(a.tag)) is not None:
        job.tags = names
    if a.description is not None:
        job.description = a.description
    _apply_approval_options(job, a)
    apply_watch_options(job, a)
    if a.check is not None:
        job.is_check = a.check
    if a.grace is not None:
        job.grace_s = parse_duration(a.grace, "--grace", bounds.POSITIVE_DURATION) if a.grace else None
    apply_retry_options(job, a)
    apply_calendar_options(job, a)
    apply_window_options(job, a)
    apply_param_decls(job, a.param_decl)  # run-time parameters


def _apply_when(job: Job, when: str | None) -> None:
    """`--when` sets the condition of every edge of the job's on-success chain (`''` clears it); an edge
    the chain no longer names loses its options. A job file gives each edge its own."""
    if when is not None:
        if when and (problem := when_problem(when)) is not None:
            raise JobError("--when", problem)
        if when and not job.on_success:
            raise JobError("--when", "the job has no on-success chain to put a condition on (add --on-success JOB)")
        for name in job.on_success:
            job.set_edge("on_success", name, dataclasses.replace(job.edge("on_success", name), when=when or None))
    job.prune_edges()


def _apply_http_options(job: Job, a: argparse.Namespace) -> None:
    if a.http is not None:
        job.kind = TargetKind.HTTP
        job.target = retarget(job.target, job.kind, url=a.http)
    given = [a.method, a.header, a.body, a.expect_status, a.expect_body]
    if all(v is None for v in given):
        return
    t = job.target
    if not isinstance(t, HttpTarget):
        raise JobError("--method/--header/--body/--expect-*: only for --http jobs")
    if a.method is not None:
        t.method = a.method.upper()
    if a.header is not None:
        headers = dict(t.headers)
        for h in a.header:
            if not h:
                headers = {}
                continue
            key, sep, value = h.partition(":")
            if not sep or not key.strip():
                raise JobError(f"--header: expected 'Name: value', got {show(h)}")
            headers[key.strip()] = value.strip(" \t")
        t.headers = headers
    if a.body is not None:
        body = a.body or None
        if body and body.startswith("@"):
            path = Path(body[1:]).expanduser().resolve()
            found = body_files.problem(path)
            if found:
                raise JobError(f"--body: {found}")
            body = f"@{path}"
        t.body = body
    if a.expect_status is not None:
        t.expect_status = _whole(a.expect_status, "--expect-status", bounds.HTTP_STATUS) if a.expect_status else None
    if a.expect_body is not None:
        t.expect_body = a.expect_body or None


def _apply_agent_options(job: Job, a: argparse.Namespace) -> None:
    if a.agent is not None:
        job.kind = TargetKind.AGENT
        job.target = retarget(job.target, job.kind, base_url=a.agent)
    given = [a.model, a.message, a.system, a.api_key_env, a.conversation, a.max_tokens, a.temperature, a.idle_timeout]
    given += [a.fallback, a.gate, a.max_cost, a.daily_budget, a.tools]
    if all(v is None for v in given):
        return
    t = job.target
    if not isinstance(t, AgentTarget):
        raise JobError("--model/--message/--system/...: only for --agent jobs")
    for name in ("model", "message", "conversation"):
        if (value := getattr(a, name)) is not None:
            setattr(t, name, value)
    for name in ("system", "api_key_env"):  # an empty value clears it
        if (value := getattr(a, name)) is not None:
            setattr(t, name, value or None)
    if a.max_tokens is not None:
        t.max_tokens = _whole(a.max_tokens, "--max-tokens", bounds.MAX_TOKENS) if a.max_tokens else None
    if a.temperature is not None:
        t.temperature = _number(a.temperature, "--temperature", bounds.TEMPERATURE) if a.temperature else None
    if a.idle_timeout is not None:
        t.idle_timeout_s = (
            parse_duration(a.idle_timeout, "--idle-timeout", bounds.POSITIVE_DURATION) if a.idle_timeout else None
        )
    if (fallbacks := _names(a.fallback)) is not None:
        t.fallbacks = fallbacks
    if (tools := _names(a.tools)) is not None:
        t.tools = tools
    if a.gate is not None:
        t.gate = a.gate or None
    if a.max_cost is not None:
        t.max_cost_usd = _number(a.max_cost, "--max-cost", bounds.MAX_COST) if a.max_cost else None
    if a.daily_budget is not None:
        t.daily_budget_usd = _number(a.daily_budget, "--daily-budget", bounds.DAILY_BUDGET) if a.daily_budget else None


def _apply_delivery_options(job: Job, a: argparse.Namespace) -> None:
    d = dataclasses.replace(job.delivery)
    if a.deliver_to is not None:
        if d.mode is None:  # no mode chosen yet: a target turns delivery on
            d.mode = "always"
        d.to = _channels(a.deliver_to)
    if a.deliver is not None:
        d.mode = a.deliver
    if a.deliver_format is not None:
        d.format = a.deliver_format
    if a.alert_to is not None:
        d.alert_to = _channels(a.alert_to)
    if a.alert_after is not None:
        d.alert_after = _whole(a.alert_after, "--alert-after", bounds.ALERT_AFTER)
    if a.alert_cooldown is not None:
        d.alert_cooldown_s = parse_duration(a.alert_cooldown, "--alert-cooldown")
    if a.notify_retries is not None:
        d.notify_retries = a.notify_retries or None
    job.delivery = d


# watching: what the job is expected to do; unset is the `[alerts]` default, '' clears back to it
_HELP = {
    "late": "alert `late` when a slot has not started this long after its time",
    "overrun": "alert `overrun` when a run still runs this long after it started (it goes on until --timeout)",
    "short": "alert `short` when a successful run took less than this",
    "no_success": "alert `no_success` when no run succeeded for this long",
}


def add_watch_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("watching (unset: the config's [alerts]; '' clears back to it)")
    for word, _, _ in SPANS:
        g.add_argument(f"--alert-{word.replace('_', '-')}", metavar="DUR", help=_HELP[word])
    g.add_argument(
        "--alert-rate",
        metavar="PCT[/N]",
        help=f"alert `degraded` when under PCT%% of the last N finished runs succeeded (N default {DEFAULT_RATE_RUNS})",
    )
    g.add_argument(
        "--alert-on",
        action="append",
        metavar="KIND",
        help=f"send the job's alerts of these kinds only (repeatable or KIND,KIND; {', '.join(KINDS)})",
    )


def apply_watch_options(job: Job, a: argparse.Namespace) -> None:
    for word, attr, _ in SPANS:
        flag = f"alert-{word.replace('_', '-')}"
        value = getattr(a, flag.replace("-", "_"))
        if value is not None:
            setattr(job, attr, parse_duration(value, f"--{flag}", bounds.POSITIVE_DURATION) if value else None)
    if a.alert_rate is not None:
        if a.alert_rate:
            try:
                job.alert_rate_pct, job.alert_rate_n = parse_rate(a.alert_rate)
            except ValueError as e:
                raise JobError("--alert-rate", str(e)) from None
        else:
            job.alert_rate_pct = job.alert_rate_n = None
    if a.alert_on is not None:
        given = [v for v in a.alert_on if v.strip()]
        try:
            job.alert_on = parse_kinds(",".join(given)) if given else None
        except ValueError as e:
            raise JobError("--alert-on", str(e)) from None
