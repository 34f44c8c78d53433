"""What a job runs and where its result goes, as types: the one home of their defaults and choices.

A job's target is a `ShellTarget`, an `HttpTarget` or an `AgentTarget`; its delivery settings are a
`Delivery`. The model, the store, job files, the CLI, the TUI form and the executors all use these types,
so a default or a list of choices is written once, here. Stored and shown as JSON through `to_dict` /
`target_from_dict`; the dict shapes are the job file's `http` / `agent` tables and `cronui jobs show --json`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field
from typing import Any


class TargetKind(enum.StrEnum):
    SHELL = "shell"
    HTTP = "http"
    AGENT = "agent"


HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
CONVERSATIONS = ("isolated", "persistent")  # or SESSION_PREFIX + a name: one history shared by jobs
SESSION_PREFIX = "session:"
SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}\Z")
DELIVERY_MODES = ("never", "on_failure", "always")
DELIVERY_FORMATS = ("slack", "discord", "json")
DEFAULT_DELIVERY_FORMAT = "json"
DEFAULT_IDLE_TIMEOUT_S = 120.0
DEFAULT_KEEP_TURNS = 10
DEFAULT_ALERT_AFTER = 2
DEFAULT_ALERT_COOLDOWN_S = 3600.0


@dataclass
class ShellTarget:
    command: str = ""
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    # keys a stored target has that this version does not know (written by a newer one): kept, so
    # saving the job again loses nothing, and shown, so export can say it leaves them out
    unknown: dict[str, Any] = field(default_factory=dict, kw_only=True)

    kind = TargetKind.SHELL

    def summary(self) -> str:
        return self.command


@dataclass
class HttpTarget:
    url: str = ""
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # text, or @PATH of a file read when the job runs
    expect_status: int | None = None  # None: any 2xx
    expect_body: str | None = None

    # keys a stored target has that this version does not know (written by a newer one): kept, so
    # saving the job again loses nothing, and shown, so export can say it leaves them out
    unknown: dict[str, Any] = field(default_factory=dict, kw_only=True)

    kind = TargetKind.HTTP

    def summary(self) -> str:
        return f"{self.method} {self.url}"


@dataclass
class AgentTarget:
    base_url: str = ""
    model: str = ""
    message: str = ""
    system: str | None = None
    api_key_env: str | None = None  # the variable's name; the key itself is never stored
    conversation: str = "isolated"  # isolated, persistent (the job's own history) or session:NAME (shared)
    max_tokens: int | None = None
    temperature: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # more request fields, sent as they are
    idle_timeout_s: float | None = None  # None: DEFAULT_IDLE_TIMEOUT_S
    stream: bool | None = None  # None: stream, falling back to one plain request
    keep_turns: int | None = None  # None: DEFAULT_KEEP_TURNS (persistent and session conversations)
    fallbacks: list[str] = field(default_factory=list)  # MODEL[@BASE_URL], asked in order when one fails
    gate: str | None = None  # a shell check run first: exit 0 asks the model, 1 skips the run
    max_cost_usd: float | None = None  # a streaming reply whose estimated cost passes this is stopped
    daily_budget_usd: float | None = None  # no run starts once the job's runs cost this today (UTC)
    tools: list[str] = field(default_factory=list)  # toolsets offered to the model: "cronui" (its own schedules)

    # keys a stored target has that this version does not know (written by a newer one): kept, so
    # saving the job again loses nothing, and shown, so export can say it leaves them out
    unknown: dict[str, Any] = field(default_factory=dict, kw_only=True)

    kind = TargetKind.AGENT

    def summary(self) -> str:
        return f"{self.model} @ {self.base_url}"

    @property
    def session(self) -> str | None:
        """The shared session this job talks in (`conversation = "session:NAME"`), if any."""
        return session_name(self.conversation)


def session_name(conversation: object) -> str | None:
    """The session a conversation names (`session:NAME` -> NAME); None for `isolated` / `persistent`."""
    if isinstance(conversation, str) and conversation.startswith(SESSION_PREFIX):
        return conversation[len(SESSION_PREFIX) :]
    return None


def conversation_problem(conversation: object) -> str | None:
    """What is wrong with a conversation setting, in one line; None when it is one of CONVERSATIONS or
    `session:NAME` with a name of letters, digits, '.', '_' and '-' (a name is stored and shown as is)."""
    name = session_name(conversation)
    if name is None:
        if conversation in CONVERSATIONS:
            return None
        return f"expected {', '.join(CONVERSATIONS)} or {SESSION_PREFIX}NAME, got {conversation!r}"
    if not SESSION_NAME_RE.match(name):
        return (
            f"{name!r} is not a valid session name (letters, digits, '.', '_', '-'; up to 80; "
            "starting with a letter or digit)"
        )
    return None


TOOLSETS = ("cronui",)  # what an agent job may offer its model: "cronui" (follow-ups, its runs)


def tools_problem(tools: object) -> str | None:
    """What is wrong with a job's `tools` (a list of toolset names), or None."""
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        return f'expected a list of toolsets like ["cronui"], got {tools!r:.60}'
    unknown = [t for t in tools if t not in TOOLSETS]
    if unknown:
        return f"{unknown[0]!r} is not a toolset cronui offers (known: {', '.join(TOOLSETS)})"
    return None


