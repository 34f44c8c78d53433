"""One `[[job]]` table read into a Job, with every problem collected as (key, problem) in file terms."""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cronui import body_files, bounds
from cronui.alert_options import SPANS, parse_kinds, parse_rate
from cronui.bounds import Duration, Number, OutOfBounds, Whole
from cronui.chains import when_problem
from cronui.config import Settings
from cronui.jobfile.entry_rules import read_rules
from cronui.jobfile.params import read_params
from cronui.jobfile.schema import (
    AGENT_KEYS,
    EDGE_KEYS,
    HTTP_KEYS,
    JOB_KEYS,
    KINDS,
    QUEUE_LIMIT,
    RETRIES,
    RETRY_DELAY_S,
    file_key,
)
from cronui.jobfile.windows import read_schedule, read_window
from cronui.jobs import JobError, job_errors, parse_duration
from cronui.jobs_calendars import calendar_problems
from cronui.model import (
    APPROVAL_DEFAULTS,
    DEFAULT_APPROVAL_MAX_WAITING,
    DEFAULT_APPROVAL_TIMEOUT_S,
    REJECT,
    ChainEdge,
    Job,
    MisfirePolicy,
    OverlapPolicy,
    TargetKind,
)
from cronui.schedule import ScheduleError, get_zone
from cronui.schedule.multi import stagger
from cronui.secrets import REF
from cronui.targets import (
    DELIVERY_FORMATS,
    DELIVERY_MODES,
    TARGET_TYPES,
    AgentTarget,
    Delivery,
    HttpTarget,
    ShellTarget,
    Target,
    conversation_problem,
)

_RELATIVE_SCHEDULE = re.compile(r"^\s*in\s", re.IGNORECASE)
_ABSENT = object()
N = TypeVar("N", int, float)  # what a bound's check returns
EDGE_EXAMPLE = 'tables like { job = "publish", when = "contains:READY" }'


