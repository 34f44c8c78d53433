"""Who holds a SQLite database's write lock, as Linux tells it (/proc/locks), and in what state that
process is (/proc/PID/stat).

In WAL mode a writer holds an exclusive POSIX lock on one byte of the `-shm` file (SQLite's WAL_WRITE_LOCK,
the first of the wal-index lock bytes) from BEGIN IMMEDIATE to COMMIT. A process stopped (SIGSTOP) inside
that window keeps the lock: nobody else can write until it continues or dies. Elsewhere than Linux these
return None: nothing is known, and nothing is acted on."""

from __future__ import annotations

import os
from pathlib import Path

WAL_WRITE_LOCK_BYTE = 120  # WALINDEX_LOCK_OFFSET in SQLite's wal.c: slot 0 is the writer's lock

PROC = Path("/proc")


def write_lock_holder(db_path: str | os.PathLike[str], locks: Path = PROC / "locks") -> int | None:
    """The pid holding the write lock of the SQLite database at `db_path`, or None (free, or not known)."""
    try:
        st = os.stat(f"{os.fspath(db_path)}-shm")
        text = locks.read_text()
    except OSError:
        return None
    file_id = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in text.splitlines():
        # "7: POSIX  ADVISORY  WRITE 12063 fe:00:2146546 120 120"; a waiter's line has "->" after the id
        parts = line.split()
        if len(parts) != 8 or parts[1] != "POSIX" or parts[3] != "WRITE":
            continue
        if parts[5] == file_id and int(parts[6]) <= WAL_WRITE_LOCK_BYTE <= _end(parts[7]):
            return int(parts[4])
    return None


def _end(field: str) -> int:
    return 2**63 if field == "EOF" else int(field)


def process_state(pid: int) -> str | None:
    """The one-letter state of a process (R, S, D, T stopped, t traced, Z...), or None when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def command_line(pid: int) -> str:
    """A process's command line, its arguments joined by spaces ('' when it cannot be read)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def is_cronui(pid: int) -> bool:
    """Whether the process runs cronui itself (`cronui ...`, `python -m cronui ...`, `python .../cronui ...`),
    not merely names a cronui file (`sqlite3 ~/.local/share/cronui/cronui.db`)."""
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return False
    names = [os.path.basename(a.decode(errors="replace")) for a in argv[:3]]
    if names and names[0] == "cronui":
        return True
    if names and names[0].startswith("python"):
        return names[1:3] == ["-m", "cronui"] or names[1:2] == ["cronui"]
    return False
