"""What every executor gets (a RunContext) and returns (an Outcome). Executors know nothing of storage."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from cronui import secrets
from cronui.config import Price
from cronui.model import Job, Run, RunStatus


class CappedBuffer:
    """Keeps the head and the tail of a stream within `cap` bytes, and counts everything."""

    def __init__(self, cap: int) -> None:
        self.cap = max(cap, 64)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

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
        head = self.head.decode("utf-8", "replace")
        if not self.tail:
            return head
        omitted = self.total - len(self.head) - len(self.tail)
        gap = f"\n… [{omitted:,} bytes omitted] …\n" if omitted else ""
        return head + gap + self.tail.decode("utf-8", "replace")


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

    def __post_init__(self) -> None:
        self.stdout = CappedBuffer(self.output_cap)
        self.stderr = CappedBuffer(self.output_cap)

    def milestone(self, name: str, **data: Any) -> None:
        self.on_milestone(name, data)

    def output(self, stream: str, data: bytes) -> None:
        (self.stderr if stream == "stderr" else self.stdout).write(data)
        self.on_output(stream, data.decode("utf-8", "replace"))

    def resolve(self, text: str) -> str:
        """Resolve `${env:NAME}` now; raises MissingSecret naming the variable."""
        return secrets.resolve(text, self.env, self.secrets_used)

    def mask(self, text: str) -> str:
        return secrets.mask(text, self.secrets_used)
