"""Planning an apply: what a job file would create, change and remove against the live jobs, with the
chains checked in the state that would result, so every refusal can point at the file's line."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cronui.chain_runs import ChainRuns
from cronui.jobfile.schema import AGENT_KEYS, DELIVERY_KEYS, HTTP_KEYS, JOB_KEYS, JobFile, JobFileError, file_key
from cronui.jobfile.view import view
from cronui.jobs import chain_errors, chain_graph
from cronui.model import Job
from cronui.schedule.multi import job_schedule


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
    "node_label",
    "max_retries",
    "retry_delay_s",
    "timeout_s",
    "delivery",
    "on_success",
    "on_failure",
    "chain_options",
    "tags",
    "source",
    "approval",
    "approval_timeout_s",
    "approval_default",
    "approval_max_waiting",
    "is_check",
    "grace_s",
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
            if (
                new.enabled
                and jobfile.now_ms
                and new.ends_at is None
                and job_schedule(new).next_after(jobfile.now_ms) is None
            ):
                past.append(
                    f"{fj.where(display)}: job {new.name!r}: schedule: {new.schedule!r} is in the past; it would "
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
    """Chains must name jobs that exist after the apply, must not loop nor multiply runs past
    MAX_CHAIN_RUNS (see cronui.chain_runs), checked here so the message
    can point at the file's line; Control.apply checks the same again inside its transaction."""
    gone = {j.name for j in plan.removes}
    final: dict[str, Job] = {j.name: j for j in live if j.name not in gone}
    final.update({u.job.name: u.job for u in plan.updates})
    final.update({j.name: j for j in plan.creates})
    graph = chain_graph(final.values())
    runs = ChainRuns(graph)  # path counts shared by every job of the file
    notes = dict.fromkeys(gone, "--prune removes it")
    problems: list[str] = []
    cycle: str | None = None  # reported only when nothing else is wrong: a missing job may be the cause
    for fj in jobfile.jobs:
        for error in chain_errors(fj.job, graph, final, notes, runs):
            line = f"{fj.where(jobfile.display)}: job {fj.job.name!r}: {file_key(error.field)}: {error.problem}"
            if error.field != "chain":
                problems.append(line)
            elif cycle is None:
                cycle = line
    in_file = {fj.job.name for fj in jobfile.jobs}
    for job in live:
        if job.name in gone or job.name in in_file:
            continue
        for target in (*job.on_success, *job.on_failure):
            if target in gone:
                problems.append(
                    f"{jobfile.display}: --prune: cannot remove {target!r}: job {job.name!r} "
                    f"(from {job.source}) chains to it; edit that job first"
                )
    if cycle is not None and not problems:
        problems.append(cycle)
    if problems:
        raise JobFileError(problems)
