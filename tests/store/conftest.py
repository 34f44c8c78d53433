"""The store contract's backends: every test that takes `backend` runs once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cronui.store.base import Store
from cronui.store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s = SQLiteStore(tmp_path / "contract.db")
    await s.open()
    yield s
    await s.close()
