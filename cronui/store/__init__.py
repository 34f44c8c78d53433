"""Persistence behind one async Store interface.

- `base.py`: the `Store` protocol the engine, CLI and UI program against, its errors and value types
  (`RunFilter`, `JobStats`, `PruneResult`), and the row <-> model mapping every backend shares.
- `schema.py`: the SQLite tables as versioned migrations, and how a file is brought up to date.
- `connection.py`: one SQLite file behind one connection: opening, pragmas, the transaction lock, backup.
- `history.py`: the SQLite read side: run lists, attempts, stats, timelines, the live event log.
- `events.py`: `EventCursor`, how every reader follows the live event log (on any backend) without
  skipping an event that commits late.
- `wakeup.py`: wake-ups through the store (the lease holder listens, other processes notify it); for
  SQLite a loopback socket advertised in the lease row.
- `sqlite.py`: `SQLiteStore`, the SQLite write path and the scheduler's queries (jobs, slots, claims,
  finishing runs, the scheduler lease, scheduler state, pruning).
- `postgres.py`, `pg_schema.py`: `PostgresStore`, the same contract on PostgreSQL (asyncpg) for several
  nodes sharing one database, and its tables as migrations of their own; `pg_connection.py`: its pool,
  transactions, passing faults and LISTEN connection.

`make_store(url)` picks the backend for a database URL.
"""

from __future__ import annotations

from cronui.store.base import Store, StoreError
from cronui.store.sqlite import SQLiteStore


def make_store(url: str) -> Store:
    """A store for a database URL: postgresql://... (or postgres://...; `?schema=NAME` picks the schema),
    else a SQLite path (or sqlite:///path)."""
    if url.startswith(("postgresql://", "postgres://")):
        # asyncpg loads only for a PostgreSQL URL: the SQLite commands stay without it
        from cronui.store.postgres import PostgresStore

        return PostgresStore(url)
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
    return SQLiteStore(path)


__all__ = ["SQLiteStore", "Store", "StoreError", "make_store"]
