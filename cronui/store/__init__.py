"""Persistence behind one async Store interface."""

from __future__ import annotations

from cronui.store.base import Store, StoreError


def make_store(url: str) -> Store:
    """A store for a database URL: a SQLite path (or sqlite:///path); PostgreSQL comes with cluster mode."""
    if url.startswith(("postgresql://", "postgres://")):
        raise StoreError("PostgreSQL (cluster mode) is not available in this version; use a SQLite path")
    from cronui.store.sqlite import SQLiteStore

    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
    return SQLiteStore(path)


__all__ = ["Store", "StoreError", "make_store"]
