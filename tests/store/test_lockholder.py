"""Who holds a SQLite file's write lock, read from the OS: what a standby relies on to tell a holder that
is stopped inside a write (it keeps everyone out) from one stopped between writes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cronui.store import lockholder
from tests.helpers import sqlite3_inside_a_write, stop_process

pytestmark = pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "x.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("CREATE TABLE t (x)")
    con.close()
    return path


def test_the_process_inside_a_write_is_named_and_a_free_file_names_none(db: Path) -> None:
    reader = sqlite3.connect(db)  # keeps the -shm file open, as a running cronui does
    reader.execute("SELECT * FROM t").fetchall()
    assert lockholder.write_lock_holder(db) is None
    with sqlite3_inside_a_write(db, "INSERT INTO t VALUES (1)") as writer:
        assert lockholder.write_lock_holder(db) == writer.pid
        assert lockholder.process_state(writer.pid) in ("S", "R")
        stop_process(writer.pid)
        assert lockholder.write_lock_holder(db) == writer.pid  # stopped, it keeps the lock
        assert "sqlite3" in lockholder.command_line(writer.pid)
    assert lockholder.write_lock_holder(db) is None  # the kernel dropped it with the process
    assert lockholder.process_state(writer.pid) is None
    reader.close()


def test_no_shm_file_or_no_proc_means_nothing_known(tmp_path: Path, db: Path) -> None:
    assert lockholder.write_lock_holder(tmp_path / "missing.db") is None
    assert lockholder.write_lock_holder(db, locks=tmp_path / "no-such-locks") is None


def exec_done(pid: int, argv: list[str]) -> None:
    """Wait until the child's command line is its own (a few seconds at most on a loaded machine)."""
    want = "\0".join(argv).encode()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0") != want:
        assert time.monotonic() < deadline, f"process {pid} never ran {argv}"
        time.sleep(0.01)


def test_a_cronui_process_is_told_from_one_that_only_names_a_cronui_file(tmp_path: Path) -> None:
    folder = tmp_path / "cronui"
    folder.mkdir()
    script = folder / "cronui"  # an installed entry point is a script named cronui
    script.write_text("import time\ntime.sleep(60)\n")
    procs = {
        "module": [sys.executable, "-m", "cronui", "--version"],
        "script": [sys.executable, str(script)],
        "names a file": [sys.executable, "-c", "import time; time.sleep(60)", str(folder / "cronui.db")],
    }
    started = {k: subprocess.Popen(v, stdout=subprocess.DEVNULL) for k, v in procs.items()}
    try:
        started["module"].send_signal(signal.SIGSTOP)  # read it before it exits
        for name, argv in procs.items():  # until exec, /proc shows the forking test's own command line
            exec_done(started[name].pid, argv)
        assert lockholder.is_cronui(started["module"].pid)
        assert lockholder.is_cronui(started["script"].pid)
        assert not lockholder.is_cronui(started["names a file"].pid)
    finally:
        for p in started.values():
            p.kill()
            p.wait()
    assert not lockholder.is_cronui(started["script"].pid)  # gone
