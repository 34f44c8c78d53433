"""Job files: `[[job]]` tables in TOML (or the same shape in JSON) that declare jobs as code.

One file is read into Jobs with the same rules as the CLI (`jobs.validate`), compared with what the
store holds, and the difference is applied in one transaction through `Control.apply`. The comparison
works on a *view* of a job in file terms (the keys a file may write, with every default filled in), so
a job saved by the CLI with a sparse target and the same job read from a file compare equal, and the
second apply of a file finds nothing to do. `export` writes the same view back, leaving out what
equals a built-in default, so export -> apply reproduces the state.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from cronui.config import Settings
from cronui.jobs import JobError, find_cycle, parse_duration, validate
from cronui.model import Job, MisfirePolicy, OverlapPolicy, TargetKind
from cronui.schedule import ScheduleError, get_zone, parse
from cronui.secrets import MASK, REF
from cronui.timefmt import duration_spec

SOURCE_PREFIX = "file:"
MAX_REPORTED = 25  # errors printed for one file; the rest are counted

KINDS = ("shell", "http", "agent")
DELIVERY_MODES = ("never", "on_failure", "always")
DELIVERY_FORMATS = ("slack", "discord", "json")
CONVERSATIONS = ("isolated", "persistent")

# Built-in defaults the engine applies when a key is absent. A file that leaves a key out gets these,
# and `export` leaves a key out when it equals one. (timezone, timeout and misfire_grace default to
# per-machine settings instead, so export always writes them.)
RETRIES = 0
RETRY_DELAY_S = 30.0
QUEUE_LIMIT = 3
DELIVERY_FORMAT = "json"
ALERT_AFTER = 2
ALERT_COOLDOWN_S = 3600.0

# The keys of each target table: file key -> (target key, default). A None default means "not set".
HTTP_KEYS: dict[str, tuple[str, Any]] = {
    "url": ("url", None),
    "method": ("method", "GET"),
    "headers": ("headers", {}),
    "body": ("body", None),
    "expect_status": ("expect_status", None),
    "expect_body": ("expect_body", None),
}
AGENT_KEYS: dict[str, tuple[str, Any]] = {
    "base_url": ("base_url", None),
    "model": ("model", None),
    "message": ("message", None),
    "system": ("system", None),
    "api_key_env": ("api_key_env", None),
    "conversation": ("conversation", "isolated"),
    "max_tokens": ("max_tokens", None),
    "temperature": ("temperature", None),
    "headers": ("headers", {}),
    "extra": ("extra", {}),
    "idle_timeout": ("idle_timeout_s", None),
    "stream": ("stream", True),
    "keep_turns": ("keep_turns", None),
}
SHELL_KEYS: dict[str, tuple[str, Any]] = {"shell": ("command", None), "cwd": ("cwd", None), "env": ("env", {})}
DELIVERY_KEYS: dict[str, tuple[str, Any]] = {
    "deliver": ("mode", None),  # filled in by _delivery_view: "always" with a target, else "never"
    "deliver_to": ("to", None),
    "deliver_format": ("format", DELIVERY_FORMAT),
    "alert_to": ("alert_to", None),
    "alert_after": ("alert_after", ALERT_AFTER),
    "alert_cooldown": ("alert_cooldown_s", ALERT_COOLDOWN_S),
}

JOB_KEYS = (
    "name",
    "description",
    "schedule",
    "timezone",
    "enabled",
    "shell",
    "cwd",
    "env",
    "http",
    "agent",
    "timeout",
    "retries",
    "retry_delay",
    "overlap",
    "queue_limit",
    "misfire",
    "misfire_grace",
    "pool",
    "on_success",
    "on_failure",
    "tags",
    *DELIVERY_KEYS,
)
DURATION_KEYS = frozenset({"timeout", "retry_delay", "misfire_grace", "alert_cooldown", "agent.idle_timeout"})
# Keys a view holds that equal these are left out of an export.
_EXPORT_DEFAULTS: dict[str, Any] = {
    "description": "",
    "enabled": True,
    "retries": RETRIES,
    "retry_delay": RETRY_DELAY_S,
    "overlap": str(OverlapPolicy.SKIP),
    "queue_limit": QUEUE_LIMIT,
    "misfire": str(MisfirePolicy.RUN_ONCE),
    "deliver_format": DELIVERY_FORMAT,
    "alert_after": ALERT_AFTER,
    "alert_cooldown": ALERT_COOLDOWN_S,
    "http.method": "GET",
    "agent.conversation": "isolated",
    "agent.stream": True,
}
# CLI option names that jobs.validate puts in its messages -> the file's key.
_OPTION_TO_KEY = {
    "retry-delay": "retry_delay",
    "queue-limit": "queue_limit",
    "misfire-grace": "misfire_grace",
    "tag": "tags",
    "on-success": "on_success",
    "on-failure": "on_failure",
    "http": "http.url",
    "method": "http.method",
    "header": "http.headers",
    "expect-status": "http.expect_status",
    "agent": "agent.base_url",
    "model": "agent.model",
    "message": "agent.message",
    "api-key-env": "agent.api_key_env",
    "conversation": "agent.conversation",
    "max-tokens": "agent.max_tokens",
    "deliver-to": "deliver_to",
    "deliver-format": "deliver_format",
    "alert-to": "alert_to",
    "alert-after": "alert_after",
}
_SENSITIVE_NAME = re.compile(r"auth|token|key|secret|cookie|passw|credential", re.IGNORECASE)
_URL_PATH = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#]+)(.*)$", re.IGNORECASE)
_RELATIVE_SCHEDULE = re.compile(r"^\s*in\s", re.IGNORECASE)


class JobFileError(ValueError):
    """A job file cannot be applied. `problems` holds one line per problem, each naming the file,
    the job and the key, so a user can fix them all in one pass instead of one per run."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{self.problems[0]}{more}" if self.problems else "invalid job file")