def show_short(value: Any) -> str:
    """A value as the user wrote it, shortened: for messages."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


class EntryReader:
    """Reads one `[[job]]` table into a Job, collecting (key, problem) pairs instead of stopping at the first."""

    def __init__(self, entry: Mapping[str, Any], settings: Settings, now_ms: int, base_dir: Path | None) -> None:
        self.entry = entry
        self.settings = settings
        self.now_ms = now_ms
        self.base_dir = base_dir
        self.problems: list[tuple[str, str]] = []
        self.suggested: set[str] = set()

    def fail(self, key: str, problem: str) -> None:
        self.problems.append((key, problem))

    # -- typed getters: each returns None when the key is absent, and None (recording a problem) when
    # its value has the wrong type or is out of range

    def typed(self, table: Mapping[str, Any], key: str, label: str, ok: Callable[[Any], bool], expected: str) -> Any:
        """`table[key]` when `ok` accepts it; `_ABSENT` when there is no such key; else None, and a problem."""
        if key not in table:
            return _ABSENT
        value = table[key]
        if not ok(value):
            self.fail(label, f"expected {expected}, got {show_short(value)}")
            return None
        return value

    def text(self, table: Mapping[str, Any], key: str, label: str, *, required: bool = False) -> str | None:
        value = self.typed(table, key, label, lambda v: isinstance(v, str), "a string")
        if value is _ABSENT:
            if required and label not in self.suggested:  # a misspelling of it was reported already
                self.fail(label, "missing (required)")
            return None
        if value is not None and required and not value.strip():
            self.fail(label, "must not be empty")
            return None
        return value

    def integer(self, table: Mapping[str, Any], key: str, label: str, bound: Whole) -> int | None:
        return self.within(self.typed(table, key, label, _is_int, "a whole number"), label, bound.check)

    def number(self, table: Mapping[str, Any], key: str, label: str, bound: Number) -> float | None:
        return self.within(self.typed(table, key, label, _is_number, "a number"), label, bound.check)

    def within(self, value: Any, label: str, check: Callable[[Any], N]) -> N | None:
        """A value `typed` returned, passed through its bound's `check`; None when it is absent or of the
        wrong type, and None (recording a problem) when it is out of range."""
        if value is _ABSENT or value is None:
            return None
        try:
            return check(value)
        except OutOfBounds as e:
            self.fail(label, str(e))
            return None

    def boolean(self, table: Mapping[str, Any], key: str, label: str) -> bool | None:
        value = self.typed(table, key, label, lambda v: isinstance(v, bool), "true or false")
        return None if value is _ABSENT else value

    def duration(
        self, table: Mapping[str, Any], key: str, label: str, bound: Duration = bounds.DURATION
    ) -> float | None:
        expected = "a duration like 30s, 10m or 2h (or seconds)"
        value = self.typed(
            table, key, label, lambda v: isinstance(v, str | int | float) and not isinstance(v, bool), expected
        )
        if value is _ABSENT or value is None:
            return None
        try:
            return parse_duration(value, label, bound)
        except JobError as e:
            self.fail(label, e.problem)
            return None

    def choice(self, table: Mapping[str, Any], key: str, label: str, choices: Sequence[str]) -> str | None:
        value = self.text(table, key, label)
        if value is not None and value not in choices:
            self.fail(label, f"expected one of {', '.join(choices)}, got {value!r}")
            return None
        return value

    def names(self, table: Mapping[str, Any], key: str, label: str) -> list[str] | None:
        """A list of strings; a single string is read as a list of one (`on_success = "cleanup"`)."""
        value = self.typed(table, key, label, _is_names, 'a list of strings like ["a", "b"]')
        if value is _ABSENT or value is None:
            return None
        return [value] if isinstance(value, str) else list(value)

    def chain(self, table: Mapping[str, Any], key: str) -> tuple[list[str], dict[str, ChainEdge]]:
        """A chain: job names, each plain (`"publish"`) or a table carrying the edge's options
        (`{ job = "publish", when = "contains:READY" }`); a single name or table is a list of one.
        Returns the names and the options of the edges that have any."""
        value = table.get(key, [])
        if isinstance(value, str | dict):
            value = [value]
        if not isinstance(value, list):
            self.fail(key, f"expected a list of job names or {EDGE_EXAMPLE}, got {show_short(value)}")
            return [], {}
        names: list[str] = []
        options: dict[str, ChainEdge] = {}
        for i, item in enumerate(value, 1):
            label = f"{key}[{i}]"
            if isinstance(item, str):
                names.append(item)
                continue
            if not isinstance(item, dict):
                self.fail(label, f"expected a job name or {EDGE_EXAMPLE}, got {show_short(item)}")
                continue
            self.unknown(item, EDGE_KEYS, f"{label}.")
            name = self.text(item, "job", f"{label}.job", required=True)
            when = self.text(item, "when", f"{label}.when")
            if when is not None and (problem := when_problem(when)) is not None:
                self.fail(f"{label}.when", problem)
            approval = self.boolean(item, "approval", f"{label}.approval")
            if name:
                names.append(name)
                edge = ChainEdge(when=when, approval=approval is True)
                if not edge.is_plain:
                    options[name] = edge
        return names, options

    def str_table(self, table: Mapping[str, Any], key: str, label: str) -> dict[str, str] | None:
        value = self.typed(table, key, label, lambda v: isinstance(v, dict), 'a table like { NAME = "value" }')
        if value is _ABSENT or value is None:
            return None
        bad = [k for k, v in value.items() if not isinstance(v, str)]
        if bad:
            self.fail(f"{label}.{bad[0]}", f"expected a string, got {show_short(value[bad[0]])}")
            return None
        return dict(value)

    def unknown(self, table: Mapping[str, Any], known: Iterable[str], prefix: str = "") -> None:
        known = list(known)
        for key in table:
            if key == "owner" and not prefix:  # shown by `jobs show` and the API, but set by no file
                self.fail("owner", "not a job-file key: a job's owner is the caller that created it, and stays so")
                continue
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                if close:
                    self.suggested.add(f"{prefix}{close[0]}")
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
                self.fail(f"{prefix}{key}", f"unknown key{hint}")

    # -- the job

    def read(self, source: str) -> Job | None:
        e = self.entry
        edges: dict[str, dict[str, ChainEdge]] = {}
        self.unknown(e, JOB_KEYS)
        name = self.text(e, "name", "name", required=True)
        schedule = read_schedule(self, e)  # a string, or a list of several
        window = self.duration(e, "stagger", "stagger")
        if window is not None and schedule is not None and name:
            try:
                schedule = stagger(schedule, name, window)  # the offset is written into the schedule
            except ScheduleError as err:
                self.fail("stagger", str(err))
        timezone = self.text(e, "timezone", "timezone")
        if timezone is not None:
            try:
                get_zone(timezone)
            except ScheduleError as err:
                self.fail("timezone", str(err))
        kinds = [k for k in KINDS if k in e]
        check = _default(self.boolean(e, "check", "check"), False)
        if check and not kinds:  # a check runs nothing; `shell` may name the command it watches
            kinds = ["shell"]
        if not kinds:
            self.fail("shell", "say what the job runs: one of shell, http or agent")
        elif len(kinds) > 1:
            self.fail(kinds[1], f"a job runs one thing: {' and '.join(kinds)} are both given; keep one")
        kind = TargetKind(kinds[0]) if len(kinds) == 1 else None
        if kind is not TargetKind.SHELL:
            for key in ("cwd", "env"):
                if key in e and kind is not None:
                    self.fail(key, f"only shell jobs have {'a working directory' if key == 'cwd' else 'env'}")
        target = self.target(kind) if kind is not None else None
        job_kind = kind or TargetKind.SHELL
        on_success, edges["on_success"] = self.chain(e, "on_success")
        on_failure, edges["on_failure"] = self.chain(e, "on_failure")
        job = Job(
            name=name or "",
            schedule=schedule or "",
            timezone=timezone if timezone is not None else self.settings.timezone,
            kind=job_kind,
            target=target if target is not None else TARGET_TYPES[job_kind](),  # a problem was recorded
            description=self.text(e, "description", "description") or "",
            enabled=_default(self.boolean(e, "enabled", "enabled"), True),
            timeout_s=_default(
                self.duration(e, "timeout", "timeout", bounds.POSITIVE_DURATION), self.settings.default_timeout
            ),
            max_retries=_default(self.integer(e, "retries", "retries", bounds.RETRIES), RETRIES),
            retry_delay_s=_default(self.duration(e, "retry_delay", "retry_delay"), RETRY_DELAY_S),
            overlap=OverlapPolicy(self.choice(e, "overlap", "overlap", [str(o) for o in OverlapPolicy]) or "skip"),
            queue_limit=_default(self.integer(e, "queue_limit", "queue_limit", bounds.QUEUE_LIMIT), QUEUE_LIMIT),
            misfire=MisfirePolicy(self.choice(e, "misfire", "misfire", [str(m) for m in MisfirePolicy]) or "run_once"),
            misfire_grace_s=_default(self.duration(e, "misfire_grace", "misfire_grace"), self.settings.misfire_grace),
            pool=self.text(e, "pool", "pool") or None,
            node_label=self.text(e, "node_label", "node_label") or None,
            on_success=on_success,
            on_failure=on_failure,
            chain_options={c: options for c, options in edges.items() if options},
            tags=self.names(e, "tags", "tags") or [],
            delivery=self.delivery(),
            source=source,
        )
        self.approval(job)
        self.watch(job)
        read_rules(e, job, self.fail)  # retry_on_exit, no_retry_on_exit, retry_on_status
        job.is_check = check
        job.grace_s = self.duration(e, "grace", "grace", bounds.POSITIVE_DURATION)
        job.skip_calendar = self.names(e, "skip_calendar", "skip_calendar") or []
        job.only_calendar = self.names(e, "only_calendar", "only_calendar") or []
        read_window(self, e, job)
        job.params = read_params(self)  # `[job.params]`
        if schedule is not None and _RELATIVE_SCHEDULE.match(schedule):
            self.fail("schedule", f"{schedule!r} counts from when the file is applied; write 'at YYYY-MM-DDTHH:MM'")
        # a bad zone is no reason to hold back the job's other problems: the rules check the rest without it
        if any(key != "timezone" for key, _ in self.problems):
            return None
        said = {key for key, _ in self.problems}
        for problem in [
            *job_errors(job, self.now_ms, self.settings.pools),
            *calendar_problems(job, self.settings.calendars),
        ]:
            if file_key(problem.field) not in said:
                self.fail(file_key(problem.field), problem.problem)
        return None if self.problems else job

    def watch(self, job: Job) -> None:
        """What the job is expected to do and which kinds of its alerts are sent (absent: `[alerts]`)."""
        e = self.entry
        for word, attr, _ in SPANS:
            setattr(job, attr, self.duration(e, f"alert_{word}", f"alert_{word}", bounds.POSITIVE_DURATION))
        rate = self.typed(e, "alert_rate", "alert_rate", _is_number_or_text, 'PCT or "PCT/N" like "90/20"')
        if rate is not _ABSENT and rate is not None:
            try:
                job.alert_rate_pct, job.alert_rate_n = parse_rate(rate)
            except ValueError as err:
                self.fail("alert_rate", str(err))
        on = self.names(e, "alert_on", "alert_on")
        if on is not None:
            try:
                job.alert_on = parse_kinds(on)
            except ValueError as err:
                self.fail("alert_on", str(err))

    def channels(self, table: Mapping[str, Any], key: str) -> str | None:
        """`deliver_to` / `alert_to`: one channel URL or a list of them (kept as one value, space-separated)."""
        value = self.typed(table, key, key, _is_names, 'a URL or a list of URLs like ["mailto://...", "https://..."]')
        if value is _ABSENT or value is None:
            return None
        return value if isinstance(value, str) else " ".join(value) or None

    def approval(self, job: Job) -> None:
        """The approval keys (absent: the built-in defaults, no approval)."""
        e = self.entry
        job.approval = _default(self.boolean(e, "approval", "approval"), False)
        job.approval_timeout_s = _default(
            self.duration(e, "approval_timeout", "approval_timeout", bounds.POSITIVE_DURATION),
            DEFAULT_APPROVAL_TIMEOUT_S,
        )
        job.approval_default = self.choice(e, "approval_default", "approval_default", APPROVAL_DEFAULTS) or REJECT
        job.approval_max_waiting = _default(
            self.integer(e, "approval_max_waiting", "approval_max_waiting", bounds.APPROVAL_MAX_WAITING),
            DEFAULT_APPROVAL_MAX_WAITING,
        )

    def target(self, kind: TargetKind) -> Target | None:
        e = self.entry
        if kind is TargetKind.SHELL:
            command = self.text(e, "shell", "shell", required="check" not in e)
            cwd = self.text(e, "cwd", "cwd")
            env = self.str_table(e, "env", "env")
            return ShellTarget(command=command or "", cwd=cwd or None, env=env or {})
        label = str(kind)
        table = e[label]
        if not isinstance(table, dict):
            example = 'http = { url = "https://..." }' if kind is TargetKind.HTTP else 'agent = { base_url = "..." }'
            self.fail(label, f"expected a table like {example}, got {show_short(table)}")
            return None
        if kind is TargetKind.HTTP:
            self.unknown(table, HTTP_KEYS, "http.")
            body = self.text(table, "body", "http.body")
            if body and body.startswith("@") and self.base_dir is not None:
                path = (self.base_dir / Path(body[1:]).expanduser()).resolve()
                found = body_files.problem(path)
                if found:
                    where = " (an @FILE body is relative to the job file)" if found.startswith("no file") else ""
                    self.fail("http.body", found + where)
                body = f"@{path}"
            method = self.text(table, "method", "http.method")
            return HttpTarget(
                url=self.text(table, "url", "http.url", required=True) or "",
                method=(method or HttpTarget.method).upper(),
                headers=self.str_table(table, "headers", "http.headers") or {},
                body=body,
                expect_status=self.integer(table, "expect_status", "http.expect_status", bounds.HTTP_STATUS),
                expect_body=self.text(table, "expect_body", "http.expect_body"),
            )
        self.unknown(table, AGENT_KEYS, "agent.")
        extra = table.get("extra", {})
        if not isinstance(extra, dict):
            self.fail("agent.extra", f"expected a table of request fields, got {show_short(extra)}")
            extra = {}
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError):  # TOML dates and times have no JSON form; nan and inf neither
            why = "holds a date, time, nan or inf, which a JSON request cannot carry; write it as a string"
            self.fail("agent.extra", why)
            extra = {}
        api_key_env = self.text(table, "api_key_env", "agent.api_key_env")
        if api_key_env is not None and REF.fullmatch(api_key_env):
            self.fail("agent.api_key_env", "give the variable's name (OPENAI_API_KEY), not ${env:...}")
        conversation = self.text(table, "conversation", "agent.conversation")
        if conversation is not None and (problem := conversation_problem(conversation)) is not None:
            self.fail("agent.conversation", problem)
            conversation = None
        return AgentTarget(
            base_url=self.text(table, "base_url", "agent.base_url", required=True) or "",
            model=self.text(table, "model", "agent.model", required=True) or "",
            message=self.text(table, "message", "agent.message", required=True) or "",
            system=self.text(table, "system", "agent.system"),
            api_key_env=api_key_env,
            conversation=conversation or AgentTarget.conversation,
            max_tokens=self.integer(table, "max_tokens", "agent.max_tokens", bounds.MAX_TOKENS),
            temperature=self.number(table, "temperature", "agent.temperature", bounds.TEMPERATURE),
            headers=self.str_table(table, "headers", "agent.headers") or {},
            extra=copy.deepcopy(extra),
            idle_timeout_s=self.duration(table, "idle_timeout", "agent.idle_timeout", bounds.POSITIVE_DURATION),
            stream=self.boolean(table, "stream", "agent.stream"),
            keep_turns=self.integer(table, "keep_turns", "agent.keep_turns", bounds.KEEP_TURNS),
            fallbacks=self.names(table, "fallbacks", "agent.fallbacks") or [],
            tools=self.names(table, "tools", "agent.tools") or [],
            gate=self.text(table, "gate", "agent.gate"),
            max_cost_usd=self.number(table, "max_cost", "agent.max_cost", bounds.MAX_COST),
            daily_budget_usd=self.number(table, "daily_budget", "agent.daily_budget", bounds.DAILY_BUDGET),
        )

    def delivery(self) -> Delivery:
        e = self.entry
        mode = self.choice(e, "deliver", "deliver", DELIVERY_MODES)
        to = self.channels(e, "deliver_to")
        fmt = self.choice(e, "deliver_format", "deliver_format", DELIVERY_FORMATS)
        alert_to = self.channels(e, "alert_to")
        after = self.integer(e, "alert_after", "alert_after", bounds.ALERT_AFTER)
        cooldown = self.duration(e, "alert_cooldown", "alert_cooldown")
        notify_retries = self.boolean(e, "notify_retries", "notify_retries")
        if not to and not alert_to:
            if mode in ("always", "on_failure"):
                self.fail("deliver_to", f"deliver = {mode!r} needs a deliver_to URL (or ${{env:NAME}})")
            for key in ("deliver_format", "alert_after", "alert_cooldown", "notify_retries"):
                if key in e:
                    self.fail(key, "has no effect without deliver_to or alert_to")
            return Delivery()
        return Delivery(
            mode=mode or ("always" if to else "never"),
            to=to,
            format=fmt or Delivery.format,
            alert_to=alert_to,
            alert_after=after,
            alert_cooldown_s=cooldown,
            notify_retries=notify_retries or None,
        )


def _is_number_or_text(value: Any) -> bool:
    return isinstance(value, str) or _is_number(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_names(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
