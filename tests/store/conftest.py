"""The store contract's backends: every test that takes `backend` runs once per backend (`backends.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cronui.store.base import Store
from tests.store.backends import BACKENDS, fresh_store


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with fresh_store(request.param, tmp_path / "contract.db") as s:
        yield s
