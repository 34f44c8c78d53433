"""The audit log's values: one row per change to a job (who, when, what changed), written by the use case
that makes the change in the same transaction as the change, and kept `[retention] audit_days`.

`changes` maps a job-file key (`schedule`, `env.API_TOKEN`, `http.headers.Authorization`) to its
`[old, new]` values, with literal secrets masked as every face masks them: a secret that changed shows as
changed, never as what it was or is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cronui.model import Job

CREATED = "created"
CHANGED = "changed"
REMOVED = "removed"
ENABLED = "enabled"
DISABLED = "disabled"
TOKEN_CREATED = "token_created"  # a job's hook token made (`cronui jobs token NAME`)
TOKEN_ROTATED = "token_rotated"  # and made anew (`--rotate`: the old one stops working)
ACTIONS = (CREATED, CHANGED, REMOVED, ENABLED, DISABLED, TOKEN_CREATED, TOKEN_ROTATED)


@dataclass
class AuditEntry:
    at: int  # epoch ms
    who: str  # the caller's owner string (`cli:USER@HOST`, `api:TOKEN`, ...)
    action: str  # one of ACTIONS
    job_name: str
    job_id: int | None = None  # a created job's is filled in by the store as it inserts the job
    changes: dict[str, list[Any]] = field(default_factory=dict)
    id: int | None = None


# What a use case hands the engine to describe a change as it is written: (action, the job before, the job
# after, when) -> its audit entry. The engine calls it once each job's change is validated.
Auditor = Callable[[str, Job | None, Job | None, int], AuditEntry]
