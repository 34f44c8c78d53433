"""What the shared SQL store (`sql_reads.py`, `sql_writes.py`, `sql_runs.py`) asks of a backend: a
transaction's statements (`Tx`) and the few pieces of SQL each engine spells its own way (`Dialect`).

The shared SQL is written once with '?' placeholders and only syntax both engines read; PostgreSQL's
connection numbers the placeholders ($1, $2, ...). Where the engines differ — a list of ids as a
parameter, row locks, whose clock a lease is counted on, JSON versus arrays in the claim — the SQL asks
the dialect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Tx(Protocol):
    """The statements of one open transaction ('?' placeholders)."""

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
    async def row(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    async def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...  # the rows it changed
    async def many(self, sql: str, seq: Sequence[Sequence[Any]]) -> None: ...


class Dialect:
    """How one engine spells what the shared SQL needs. The defaults are SQLite's."""

    # `a IS b` that is true when both are NULL
    same = "IS"
    # what a SELECT adds to lock the rows it read until COMMIT (SQLite: the write lock holds everything)
    for_update = ""
    # what a subquery picking rows to change adds to pass over rows another writer holds
    skip_locked = ""
    # the database's clock (epoch ms), when leases are counted on it; None: the caller's `now`
    db_now: str | None = None

    def clock(self, now: int) -> tuple[str, list[Any]]:
        """The store's clock in SQL and its parameters: the database's, or the caller's `now`."""
        return (self.db_now, []) if self.db_now else ("?", [now])

    def in_list(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`IN (...)` of `values` and its parameters (`values` is not empty)."""
        return f"IN ({', '.join('?' for _ in values)})", list(values)

    # the claim (claims.py): whether a job catches up, the labels a node offers, the pools' sizes
    any_catchup = "MAX(trigger IN ('catchup', 'backfill'))"
    catching_up = "MAX(COALESCE(b.catching_up, 0), MAX(r.trigger IN ('catchup', 'backfill')) OVER per_job)"
    not_labelled = "node_label NOT IN (SELECT value FROM json_each(?))"
    pool_sizes = "SELECT key AS pool, value AS size FROM json_each(?)"

    def labels_params(self, labels: Sequence[str]) -> list[Any]:
        return [json.dumps(sorted(labels))]

    def sizes_params(self, pools: Mapping[str, int]) -> list[Any]:
        return [json.dumps(dict(pools))]
