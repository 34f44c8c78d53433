"""`cronui db copy`: a database's jobs, history (runs with their output, milestones and events), job
memory, shared conversations and the audit log, copied into another database — SQLite to PostgreSQL when one machine
is outgrown, and back.

Both stores are opened first, so each is at its current schema. Each table is then copied on the columns
both sides have (a column one version added and the other lacks is left to its default), rows keep
their ids, and each id sequence of the target continues after the source's, so new runs, events and
jobs follow the copied ones. The target is written in one transaction: all of it or nothing. A target
that holds any of these rows already is refused unless `replace` is given, which empties those tables
first (in the same transaction). What the scheduler keeps for itself (nodes, the scheduler lease,
pause state) is not copied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from cronui.store.base import Store, StoreError

# in the order rows may be inserted (what a row refers to comes first); emptied in reverse
TABLES = ("jobs", "runs", "run_events", "job_memory", "sessions", "audit")
# the tables whose `id` comes from a sequence, which must continue after the copied ids
SEQUENCED = ("jobs", "runs", "run_events", "audit")
BATCH = 500  # rows read and written at a time (a run carries up to its output cap of text)
NAMES = {
    "jobs": "jobs",
    "runs": "runs",
    "run_events": "run events",
    "job_memory": "job memory entries",
    "sessions": "shared conversations",
    "audit": "audit rows",
}
SAID_WHEN_ANY = frozenset({"sessions", "audit"})  # counted in the summary only when there are some


class TargetNotEmpty(StoreError):
    """The target holds rows already (and `replace` was not given)."""


@dataclass
class Copied:
    """What a copy wrote: rows per table, in TABLES order."""

    rows: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        shown = [t for t in TABLES if t not in SAID_WHEN_ANY or self.rows.get(t)]
        return ", ".join(f"{self.rows.get(t, 0)} {NAMES[t]}" for t in shown)


class _Writer(Protocol):
    async def clear(self, tables: Sequence[str]) -> None: ...
    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...
    async def continue_after(self, table: str, last_id: int) -> None: ...


class _Side(Protocol):
    async def columns(self, table: str) -> list[str]: ...
    async def count(self, table: str) -> int: ...
    async def last_id(self, table: str) -> int: ...
    def batches(self, table: str, columns: Sequence[str]) -> AsyncIterator[list[tuple[Any, ...]]]: ...
    def writing(self) -> Any: ...


def _key(table: str, columns: Sequence[str]) -> list[str]:
    """The columns rows are read in order of (and paged by, when it is one `id`)."""
    return ["id"] if "id" in columns else [c for c in ("job_id", "key", "name") if c in columns]


class _Reading:
    """What both backends read the same way; `mark` is the backend's first query parameter."""

    mark = "?"

    def __init__(self, store: Any) -> None:
        self.store = store

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self.store.fetch_all(sql, params))

    async def count(self, table: str) -> int:
        return int((await self._rows(f"SELECT COUNT(*) FROM {table}"))[0][0])

    async def batches(self, table: str, columns: Sequence[str]) -> AsyncIterator[list[tuple[Any, ...]]]:
        cols = ", ".join(columns)
        key = _key(table, columns)
        if key != ["id"]:
            yield [tuple(r) for r in await self._rows(f"SELECT {cols} FROM {table} ORDER BY {', '.join(key)}")]
            return
        after = None
        at = columns.index("id")
        while True:
            where, params = ("", ()) if after is None else (f"WHERE id > {self.mark}", (after,))
            rows = await self._rows(f"SELECT {cols} FROM {table} {where} ORDER BY id LIMIT {BATCH}", params)
            if not rows:
                return
            yield [tuple(r) for r in rows]
            after = rows[-1][at]


class _SQLiteSide(_Reading):
    async def columns(self, table: str) -> list[str]:
        return [row[1] for row in await self.store.fetch_all(f"PRAGMA table_info({table})")]

    async def last_id(self, table: str) -> int:
        row = await self.store.fetch_one(
            f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0))",
            (table,),
        )
        return int(row[0])

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[_Writer]:
        async with self.store.transaction() as db:
            yield _SQLiteWriter(db)


