"""Placement: a job pinned to nodes carrying a label (`node_label`), and the labels each node offers
(its config's `[node] labels`, or `--label`). A job with no label runs on any node; a pinned job's runs
are started only by a node carrying its label (the store's claim decides it). A pinned job that no live
node can take waits: `missing_labels` says which labels have no live node, for `status`, `jobs list`
and the TUI to warn of."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # config reads labels too: it loads neither the model nor the store
    from cronui.model import Job
    from cronui.model.records import Node
    from cronui.store.base import Store

# a word people can type and read back: letters, digits, '.', '_', '-', starting with a letter or digit
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
LABEL_RULE = "letters, digits, '.', '_', '-'; up to 63; starting with a letter or digit"


def check_label(value: object) -> str:
    """`value` if it is a valid label, else ValueError saying why."""
    if not isinstance(value, str) or not LABEL_RE.match(value):
        raise ValueError(f"{value!r} is not a valid label ({LABEL_RULE})")
    return value


def check_labels(values: Iterable[object]) -> list[str]:
    """Valid labels, each once, in the order given."""
    out: list[str] = []
    for value in values:
        label = check_label(value)
        if label not in out:
            out.append(label)
    return out


def node_alive(node: Node, now: int, here: str | None = None) -> bool:
    """Whether a node lives: its heartbeat has not expired and, on this host, its process still exists."""
    # containment loads the executors' helpers: only callers that ask about nodes pay for it
    from cronui.engine.executors.containment import pid_alive

    here = socket.gethostname() if here is None else here
    return node.expires_at > now and (node.host != here or pid_alive(node.pid))


def missing_labels(jobs: Sequence[Job], nodes: Sequence[Node], now: int) -> dict[str, list[str]]:
    """The labels enabled jobs are pinned to that no live node carries, each with those jobs' names."""
    offered = {label for node in nodes if node_alive(node, now) for label in node.labels}
    missing: dict[str, list[str]] = {}
    for job in jobs:
        if job.enabled and job.node_label is not None and job.node_label not in offered:
            missing.setdefault(job.node_label, []).append(job.name)
    return missing


async def unplaced_warnings(store: Store, jobs: Sequence[Job], now: int) -> list[str]:
    """A warning line for each label `jobs` are pinned to that no live node carries (none to look up when
    no job is pinned)."""
    if not any(job.node_label for job in jobs):
        return []
    missing = missing_labels(jobs, await store.nodes(), now)
    return [missing_text(label, names) for label, names in sorted(missing.items())]


def missing_text(label: str, names: Sequence[str]) -> str:
    """One warning line: a label no live node has, and the jobs waiting for it."""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"no live node has label {label!r}: {shown} cannot run until one does"
