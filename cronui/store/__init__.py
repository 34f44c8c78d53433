"""Persistence behind one async Store interface.

- `base.py`: the `Store` protocol the engine, CLI and UI program against, and its errors; the values it
  takes and returns (`RunFilter`, `JobStats`, `RunEnd`, ...) are `cronui.model.records`.
- `rows.py`: the row <-> model mapping (columns, codecs); `approvals.py`, `claims.py`: what both SQL
  backends decide alike about approvals, claims, budgets and run ends.
- `sql_reads.py`, `sql_writes.py`, `sql_runs.py`: the SQL store written once, against `dialect.py` (a
  transaction's statements, and the pieces of SQL each engine spells its own way).
- `ddl.py`: the tables, written once with a per-backend type map, and how migrations are planned;
  `schema.py` / `pg_schema.py`: each backend's list of migrations.
- `connection.py`: one SQLite file behind one connection: opening, pragmas, the transaction lock, backup.
- `events.py`: `EventCursor`, how every reader follows the live event log (on any backend) without
  skipping an event that commits late.
- `wakeup.py`: wake-ups through the store (the lease holder listens, other processes notify it); for
  SQLite a loopback socket advertised in the lease row.
- `sqlite.py`: `SQLiteStore`: its dialect and what SQLite does its own way under its single writer.
- `postgres.py`: `PostgresStore`, the same contract on PostgreSQL (asyncpg) for several nodes sharing one
  database: its dialect, advisory locks, SKIP LOCKED, the server's clock, LISTEN/NOTIFY;
  `pg_connection.py`: its pool, transactions, passing faults and LISTEN connection.

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