class _SQLiteWriter:
    def __init__(self, db: Any) -> None:
        self.db = db

    async def clear(self, tables: Sequence[str]) -> None:
        for table in tables:
            await self.db.execute(f"DELETE FROM {table}")

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" for _ in columns)
        await self.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def continue_after(self, table: str, last_id: int) -> None:
        # inserting an id raises the table's sequence to it; a source's sequence may be past its last row
        await self.db.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (last_id, table))
        await self.db.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM sqlite_sequence WHERE name = ?)",
            (table, last_id, table),
        )


class _PostgresSide(_Reading):
    mark = "$1"

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self._types: dict[str, dict[str, str]] = {}

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self.store.fetch_all(sql, *params))

    async def columns(self, table: str) -> list[str]:
        rows = await self.store.fetch_all(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        self._types[table] = {r[0]: r[1] for r in rows}
        return [r[0] for r in rows]

    async def last_id(self, table: str) -> int:
        row = await self.store.fetch_one(
            f"SELECT GREATEST((SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
            f"FROM {_sequence(table)}), (SELECT MAX(id) FROM {table}), 0)"
        )
        return int(row[0])

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[_Writer]:
        async with self.store.transaction() as tx:
            yield _PostgresWriter(tx.con, self._types, self.store.schema)


def _sequence(table: str) -> str:
    """The sequence behind a table's identity column (named after its table and column)."""
    return f"{table}_id_seq"


# how a value SQLite held becomes one a PostgreSQL column takes (SQLite does not enforce its column types)
def _as_float(v: Any) -> Any:
    return None if v is None else float(v)


def _as_int(v: Any) -> Any:
    return None if v is None else int(v)


_CONVERT = {"double precision": _as_float, "real": _as_float, "bigint": _as_int, "integer": _as_int}


class _PostgresWriter:
    def __init__(self, con: Any, types: dict[str, dict[str, str]], schema: str | None) -> None:
        self.con = con
        self.types = types
        self.schema = schema

    async def clear(self, tables: Sequence[str]) -> None:
        await self.con.execute(f"TRUNCATE {', '.join(tables)}")

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        types = self.types.get(table, {})
        convert = [_CONVERT.get(types.get(c, ""), None) for c in columns]
        records = [tuple(v if f is None else f(v) for f, v in zip(convert, row, strict=True)) for row in rows]
        await self.con.copy_records_to_table(table, records=records, columns=list(columns), schema_name=self.schema)

    async def continue_after(self, table: str, last_id: int) -> None:
        if last_id > 0:
            await self.con.execute(f"SELECT setval('{_sequence(table)}', $1)", last_id)


def _side(store: Store) -> _Side:
    return _PostgresSide(store) if store.multi_node else _SQLiteSide(store)


async def copy_database(source: Store, target: Store, *, replace: bool = False) -> Copied:
    """Copy jobs, runs, run events and job memory from `source` into `target` (both open); see the
    module's docstring. Raises TargetNotEmpty, changing nothing, when the target holds rows and
    `replace` is false."""
    src, dst = _side(source), _side(target)
    held = {table: await dst.count(table) for table in TABLES}
    if any(held.values()) and not replace:
        what = ", ".join(f"{n} {NAMES[t]}" for t, n in held.items() if n)
        raise TargetNotEmpty(f"the target database is not empty ({what}); nothing was copied")
    columns = {}
    for table in TABLES:
        theirs = set(await dst.columns(table))
        columns[table] = [c for c in await src.columns(table) if c in theirs]
    copied = Copied()
    async with dst.writing() as w:
        if any(held.values()):
            await w.clear(list(reversed(TABLES)))
        for table in TABLES:
            n = 0
            async for rows in src.batches(table, columns[table]):
                await w.insert(table, columns[table], rows)
                n += len(rows)
            copied.rows[table] = n
        for table in SEQUENCED:
            await w.continue_after(table, await src.last_id(table))
    return copied