@dataclass
class FileJob:
    """One `[[job]]` table, read and validated."""

    job: Job
    index: int  # 1-based position in the file
    line: int | None  # the line of its `[[job]]` header, when known
    explicit: frozenset[str]  # the keys the file wrote (a missing `enabled` leaves the state alone)


@dataclass
class JobFile:
    display: str  # the path as the user gave it, for messages
    source: str  # "file:" + the absolute path, recorded on every job applied from it
    jobs: list[FileJob]
    now_ms: int = 0  # when it was read: one-shot schedules are judged against it


@dataclass
class Change:
    key: str  # the file's key, dotted for nested tables: "http.headers.Accept"
    old: Any
    new: Any
    note: str = ""


@dataclass
class Update:
    job: Job  # the job as it will be saved
    changes: list[Change]
    adopted_from: str | None = None  # the previous source, when the file takes over a job made elsewhere


@dataclass
class Plan:
    display: str
    creates: list[Job] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    removes: list[Job] = field(default_factory=list)
    stale: list[Job] = field(default_factory=list)  # applied from this file earlier, gone from it, not pruned
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.removes)


# ---------------------------------------------------------------- reading a file


def source_for(path: str | os.PathLike[str]) -> str:
    """`file:` + the absolute path, not the resolved one: a deploy that swaps a `current` symlink keeps
    its jobs' source stable, so --prune still recognizes them."""
    return SOURCE_PREFIX + os.path.abspath(path)


