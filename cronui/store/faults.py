"""What a store raises when the database itself fails, as opposed to a bad request.

- `StoreFault`: the database refused an operation for a reason that may pass — another process holds its
  write lock past the busy timeout, the disk is full, an I/O error, the file cannot be opened. Nothing was
  written; the same operation may succeed later, so callers retry it with backoff (engine/faults.py).
- `StoreGone`: the database file was deleted or replaced while this process had it open. Whatever it
  writes goes to a file nobody else reads, so it must stop; retrying cannot help.

- `ReadOnlyDatabase`: the database refuses every write by this process — a read-only file or file system,
  a PostgreSQL user without write rights or in read-only transactions. Reading works; retrying a write
  cannot help until someone changes that.

All are `StoreError`s: a CLI command that meets one prints it as one line (exit code 2).
"""

from __future__ import annotations

from cronui.store.base import StoreError


class StoreFault(StoreError):
    """The database refused an operation for a reason that may pass (`kind`: locked, full, io, open)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class StoreGone(StoreError):
    """The database file was deleted or replaced under this process."""


class ReadOnlyDatabase(StoreError):
    """The database refuses writes to this process (see the module's docstring)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(
            f"{where}: the database is read-only here ({why}); commands that only read it work, this one writes"
        )
