"""What one owner (`api:ci-bot`, the caller that created a job) has, for the `[policy]`: its live jobs, the
jobs it created in a window (removed ones too: a removal is a soft delete, so the jobs table keeps every
creation), and what its agent runs cost since a time. Each is one query on an index: live jobs on
`jobs_owner_live`, creations on `jobs_owner` (owner, created_at), costs on `runs_costed` (today's costed
runs only)."""

from __future__ import annotations

from cronui.store.sql_reads import SqlReads

OWNER_LIVE = "SELECT COUNT(*) FROM jobs WHERE owner = ? AND deleted_at IS NULL"
OWNER_CREATED = "SELECT COUNT(*) FROM jobs WHERE owner = ? AND created_at > ?"
# what the runs of an owner's jobs that finished since a time cost (the claim asks it too, in its own
# transaction)
OWNER_SPENT = (
    "SELECT COALESCE(SUM(r.cost_usd), 0) FROM runs r JOIN jobs j ON j.id = r.job_id "
    "WHERE r.finished_at >= ? AND r.cost_usd IS NOT NULL AND j.owner = ?"
)


class SqlOwners(SqlReads):
    """An owner's counts and costs, the same SQL on each engine."""

    async def owner_jobs(self, owner: str) -> int:
        """How many live jobs `owner` has."""
        row = await self.select_one(OWNER_LIVE, (owner,))
        return int(row[0]) if row else 0

    async def owner_created_since(self, owner: str, since: int) -> int:
        """How many jobs `owner` created after `since`, removed ones counted."""
        row = await self.select_one(OWNER_CREATED, (owner, since))
        return int(row[0]) if row else 0

    async def owner_spent_since(self, owner: str, since: int) -> float:
        """What the runs of `owner`'s jobs that finished since `since` cost (USD)."""
        row = await self.select_one(OWNER_SPENT, (since, owner))
        return float(row[0]) if row and row[0] is not None else 0.0