def read_jobfile(path: str, settings: Settings, now_ms: int) -> JobFile:
    """Read, parse and validate a job file (`.json` as JSON, anything else as TOML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JobFileError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise JobFileError([f"{path}: cannot read it: {e}"]) from None
    data, headers = parse_text(text, path, as_json=p.suffix.lower() == ".json")
    jobs = load_entries(data, path, settings, now_ms, text=text, headers=headers, base_dir=p.parent)
    return JobFile(display=path, source=source_for(path), jobs=jobs, now_ms=now_ms)


def parse_text(text: str, display: str, *, as_json: bool = False) -> tuple[dict[str, Any], list[int] | None]:
    """The parsed document and the line of each `[[job]]` header (None when they cannot be told)."""
    if as_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise JobFileError([f"{display}:{e.lineno}: invalid JSON: {e.msg}"]) from None
        if not isinstance(data, dict):
            raise JobFileError([f'{display}: expected an object like {{"job": [...]}}'])
        return data, None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)$", msg)
        if m:
            raise JobFileError(
                [f"{display}:{m[1]}: invalid TOML: {msg[: m.start()].strip()} (column {m[2]})"]
            ) from None
        raise JobFileError([f"{display}: invalid TOML: {msg}"]) from None
    return data, _job_header_lines(text)


_HEADER_RE = re.compile(r"^\s*\[\[\s*job\s*\]\]\s*(#.*)?$")


def _job_header_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), start=1) if _HEADER_RE.match(line)]


def _field_line(lines: list[str], start: int, end: int, key: str) -> int | None:
    """The line (1-based) within [start, end) where `key` ("http.url") is written, best effort: tomllib
    keeps no positions, and a message with a line number is worth a cheap textual search."""
    parts = key.split(".")
    found: int | None = None
    first = re.compile(rf"^\s*(\[\s*job\.)?{re.escape(parts[0])}\b\s*[=.\]]")
    for i in range(start, min(end, len(lines))):
        if first.search(lines[i]):
            found = i
            break
    if found is None:
        return None
    if len(parts) > 1:
        sub = re.compile(rf"(^|[\s{{,]){re.escape(parts[1])}\s*=")
        for i in range(found, min(end, len(lines))):
            if sub.search(lines[i]):
                return i + 1
    return found + 1


def load_entries(
    data: Mapping[str, Any],
    display: str,
    settings: Settings,
    now_ms: int,
    *,
    text: str = "",
    headers: list[int] | None = None,
    base_dir: Path | None = None,
    source: str | None = None,
) -> list[FileJob]:
    """Validate every `[[job]]` table; raise JobFileError listing every problem, or return the jobs."""
    problems: list[str] = []
    for key in data:
        if key != "job":
            problems.append(f"{display}: unknown top-level key {key!r} (a job file holds [[job]] tables)")
    entries = data.get("job", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise JobFileError([*problems, f"{display}: 'job' must be an array of tables: write each job as [[job]]"])
    if headers is not None and len(headers) != len(entries):
        headers = None  # e.g. `[[job]]` inside a multi-line string: no line numbers rather than wrong ones
    lines = text.splitlines()
    src = source or (source_for(display) if display not in ("-", "") else "file:-")
    out: list[FileJob] = []
    seen: dict[str, FileJob] = {}
    for i, entry in enumerate(entries):
        line = headers[i] if headers else None
        end = headers[i + 1] - 1 if headers and i + 1 < len(headers) else len(lines)
        reader = _EntryReader(entry, settings, now_ms, base_dir)
        job = reader.read(src)
        name = entry.get("name") if isinstance(entry.get("name"), str) else None
        who = f"job {name!r}" if name else f"job #{i + 1}"
        for key, problem in reader.problems:
            where = (_field_line(lines, line - 1, end, key) or line) if line else None
            problems.append(
                f"{display}:{where}: {who}: {key}: {problem}" if where else f"{display}: {who}: {key}: {problem}"
            )
        if job is None:
            continue
        fj = FileJob(job=job, index=i + 1, line=line, explicit=frozenset(entry))
        if job.name in seen:
            first = seen[job.name]
            both = f" (lines {first.line} and {line})" if first.line and line else ""
            problems.append(f"{_where(display, fj)}: job {job.name!r}: name: declared twice in the file{both}")
            continue
        seen[job.name] = fj
        out.append(fj)
    if problems:
        raise JobFileError(problems)
    return out


def _where(display: str, fj: FileJob) -> str:
    return f"{display}:{fj.line}" if fj.line else display


class _EntryReader:
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

    # -- typed getters: each returns None (and records a problem) when the value has the wrong type

    def text(self, table: Mapping[str, Any], key: str, label: str, *, required: bool = False) -> str | None:
        if key not in table:
            if required and label not in self.suggested:  # a misspelling of it was reported already
                self.fail(label, "missing (required)")
            return None
        value = table[key]
        if not isinstance(value, str):
            self.fail(label, f"expected a string, got {_show(value)}")
            return None
        if required and not value.strip():
            self.fail(label, "must not be empty")
            return None
        return value

    def integer(self, table: Mapping[str, Any], key: str, label: str, lo: int, hi: int) -> int | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(label, f"expected a whole number, got {_show(value)}")
            return None
        if not lo <= value <= hi:
            self.fail(label, f"expected {lo} to {hi}, got {value}")
            return None
        return value

    def number(self, table: Mapping[str, Any], key: str, label: str) -> float | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(label, f"expected a number, got {_show(value)}")
            return None
        return float(value)

    def boolean(self, table: Mapping[str, Any], key: str, label: str) -> bool | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, bool):
            self.fail(label, f"expected true or false, got {_show(value)}")
            return None
        return value

    def duration(self, table: Mapping[str, Any], key: str, label: str) -> float | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.fail(label, f"expected a duration like 30s, 10m or 2h (or seconds), got {_show(value)}")
            return None
        try:
            seconds = parse_duration(value, label)
        except JobError as e:
            self.fail(label, str(e).removeprefix(f"{label}: "))
            return None
        if not math.isfinite(seconds):
            self.fail(label, f"expected a finite duration, got {_show(value)}")
            return None
        return seconds

    def choice(self, table: Mapping[str, Any], key: str, label: str, choices: Sequence[str]) -> str | None:
        value = self.text(table, key, label)
        if value is not None and value not in choices:
            self.fail(label, f"expected one of {', '.join(choices)}, got {value!r}")
            return None
        return value

    def names(self, table: Mapping[str, Any], key: str, label: str) -> list[str] | None:
        """A list of strings; a single string is read as a list of one (`on_success = "cleanup"`)."""
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(label, f'expected a list of strings like ["a", "b"], got {_show(value)}')
            return None
        return list(value)

    def str_table(self, table: Mapping[str, Any], key: str, label: str) -> dict[str, str] | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, dict):
            self.fail(label, f'expected a table like {{ NAME = "value" }}, got {_show(value)}')
            return None
        bad = [k for k, v in value.items() if not isinstance(v, str)]
        if bad:
            self.fail(f"{label}.{bad[0]}", f"expected a string, got {_show(value[bad[0]])}")
            return None
        return dict(value)

    def unknown(self, table: Mapping[str, Any], known: Iterable[str], prefix: str = "") -> None:
        known = list(known)
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                if close:
                    self.suggested.add(f"{prefix}{close[0]}")
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
                self.fail(f"{prefix}{key}", f"unknown key{hint}")

    # -- the job

    def read(self, source: str) -> Job | None:
        e = self.entry
        self.unknown(e, JOB_KEYS)
        name = self.text(e, "name", "name", required=True)
        schedule = self.text(e, "schedule", "schedule", required=True)
        timezone = self.text(e, "timezone", "timezone")
        if timezone is not None:
            try:
                get_zone(timezone)
            except ScheduleError as err:
                self.fail("timezone", str(err))
        kinds = [k for k in KINDS if k in e]
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
        job = Job(
            name=name or "",
            schedule=schedule or "",
            timezone=timezone if timezone is not None else self.settings.timezone,
            kind=kind or TargetKind.SHELL,
            target=target or {},
            description=self.text(e, "description", "description") or "",
            enabled=_default(self.boolean(e, "enabled", "enabled"), True),
            timeout_s=_default(self.duration(e, "timeout", "timeout"), self.settings.default_timeout),
            max_retries=_default(self.integer(e, "retries", "retries", 0, 100), RETRIES),
            retry_delay_s=_default(self.duration(e, "retry_delay", "retry_delay"), RETRY_DELAY_S),
            overlap=OverlapPolicy(self.choice(e, "overlap", "overlap", [str(o) for o in OverlapPolicy]) or "skip"),
            queue_limit=_default(self.integer(e, "queue_limit", "queue_limit", 1, 10_000), QUEUE_LIMIT),
            misfire=MisfirePolicy(self.choice(e, "misfire", "misfire", [str(m) for m in MisfirePolicy]) or "run_once"),
            misfire_grace_s=_default(self.duration(e, "misfire_grace", "misfire_grace"), self.settings.misfire_grace),
            pool=self.text(e, "pool", "pool") or None,
            on_success=self.names(e, "on_success", "on_success") or [],
            on_failure=self.names(e, "on_failure", "on_failure") or [],
            tags=self.names(e, "tags", "tags") or [],
            delivery=self.delivery(),
            source=source,
        )
        if schedule is not None and _RELATIVE_SCHEDULE.match(schedule):
            self.fail("schedule", f"{schedule!r} counts from when the file is applied; write 'at YYYY-MM-DDTHH:MM'")
        if self.problems:
            return None
        try:
            validate(job, self.now_ms, self.settings.pools)
        except JobError as err:
            key, problem = _split_job_error(str(err))
            self.fail(key, problem)
            return None
        return job

    def target(self, kind: TargetKind) -> dict[str, Any] | None:
        e = self.entry
        if kind is TargetKind.SHELL:
            command = self.text(e, "shell", "shell", required=True)
            cwd = self.text(e, "cwd", "cwd")
            env = self.str_table(e, "env", "env")
            return {"command": command, "cwd": cwd or None, "env": env or {}}
        label = str(kind)
        table = e[label]
        if not isinstance(table, dict):
            example = 'http = { url = "https://..." }' if kind is TargetKind.HTTP else 'agent = { base_url = "..." }'
            self.fail(label, f"expected a table like {example}, got {_show(table)}")
            return None
        if kind is TargetKind.HTTP:
            self.unknown(table, HTTP_KEYS, "http.")
            body = self.text(table, "body", "http.body")
            if body and body.startswith("@") and self.base_dir is not None:
                path = (self.base_dir / Path(body[1:]).expanduser()).resolve()
                if not path.is_file():
                    self.fail("http.body", f"no file {path} (an @FILE body is relative to the job file)")
                body = f"@{path}"
            method = self.text(table, "method", "http.method")
            return {
                "url": self.text(table, "url", "http.url", required=True),
                "method": (method or "GET").upper(),
                "headers": self.str_table(table, "headers", "http.headers") or {},
                "body": body,
                "expect_status": self.integer(table, "expect_status", "http.expect_status", 100, 599),
                "expect_body": self.text(table, "expect_body", "http.expect_body"),
            }
        self.unknown(table, AGENT_KEYS, "agent.")
        extra = table.get("extra", {})
        if not isinstance(extra, dict):
            self.fail("agent.extra", f"expected a table of request fields, got {_show(extra)}")
            extra = {}
        try:
            json.dumps(extra)
        except (TypeError, ValueError):  # TOML dates and times have no JSON form
            self.fail("agent.extra", "holds a date or time, which a JSON request cannot carry; write it as a string")
            extra = {}
        api_key_env = self.text(table, "api_key_env", "agent.api_key_env")
        if api_key_env is not None and REF.fullmatch(api_key_env):
            self.fail("agent.api_key_env", "give the variable's name (OPENAI_API_KEY), not ${env:...}")
        target: dict[str, Any] = {
            "base_url": self.text(table, "base_url", "agent.base_url", required=True),
            "model": self.text(table, "model", "agent.model", required=True),
            "message": self.text(table, "message", "agent.message", required=True),
            "system": self.text(table, "system", "agent.system"),
            "api_key_env": api_key_env,
            "conversation": self.choice(table, "conversation", "agent.conversation", CONVERSATIONS) or "isolated",
            "max_tokens": self.integer(table, "max_tokens", "agent.max_tokens", 1, 10_000_000),
            "temperature": self.number(table, "temperature", "agent.temperature"),
            "headers": self.str_table(table, "headers", "agent.headers") or {},
            "extra": copy.deepcopy(extra),
        }
        # keys beyond the model's core set are stored only when the file sets them
        idle = self.duration(table, "idle_timeout", "agent.idle_timeout")
        if idle is not None:
            target["idle_timeout_s"] = idle
        stream = self.boolean(table, "stream", "agent.stream")
        if stream is not None:
            target["stream"] = stream
        keep = self.integer(table, "keep_turns", "agent.keep_turns", 1, 10_000)
        if keep is not None:
            target["keep_turns"] = keep
        return target

    def delivery(self) -> dict[str, Any]:
        e = self.entry
        mode = self.choice(e, "deliver", "deliver", DELIVERY_MODES)
        to = self.text(e, "deliver_to", "deliver_to")
        fmt = self.choice(e, "deliver_format", "deliver_format", DELIVERY_FORMATS)
        alert_to = self.text(e, "alert_to", "alert_to")
        after = self.integer(e, "alert_after", "alert_after", 1, 10_000)
        cooldown = self.duration(e, "alert_cooldown", "alert_cooldown")
        if not to and not alert_to:
            if mode in ("always", "on_failure"):
                self.fail("deliver_to", f"deliver = {mode!r} needs a deliver_to URL (or ${{env:NAME}})")
            for key in ("deliver_format", "alert_after", "alert_cooldown"):
                if key in e:
                    self.fail(key, "has no effect without deliver_to or alert_to")
            return {}
        out: dict[str, Any] = {"mode": mode or ("always" if to else "never")}
        for key, value in (
            ("to", to),
            ("format", fmt),
            ("alert_to", alert_to),
            ("alert_after", after),
            ("alert_cooldown_s", cooldown),
        ):
            if value is not None:
                out[key] = value
        return out


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _show(value: Any) -> str:
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


def _split_job_error(message: str) -> tuple[str, str]:
    """'retry-delay: must not be negative' -> ('retry_delay', 'must not be negative'), in file terms."""
    key, sep, problem = message.partition(": ")
    if not sep or " " in key:
        return "job", message
    problem = re.sub(r"\s*\(--[a-z-]+\)$", "", problem)
    return _OPTION_TO_KEY.get(key, key.replace("-", "_")), problem


# ---------------------------------------------------------------- the file view of a job


def _norm_table(
    target: Mapping[str, Any], keys: Mapping[str, tuple[str, Any]], prefix: str, unknown_prefix: str | None = None
) -> dict[str, Any]:
    """A target in file terms with defaults filled in and unset values left out, so a sparse target
    saved by the CLI and a full one read from a file compare equal."""
    out: dict[str, Any] = {}
    known = set()
    for file_key, (target_key, default) in keys.items():
        known.add(target_key)
        value = target.get(target_key)
        if value is None:
            value = copy.deepcopy(default)
        if value is None or value == {}:
            continue
        if isinstance(value, dict):
            for k in sorted(value):
                if value[k] is not None:
                    out[f"{prefix}{file_key}.{k}"] = value[k]
        else:
            out[f"{prefix}{file_key}"] = value
    for key in sorted(set(target) - known):  # fields this format does not know yet: kept visible
        if target[key] is not None:
            out[f"{unknown_prefix if unknown_prefix is not None else prefix}{key}"] = target[key]
    return out


def _delivery_view(d: Mapping[str, Any]) -> dict[str, Any]:
    if not d:
        return {}
    out = _norm_table(d, DELIVERY_KEYS, "", "delivery.")
    out["deliver"] = d.get("mode") or "never"
    return out


def view(job: Job) -> dict[str, Any]:
    """A job as flat `key -> value` pairs in file terms (dotted keys for tables), defaults filled in:
    two jobs with equal views behave the same, whatever shape their dicts were saved in."""
    out: dict[str, Any] = {
        "name": job.name,
        "description": job.description,
        "schedule": job.schedule,
        "timezone": job.timezone,
        "enabled": job.enabled,
    }
    if job.kind is TargetKind.SHELL:
        out.update(_norm_table(job.target, SHELL_KEYS, "", "shell."))
    elif job.kind is TargetKind.HTTP:
        t = dict(job.target)
        if isinstance(t.get("method"), str):
            t["method"] = t["method"].upper()
        out.update(_norm_table(t, HTTP_KEYS, "http."))
        out.setdefault("http.url", "")  # marks the kind even for a malformed stored target
    else:
        out.update(_norm_table(job.target, AGENT_KEYS, "agent."))
        out.setdefault("agent.base_url", "")
    out.update(
        {
            "timeout": float(job.timeout_s),
            "retries": job.max_retries,
            "retry_delay": float(job.retry_delay_s),
            "overlap": str(job.overlap),
            "queue_limit": job.queue_limit,
            "misfire": str(job.misfire),
            "misfire_grace": float(job.misfire_grace_s),
        }
    )
    if job.pool:
        out["pool"] = job.pool
    for key in ("on_success", "on_failure", "tags"):
        if getattr(job, key):
            out[key] = list(getattr(job, key))
    out.update(_delivery_view(job.delivery))
    return out


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Undo the dotting of `view` for the tables a file writes: env, http, agent and their
    headers / extra (whose own keys may contain dots)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if not rest:
            out[key] = value
        elif head == "env":
            out.setdefault("env", {})[rest] = value
        else:
            sub, _, name = rest.partition(".")
            table = out.setdefault(head, {})
            if name:
                table.setdefault(sub, {})[name] = value
            else:
                table[sub] = value
    return out


def _exportable(key: str) -> bool:
    """Whether a view key is one a job file can hold (others come from fields added to the model
    after this format, and are reported instead of written)."""
    head, _, rest = key.partition(".")
    if not rest:
        return head in JOB_KEYS
    if head == "env":
        return True
    sub, _, name = rest.partition(".")
    if head == "http":
        return sub in HTTP_KEYS and (not name or sub == "headers")
    if head == "agent":
        return sub in AGENT_KEYS and (not name or sub in ("headers", "extra"))
    return False


# ---------------------------------------------------------------- export


def export_entry(job: Job) -> tuple[dict[str, Any], list[str]]:
    """One job as a `[[job]]` table, built-in defaults left out; and warnings for fields it cannot write."""
    warnings: list[str] = []
    entry: dict[str, Any] = {}
    for key, value in view(job).items():
        if not _exportable(key):
            warnings.append(f"job {job.name!r}: {key} is not part of the job-file format; not exported")
            continue
        default = _EXPORT_DEFAULTS.get(key, _NO_DEFAULT)
        if value == default and isinstance(value, bool) == isinstance(default, bool):
            continue
        entry[key] = duration_spec(value) if key in DURATION_KEYS else value
    nested = _nest(entry)
    return {k: nested[k] for k in _export_order(nested)}, warnings


_NO_DEFAULT = object()


def _export_order(entry: Mapping[str, Any]) -> list[str]:
    order = {k: i for i, k in enumerate(JOB_KEYS)}
    return sorted(entry, key=lambda k: order.get(k, len(order)))


def dump_toml(jobs: Iterable[Job]) -> tuple[str, list[str]]:
    """The jobs as a job file: the text and warnings about fields the format cannot hold."""
    entries, warnings = _export_all(jobs)
    out = ["# cronui jobs: apply with `cronui apply FILE` (add --prune to remove jobs dropped from it)"]
    for entry in entries:
        out.append("")
        _emit_table("job", entry, out, "[[job]]")
    return "\n".join(out) + "\n", warnings


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
INLINE_WIDTH = 100


def _literal(value: Any, *, multiline: bool = False) -> str:
    """One TOML value; strings and numbers are formatted by tomli_w, so escaping is never ours."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_literal(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}, multiline_strings=multiline)[len("v = ") :].rstrip("\n")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _literal(key)


