"""What a store raises when the database itself fails, as opposed to a bad request.

- `StoreFault`: the database refused an operation for a reason that may pass — another process holds its
  write lock past the busy timeout, the disk is full, an I/O error, the file cannot be opened. Nothing was
  written; the same operation may succeed later, so callers retry it with backoff (engine/faults.py).
- `StoreGone`: the database file was deleted or replaced while this process had it open. Whatever it
  writes goes to a file nobody else reads, so it must stop; retrying cannot help.

Both are `StoreError`s: a CLI command that meets one prints it as one line.
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
