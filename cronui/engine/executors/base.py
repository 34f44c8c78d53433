"""What every executor gets (a RunContext) and returns (an Outcome). Executors know nothing of storage."""

from __future__ import annotations

import codecs
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from cronui import secrets
from cronui.config import Price
from cronui.model import Job, Run, RunStatus

if TYPE_CHECKING:
    from cronui.engine.executors.agent.tools import Toolbox

MILESTONE_CAP = 200  # milestones a job's own output may report per run; the rest are counted, not kept
MILESTONES_DROPPED = "milestones-dropped"  # the last milestone of a run whose output reported more
MILESTONE_TEXT_CAP = 2_000  # characters of one text (a body, a message) of a request kept on its milestone
MILESTONE_LIST_CAP = 20  # items of one list (messages) kept there; the run row keeps the request whole


class CappedBuffer:
    """Keeps the head and the tail of a stream within `cap` bytes, and counts everything. Its text has
    the values in `secrets` masked, a value cut in two where the omitted middle begins or ends too."""

    def __init__(self, cap: int, secrets: list[str] | None = None) -> None:
        self.cap = max(cap, 64)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.secrets = secrets if secrets is not None else []

    def write(self, data: bytes) -> None:
        self.total += len(data)
        half = self.cap // 2
        room = half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > half:
                del self.tail[: len(self.tail) - half]

    def text(self) -> str:
        omitted = self.total - len(self.head) - len(self.tail)
        if not omitted:
            return secrets.mask((self.head + self.tail).decode("utf-8", "replace"), self.secrets)
        values = secrets.maskable(self.secrets)
        head = secrets.mask(self.head.decode("utf-8", "replace"), values)
        tail = secrets.mask(self.tail.decode("utf-8", "replace"), values)
        head, tail = secrets.cut_value_ends(head, tail, values)  # a value the cut went through
        return f"{head}\n… [{omitted:,} bytes omitted] …\n{tail}"


@dataclass
class Outcome:
    status: RunStatus
    error: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    http_status: int | None = None
    summary: str | None = None
    transient: bool = True  # False: retrying cannot help (a 401, a 404, a bad request)
    retry_after_s: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # extra Run fields (tokens, cost, request, ...)
    memory: dict[str, Any] = field(default_factory=dict)  # what the job carries to its next run
    deliver_text: str | None = None  # what delivery posts (the reply); default: the output
    suppress_delivery: str | None = None  # why this run's result is not to be delivered
    # the endpoints (origins) the run called: None when one answered, else why it could not be reached
    # (engine/infra.py): a run that reached none of them failed for its infrastructure, not for its job
    endpoints: dict[str, str | None] = field(default_factory=dict)


def hook_payload(run: Run) -> str | None:
    """The body of the `POST /hooks/NAME` request that started this run, if one did."""
    payload = run.request.get("payload") if isinstance(run.request, dict) else None
    return payload if isinstance(payload, str) else None


def permanent_failure(error: str, **details: Any) -> Outcome:
    """A failed run that retrying cannot fix (a rejected key, a bad request, a missing file)."""
    return Outcome(RunStatus.FAILED, error=error, transient=False, **details)


@dataclass
class RunContext:
    job: Job
    run: Run
    output_cap: int
    on_milestone: Callable[[str, dict[str, Any]], None]
    on_output: Callable[[str, str], None]
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    kill_grace_s: float = 5.0
    http: httpx.AsyncClient | None = None  # one shared client: pooled connections
    memory: dict[str, Any] = field(default_factory=dict)  # what the job carried from earlier runs
    last_output: str = ""  # the previous successful run's output (for {last_output})
    prices: Mapping[str, Price] = field(default_factory=dict)
    stdout: CappedBuffer = field(init=False)
    stderr: CappedBuffer = field(init=False)
    secrets_used: list[str] = field(default_factory=list)
    toolbox: Toolbox | None = None  # carries out an agent's tool calls (`tools = ["cronui"]`)

    milestone_cap: int = MILESTONE_CAP
    milestones_reported: int = 0  # kept, of those the job's output reported
    milestones_dropped: int = 0  # reported beyond the cap: counted, not kept
    _live: dict[str, tuple[Any, secrets.StreamMasker]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.stdout = CappedBuffer(self.output_cap, self.secrets_used)
        self.stderr = CappedBuffer(self.output_cap, self.secrets_used)

    # Everything a run shows leaves through here, masked: milestones, live output, and (masked_outcome)
    # what the run row records. Values resolved from `${env:NAME}` are added to secrets_used before use.

    def milestone(self, name: str, **data: Any) -> None:
        self._milestone(name, data)

    def _milestone(self, name: str, data: dict[str, Any]) -> None:
        self.on_milestone(self.mask(name), secrets.mask_data(data, self.secrets_used))

    @property
    def milestones_full(self) -> bool:
        return self.milestones_reported >= self.milestone_cap

    def reported_milestone(self, name: str, data: dict[str, Any]) -> None:
        """A milestone the job's own output reported: kept up to the cap, counted beyond it."""
        if self.milestones_full:
            self.milestones_dropped += 1
            return
        self.milestones_reported += 1
        self._milestone(name, data)

    def output(self, stream: str, data: bytes) -> None:
        (self.stderr if stream == "stderr" else self.stdout).write(data)
        live = self._live.get(stream)
        if live is None:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            live = self._live[stream] = (decoder, secrets.StreamMasker(self.secrets_used))
        text = live[1].feed(live[0].decode(data))
        if text:
            self.on_output(stream, text)

    def end_output(self) -> None:
        """The run's output is complete: hand on what was held back (the end of a character or of what
        may have been a secret)."""
        for stream, (decoder, masker) in self._live.items():
            text = masker.feed(decoder.decode(b"", final=True)) + masker.end()
            if text:
                self.on_output(stream, text)
        self._live.clear()

    def resolve(self, text: str) -> str:
        """Resolve `${env:NAME}` now; raises MissingSecret naming the variable."""
        return secrets.resolve(text, self.env, self.secrets_used)

    def mask(self, text: str) -> str:
        return secrets.mask(text, self.secrets_used)

    def masked_outcome(self, outcome: Outcome) -> Outcome:
        """The outcome with every text it carries masked: error, summary, fields (the request, the
        reply's tool calls, ...), what delivery posts and what the job carries to its next run."""
        used = self.secrets_used
        if not secrets.maskable(used):
            return outcome
        return dataclasses.replace(
            outcome,
            error=None if outcome.error is None else self.mask(outcome.error),
            summary=None if outcome.summary is None else self.mask(outcome.summary),
            fields=secrets.mask_data(outcome.fields, used),
            memory=secrets.mask_data(outcome.memory, used),
            deliver_text=None if outcome.deliver_text is None else self.mask(outcome.deliver_text),
            suppress_delivery=None if outcome.suppress_delivery is None else self.mask(outcome.suppress_delivery),
            endpoints={self.mask(k): None if v is None else self.mask(v) for k, v in outcome.endpoints.items()},
        )


def milestone_request(value: Any, ctx: RunContext) -> Any:
    """A request (or part of one) for a milestone's data: every text masked first (a cut must never leave
    the start of a secret behind), then cut to MILESTONE_TEXT_CAP; long lists keep their last items."""
    if isinstance(value, str):
        text = ctx.mask(value)
        return text if len(text) <= MILESTONE_TEXT_CAP else text[:MILESTONE_TEXT_CAP] + "…"
    if isinstance(value, dict):
        return {ctx.mask(str(k)): milestone_request(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [milestone_request(v, ctx) for v in list(value)[-MILESTONE_LIST_CAP:]]
    return value
