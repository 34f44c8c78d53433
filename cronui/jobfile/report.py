"""A plan shown to the user: the diff (one line per job, one per changed key), its counts, and the
same as JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

from cronui.jobfile.plan import Plan
from cronui.jobfile.schema import SOURCE_PREFIX
from cronui.jobfile.view import json_value, show_value
from cronui.masking import mask_text
from cronui.model import Job
from cronui.schedule.multi import schedule_value


def _summary(job: Job) -> str:
    what = mask_text(job.target.summary()).replace("\n", "\\n")
    if len(what) > 60:
        what = what[:57] + "..."
    return f"{job.kind} {json.dumps(schedule_value(job.schedule))} ({job.timezone}): {what}"


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
                    {"key": c.key, "old": json_value(c.key, c.old), "new": json_value(c.key, c.new)} for c in up.changes
                ],
            }
            for up in plan.updates
        ],
        "removed": [j.name for j in plan.removes],
        "stale": [j.name for j in plan.stale],
        "unchanged": plan.unchanged,
    }