def _emit_table(path: str, table: Mapping[str, Any], out: list[str], header: str) -> None:
    """Keys with short values on one line each (lists and small maps inline, as people write them);
    maps too long for a line become `[path.key]` sections after them, as TOML requires."""
    sections: list[tuple[str, Mapping[str, Any]]] = []
    out.append(header)
    for key, value in table.items():
        if isinstance(value, dict) and value:
            inline = f"{_key(key)} = {_literal(value)}"
            if len(inline) > INLINE_WIDTH or "\n" in inline:
                sections.append((key, value))
                continue
            out.append(inline)
        else:
            out.append(f"{_key(key)} = {_literal(value, multiline=True)}")
    for key, value in sections:
        out.append("")
        name = f"{path}.{_key(key)}"
        _emit_table(name, value, out, f"[{name}]")


def dump_json(jobs: Iterable[Job]) -> tuple[str, list[str]]:
    entries, warnings = _export_all(jobs)
    return json.dumps({"job": entries}, indent=2, ensure_ascii=False) + "\n", warnings


def _export_all(jobs: Iterable[Job]) -> tuple[list[dict[str, Any]], list[str]]:
    entries: list[dict[str, Any]] = []
    warnings: list[str] = []
    for job in sorted(jobs, key=lambda j: j.name):
        entry, warn = export_entry(job)
        entries.append(entry)
        warnings.extend(warn)
    return entries, warnings


