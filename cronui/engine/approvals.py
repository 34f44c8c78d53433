"""Runs that wait for a person: deciding them (a person's answer, or the default once the deadline passes)
and the "needs approval" notice posted where the job delivers.

A run of a job with `approval` (or created with `needs_approval`) comes to exist `awaiting_approval`
(`store.approvals.ask_approvals`); it is never claimed. Approving makes it pending, due now or at its slot;
rejecting records it skipped with reason `rejected`. Either happens once, whoever tries (the store's
conditional UPDATE). The scheduling process applies the default to runs past their deadline and sends
the notices (`approval_notices.py`); any process may approve or reject (`Control.approve`, `Control.reject`).
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

from cronui.model import EventKind, Run, RunEvent, RunStatus

APPROVAL_MILESTONES = frozenset({"approval-requested", "approved", "rejected"})


def who() -> str:
    """Who decides from this process: `user@host` (recorded with the decision)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): its number says who
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def decision_event(run: Run, now: int) -> RunEvent:
    """What the event log says of a decided run: approved, it is queued again (`status: pending`);
    rejected, it finished skipped."""
    assert run.id is not None
    decided = next((m for m in reversed(run.milestones) if m.name in ("approved", "rejected")), None)
    by = decided.data.get("by") if decided else None
    if run.status is RunStatus.PENDING:
        data: dict[str, Any] = {
            "trigger": str(run.trigger),
            "status": str(run.status),
            "not_before": run.not_before,
            "approved_by": by,
        }
        return RunEvent(EventKind.QUEUED, now, run.id, run.job_id, run.job_name, data=data)
    data = {"status": str(run.status), "reason": run.reason, "rejected_by": by}
    return RunEvent(EventKind.FINISHED, now, run.id, run.job_id, run.job_name, data=data)


def waiting_event(run: Run, now: int, **extra: Any) -> RunEvent:
    """A run that has come to exist waiting for approval: queued, with its deadline and default."""
    data: dict[str, Any] = {
        "trigger": str(run.trigger),
        "status": str(run.status),
        "scheduled_for": run.scheduled_for,
        "deadline": run.approval_deadline,
        "default": run.approval_default,
        **extra,
    }
    return RunEvent(EventKind.QUEUED, now, run.id, run.job_id, run.job_name, data=data)
