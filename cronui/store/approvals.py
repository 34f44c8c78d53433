"""Approvals as both SQL backends decide them: which new runs wait for a person (a job's `approval*`
policy, a cap on how many of a job's runs may wait), and what a decision writes. The stores call these
inside the transaction that inserts the runs or decides one; `ApprovalDecision` itself is a model value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cronui.model import REASON_APPROVALS_FULL, REASON_REJECTED, Milestone, Run, RunStatus, Trigger
from cronui.model.records import ApprovalDecision
from cronui.store.rows import milestones_to_json

# The approval columns of the jobs new runs belong to, as the stores read them when runs come to exist: only
# jobs with `approval`, or whose run asks for it ({ids}, {asking}: a dialect's `in_list` of ids).
APPROVAL_POLICY_SELECT = (
    "SELECT id, approval, approval_timeout_s, approval_default, approval_max_waiting FROM jobs "
    "WHERE id {ids} AND (approval = 1 OR id {asking})"
)
# How many of each job's runs wait for approval now.
APPROVALS_WAITING = (
    "SELECT job_id, COUNT(*) FROM runs WHERE status = 'awaiting_approval' AND job_id {ids} GROUP BY job_id"
)


@dataclass
class ApprovalPolicy:
    """What a job says about approvals (its `approval*` columns)."""

    approval: bool
    timeout_s: float
    default: str
    max_waiting: int


def approval_candidates(runs: Sequence[Run]) -> tuple[list[int], list[int]]:
    """The jobs whose approval policy decides whether some of `runs` (new, pending) wait for approval, and
    those of them with a run that asks for approval itself (`needs_approval`)."""
    pending = [r for r in runs if r.status is RunStatus.PENDING]
    return sorted({r.job_id for r in pending}), sorted({r.job_id for r in pending if r.needs_approval})


def ask_approvals(runs: Sequence[Run], policies: Mapping[int, ApprovalPolicy], waiting: dict[int, int]) -> None:
    """Turn new pending runs that need approval into `awaiting_approval` ones, with their deadline and what
    the timeout does: every run of a job with `approval` but its retries (a retry is of a run already
    approved), and any run created with `needs_approval`. A run arriving when `max_waiting` of its job's
    runs already wait (`waiting`: job id -> count, updated here) is recorded skipped instead. Called by a
    store inside the transaction that inserts the runs, after it serialized the count."""
    for run in runs:
        policy = policies.get(run.job_id)
        if run.status is not RunStatus.PENDING or policy is None:
            continue
        if not (run.needs_approval or (policy.approval and run.trigger is not Trigger.RETRY)):
            continue
        count = waiting.get(run.job_id, 0)
        if count >= policy.max_waiting:
            run.status = RunStatus.SKIPPED
            run.reason = (
                f"{REASON_APPROVALS_FULL}: {count} run{'s' if count != 1 else ''} of the job already wait"
                f" for approval (approval_max_waiting {policy.max_waiting})"
            )
            run.finished_at = run.queued_at
            continue
        waiting[run.job_id] = count + 1
        run.status = RunStatus.AWAITING_APPROVAL
        run.approval_deadline = run.queued_at + int(policy.timeout_s * 1000)
        run.approval_default = policy.default
        run.milestones = [
            *run.milestones,
            Milestone(
                "approval-requested",
                run.queued_at,
                {"deadline": run.approval_deadline, "default": policy.default},
            ),
        ]


def approval_policy_from_row(row: Sequence[Any]) -> tuple[int, ApprovalPolicy]:
    """A row of APPROVAL_POLICY_SELECT as (job id, its policy)."""
    return row[0], ApprovalPolicy(bool(row[1]), float(row[2]), str(row[3]), int(row[4]))


UNNOTICED = "SELECT 1 FROM runs WHERE status = 'awaiting_approval' AND approval_notice IS NULL LIMIT 1"

# What deciding writes: only while the run still waits, so of two deciders exactly one wins.
APPROVAL_DECIDE = (
    "UPDATE runs SET status = ?, not_before = ?, reason = ?, finished_at = ?, milestones = ? "
    "WHERE id = ? AND status = 'awaiting_approval'"
)


def decided_values(run: Run, d: ApprovalDecision) -> tuple[Any, ...]:
    """APPROVAL_DECIDE's parameters for `run` (read in the deciding transaction): approved, it is pending,
    due now or at its slot if that is later; rejected, it is skipped with reason `rejected ...`. Who decided
    and when is an `approved` / `rejected` milestone."""
    data: dict[str, Any] = {"by": d.by}
    if d.timed_out:
        data["timed_out"] = True
    if d.note:
        data["reason"] = d.note
    milestones = [*run.milestones, Milestone("approved" if d.approve else "rejected", d.at, data)]
    if d.approve:
        return (
            str(RunStatus.PENDING),
            max(d.at, run.scheduled_for),
            None,
            None,
            milestones_to_json(milestones),
            d.run_id,
        )
    if d.timed_out:
        reason = f"{REASON_REJECTED}: nobody approved it by its deadline (the default is {run.approval_default})"
    else:
        reason = f"{REASON_REJECTED} by {d.by}" + (f": {d.note}" if d.note else "")
    return (str(RunStatus.SKIPPED), run.not_before, reason, d.at, milestones_to_json(milestones), d.run_id)