# ---------------------------------------------------------------- plan: what applying would change

_MANAGED = (
    "name",
    "description",
    "schedule",
    "timezone",
    "kind",
    "target",
    "enabled",
    "overlap",
    "queue_limit",
    "misfire",
    "misfire_grace_s",
    "pool",
    "max_retries",
    "retry_delay_s",
    "timeout_s",
    "delivery",
    "on_success",
    "on_failure",
    "tags",
    "source",
)


def _rank(key: str) -> tuple[int, int, str]:
    """Order of keys in a diff: as a file lists them (JOB_KEYS, then each table's own order)."""
    head, _, rest = key.partition(".")
    head = {"delivery": "deliver"}.get(head, head)
    first = JOB_KEYS.index(head) if head in JOB_KEYS else len(JOB_KEYS)
    sub, _, name = rest.partition(".")
    table = {"http": HTTP_KEYS, "agent": AGENT_KEYS}.get(head, {})
    second = list(table).index(sub) if sub in table else len(table)
    return first, second, name or sub


def diff_views(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    if old == new:
        return []
    keys = sorted((k for k in {*old, *new} if old.get(k) != new.get(k)), key=_rank)
    return [Change(k, old.get(k), new.get(k)) for k in keys]


def plan_apply(jobfile: JobFile, live: Sequence[Job], *, prune: bool) -> Plan:
    """Work out creates / updates / removes for `jobfile` against the live jobs, and check that chains
    hold in the state that would result. Raises JobFileError naming the file, the job and the key."""
    display = jobfile.display
    plan = Plan(display)
    by_name = {j.name: j for j in live}
    in_file = {fj.job.name for fj in jobfile.jobs}
    past: list[str] = []
    for fj in jobfile.jobs:
        new = fj.job
        old = by_name.get(new.name)
        if old is None:
            if new.enabled and jobfile.now_ms and parse(new.schedule, new.timezone).next_after(jobfile.now_ms) is None:
                past.append(
                    f"{_where(display, fj)}: job {new.name!r}: schedule: {new.schedule!r} is in the past; it would "
                    "never run (enabled = false keeps it anyway)"
                )
            plan.creates.append(copy.deepcopy(new))
            continue
        new_view = view(new)
        if "enabled" not in fj.explicit:
            new_view["enabled"] = old.enabled  # a job switched off in the TUI stays off until the file says so
        changes = diff_views(view(old), new_view)
        for c in changes:
            if c.key == "timezone" and "timezone" not in fj.explicit:
                c.note = "the file sets no timezone: this machine's default zone"
        adopted = None
        if old.source != jobfile.source:
            adopted = old.source
            changes.append(Change("source", old.source, jobfile.source))
        if not changes:
            plan.unchanged += 1
            continue
        cand = dataclasses.replace(old, **{f: copy.deepcopy(getattr(new, f)) for f in _MANAGED})
        cand.enabled = new_view["enabled"]
        heads = {c.key.split(".")[0] for c in changes}
        if not heads & {*DELIVERY_KEYS, "delivery"}:
            cand.delivery = copy.deepcopy(old.delivery)  # same meaning: keep the stored shape
        if not heads & {"shell", "cwd", "env", "http", "agent"} and old.kind == cand.kind:
            cand.target = copy.deepcopy(old.target)
        plan.updates.append(Update(cand, changes, adopted))
    if past:
        raise JobFileError(past)
    for job in live:
        if job.source == jobfile.source and job.name not in in_file:
            (plan.removes if prune else plan.stale).append(job)
    _check_chains(jobfile, plan, live)
    return plan


def _check_chains(jobfile: JobFile, plan: Plan, live: Sequence[Job]) -> None:
    """Chains must name jobs that exist after the apply and must not loop, checked here so the message
    can point at the file's line; Control.apply checks the same again inside its transaction."""
    gone = {j.name for j in plan.removes}
    final: dict[str, Job] = {j.name: j for j in live if j.name not in gone}
    final.update({u.job.name: u.job for u in plan.updates})
    final.update({j.name: j for j in plan.creates})
    problems: list[str] = []
    lines = {fj.job.name: fj for fj in jobfile.jobs}
    for fj in jobfile.jobs:
        for key in ("on_success", "on_failure"):
            for target in getattr(fj.job, key):
                if target in final:
                    continue
                why = " (--prune removes it)" if target in gone else ""
                problems.append(
                    f"{_where(jobfile.display, fj)}: job {fj.job.name!r}: {key}: no job named {target!r}{why}"
                )
    for job in live:
        if job.name in gone or job.name in lines:
            continue
        for target in (*job.on_success, *job.on_failure):
            if target in gone:
                problems.append(
                    f"{jobfile.display}: --prune: cannot remove {target!r}: job {job.name!r} "
                    f"(from {job.source}) chains to it; edit that job first"
                )
    if not problems:
        graph = {name: [*j.on_success, *j.on_failure] for name, j in final.items()}
        for fj in jobfile.jobs:
            cycle = find_cycle(graph, fj.job.name)
            if cycle:
                problems.append(
                    f"{_where(jobfile.display, fj)}: job {fj.job.name!r}: chain: this would make a cycle "
                    f"({' -> '.join(cycle)})"
                )
                break
    if problems:
        raise JobFileError(problems)


# ---------------------------------------------------------------- showing a plan


def show_value(key: str, value: Any) -> str:
    """A value in file notation for the diff: strings quoted (newlines escaped, so one change is one
    line), durations as 10m. Literal credentials are masked, since diffs end up in CI logs: header and
    env values with secret-looking names, and the path of webhook URLs (a Slack or Discord webhook URL
    is itself the secret). `${env:NAME}` references are shown: they hold no secret."""
    if value is None:
        return "(unset)"
    if key in DURATION_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
        shown = duration_spec(float(value))
        return shown if isinstance(shown, str) else f"{shown}s"
    if isinstance(value, str) and not REF.fullmatch(value.strip()):
        parts = key.split(".")
        secret_name = (len(parts) == 3 and parts[1] == "headers") or (len(parts) == 2 and parts[0] == "env")
        if secret_name and _SENSITIVE_NAME.search(parts[-1]):
            return MASK
        if key in ("deliver_to", "alert_to"):
            m = _URL_PATH.match(value)
            if m and m.group(2).strip("/"):
                return json.dumps(f"{m.group(1)}/{MASK}", ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _summary(job: Job) -> str:
    what = {
        TargetKind.SHELL: lambda t: str(t.get("command", "")),
        TargetKind.HTTP: lambda t: f"{(t.get('method') or 'GET')} {t.get('url', '')}",
        TargetKind.AGENT: lambda t: f"{t.get('model', '')} @ {t.get('base_url', '')}",
    }[job.kind](job.target)
    what = what.replace("\n", "\\n")
    if len(what) > 60:
        what = what[:57] + "..."
    return f"{job.kind} {json.dumps(job.schedule)} ({job.timezone}): {what}"


def format_plan(plan: Plan) -> list[str]:
    """The diff, one line per job and one indented line per changed key."""
    out: list[str] = []
    for job in plan.creates:
        out.append(f"+ {job.name}  {_summary(job)}")
    for up in plan.updates:
        head = f"~ {up.job.name}"
        if up.adopted_from is not None:
            head += f"  (adopted from {up.adopted_from}: from now on it belongs to this file)"
        out.append(head)
        for c in up.changes:
            if c.key == "source":
                continue  # said on the job's line
            note = f"  ({c.note})" if c.note else ""
            out.append(f"    {c.key}: {show_value(c.key, c.old)} → {show_value(c.key, c.new)}{note}")
    for job in plan.removes:
        out.append(f"- {job.name}")
    for job in plan.stale:
        out.append(f"! {job.name}  (no longer in {plan.display}; kept: --prune removes it)")
    return out


def plan_counts(plan: Plan, *, done: bool = False) -> str:
    n = (len(plan.creates), len(plan.updates), len(plan.removes), plan.unchanged)
    adopted = sum(1 for u in plan.updates if u.adopted_from is not None)
    also = f" ({adopted} adopted)" if adopted else ""
    if done:
        return f"{n[0]} added, {n[1]} changed{also}, {n[2]} removed, {n[3]} unchanged"
    return f"{n[0]} to add, {n[1]} to change{also}, {n[2]} to remove, {n[3]} unchanged"


def plan_json(plan: Plan, *, source: str, dry_run: bool) -> dict[str, Any]:
    return {
        "file": source.removeprefix(SOURCE_PREFIX),
        "dry_run": dry_run,
        "changed": not plan.empty,
        "added": [j.name for j in plan.creates],
        "updated": [
            {
                "name": up.job.name,
                "adopted_from": up.adopted_from,
                "changes": [
                    {"key": c.key, "old": _json_value(c.key, c.old), "new": _json_value(c.key, c.new)}
                    for c in up.changes
                ],
            }
            for up in plan.updates
        ],
        "removed": [j.name for j in plan.removes],
        "stale": [j.name for j in plan.stale],
        "unchanged": plan.unchanged,
    }


def _json_value(key: str, value: Any) -> Any:
    if key in DURATION_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
        return duration_spec(float(value))
    if isinstance(value, str):
        shown = show_value(key, value)
        return MASK if shown == MASK else json.loads(shown)
    return value