def split_fallback(text: str) -> tuple[str, str | None]:
    """`MODEL[@BASE_URL]` -> (model, base URL or None for the job's own). Only an http(s) URL after the
    last `@` is one, so a model named like `claude-3-5-sonnet@20240620` stays whole."""
    model, sep, url = text.rpartition("@")
    if not sep or not url.lower().startswith(("http://", "https://")):
        model, url = text, ""
    if not model.strip():
        raise ValueError(f"{text!r} names no model (expected MODEL or MODEL@BASE_URL)")
    return model, url or None


Target = ShellTarget | HttpTarget | AgentTarget
TARGET_TYPES: dict[TargetKind, type[ShellTarget] | type[HttpTarget] | type[AgentTarget]] = {
    TargetKind.SHELL: ShellTarget,
    TargetKind.HTTP: HttpTarget,
    TargetKind.AGENT: AgentTarget,
}


@dataclass
class Delivery:
    """Where a run's result goes, and when an alert is sent."""

    mode: str | None = None  # None: never chosen (no delivery); a target given later turns it on
    to: str | None = None
    format: str = DEFAULT_DELIVERY_FORMAT
    alert_to: str | None = None  # None: the delivery target
    alert_after: int | None = None  # None: DEFAULT_ALERT_AFTER consecutive failures
    alert_cooldown_s: float | None = None  # None: DEFAULT_ALERT_COOLDOWN_S
    notify_retries: bool | None = None  # True: a failed attempt that will be retried is announced
    unknown: dict[str, Any] = field(default_factory=dict, kw_only=True)  # as on the targets

    @property
    def alert_target(self) -> str | None:
        return self.alert_to or self.to

    @property
    def is_set(self) -> bool:
        return bool(self.to or self.alert_to or self.mode not in (None, "never"))


def to_dict(value: Target | Delivery, *, keep_none: bool = False) -> dict[str, Any]:
    """The JSON form: without keys that hold nothing (None, an empty table or list) unless `keep_none`, which
    the store uses so that a stored target always has every key of its type. Unknown keys come back
    as they were read."""
    data = dataclasses.asdict(value)
    unknown = data.pop("unknown", {})
    if not keep_none:
        data = {k: v for k, v in data.items() if v is not None and v != {} and v != []}
    return {**data, **unknown}


_NAMES = {cls: {f.name for f in dataclasses.fields(cls)} - {"unknown"} for cls in (*TARGET_TYPES.values(), Delivery)}
_NULLABLE = {
    cls: {f.name for f in dataclasses.fields(cls) if f.default is None} for cls in (*TARGET_TYPES.values(), Delivery)
}


def _split(cls: type, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = _NAMES[cls]
    return {k: v for k, v in data.items() if k in names}, {k: v for k, v in data.items() if k not in names}


def target_from_dict(kind: TargetKind | str, data: dict[str, Any]) -> Target:
    """A stored or given dict as the kind's target; keys the type does not have are kept in `unknown`."""
    cls = TARGET_TYPES[TargetKind(kind)]
    values, unknown = _split(cls, data)
    # a null where the type has a default (an old row's "method": null) means that default
    values = {k: v for k, v in values.items() if v is not None or k in _NULLABLE[cls]}
    return cls(**values, unknown=unknown)


def retarget(target: Target | None, kind: TargetKind, **values: Any) -> Target:
    """`target` with `values` set; a fresh target of `kind` holding them when `target` is of another kind.
    The CLI's options and the TUI's form change a job this way, so fields they do not touch are kept."""
    cls = TARGET_TYPES[kind]
    if isinstance(target, cls):
        return dataclasses.replace(target, **values)
    return cls(**values)


def delivery_from_dict(data: dict[str, Any] | None) -> Delivery:
    values, unknown = _split(Delivery, data or {})
    values = {k: v for k, v in values.items() if v is not None or k in _NULLABLE[Delivery]}
    return Delivery(**values, unknown=unknown)
