"""SQLite: a process stopped (SIGSTOP, a debugger's attach aside) inside a write keeps the file's write lock,
and then nothing can be written by anyone — no takeover, no run recorded, no job added — until it
continues. PostgreSQL ends a session idle in a transaction past its timeout; SQLite has no server, so the
scheduling processes do it, on the same host, and only to a cronui process:

- the scheduler lease holder, stopped holding the lock, once its lease has expired: the process taking over
  ends it at once (its runs are then recovered as a kill -9's are);
- any other cronui process (a `cronui apply` stopped mid-way, a TUI) found stopped holding the lock after a
  write here waited out the busy timeout for it: its transaction is rolled back with it, nothing half-done.

Anything else holding the lock (a `sqlite3` shell with a transaction open) is named in a warning and
left alone. A process stopped between writes holds nothing and is never touched."""

from __future__ import annotations

import logging
import os
import signal

from cronui.model import Lease
from cronui.store import lockholder
from cronui.store.base import Store, StoreError

log = logging.getLogger(__name__)


async def end_stopped_writer(store: Store, me: int, host: str, now: int, *, waited: bool) -> bool:
    """End the stopped process that holds `store`'s write lock, where the rules above allow; whether the
    lock should be free now. `waited`: a write of ours just waited out the busy timeout."""
    if store.multi_node:
        return False
    pid = store.write_lock_holder()
    if pid is None or pid == me or lockholder.process_state(pid) != "T":
        return False
    try:
        lease = await store.get_lease()  # a read: the lock does not keep it out
    except StoreError:
        return False  # the fault is reported by the caller's try
    command = lockholder.command_line(pid)
    if _expired_holder(lease, pid, host, now):
        assert lease is not None
        why = f"its scheduler lease expired {(now - lease.expires_at) / 1000:.1f}s ago"
    elif waited and lockholder.is_cronui(pid):
        why = "a write here waited out the busy timeout for it"
    else:
        if waited:
            log.warning(
                "the database's write lock is held by pid %d (%s), which is stopped: nothing can be written "
                "until it continues (kill -CONT %d) or ends",
                pid,
                command or "?",
                pid,
            )
        return False
    log.warning(
        "pid %d (%s) is stopped holding the database's write lock and %s: nothing can be written until it "
        "ends; ending it (SIGKILL)",
        pid,
        command or "?",
        why,
    )
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True  # gone meanwhile: its lock with it
    except PermissionError as e:
        log.warning("could not end pid %d (%s): the database stays locked until it continues", pid, e)
        return False
    return True


def _expired_holder(lease: Lease | None, pid: int, host: str, now: int) -> bool:
    return lease is not None and lease.pid == pid and lease.host == host and lease.expires_at <= now
