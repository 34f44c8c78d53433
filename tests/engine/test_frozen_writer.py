"""What a scheduler does about a process stopped holding SQLite's write lock (cronui/engine/frozen.py): only
a cronui process is ever ended; anything else is named in a warning and left as it is."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from cronui.engine.frozen import end_stopped_writer
from cronui.store import lockholder
from cronui.store.sqlite import SQLiteStore
from tests.helpers import sqlite3_inside_a_write, stop_process

pytestmark = pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")


async def test_a_stopped_sqlite3_shell_holding_the_lock_is_named_and_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "cronui.db")
    await store.open()
    try:
        insert = "INSERT INTO state (key, value) VALUES ('x', 'y')"
        with sqlite3_inside_a_write(tmp_path / "cronui.db", insert) as writer:
            stop_process(writer.pid)
            with caplog.at_level(logging.WARNING):
                ended = await end_stopped_writer(store, 1, "here", int(time.time() * 1000), waited=True)
            assert not ended
            assert writer.poll() is None and lockholder.process_state(writer.pid) == "T"
            assert f"held by pid {writer.pid}" in caplog.text and f"kill -CONT {writer.pid}" in caplog.text
            # not waited yet (a standby's look before its try): nothing said, nothing done
            caplog.clear()
            assert not await end_stopped_writer(store, 1, "here", int(time.time() * 1000), waited=False)
            assert caplog.text == ""
    finally:
        await store.close()
