"""Processes that left a run's process group and were adopted by the scheduling process (a child
subreaper, see containment.py): stopped once their run is over here.

A run's escapee (`setsid`, a double fork) whose parent exits becomes our child. `sweep` looks at our own
children only, never all of /proc: at the end of every shell run (one read of our main thread's children
file: orphans are adopted by the main thread) and at each lease renewal (every thread's). Each child that
is not a run's shell in flight nor a helper of ours is:

- marked (environment or descriptor) with runs none of which is in flight here: stopped;
- unmarked (it cleared its environment and closed its descriptors) and outside our own session (every run
  starts a session of its own, and no process can come back into ours): an escapee of some run. The runs
  in flight when it was first seen are recorded, and it is stopped once every one of them has ended.
- exited (a zombie): reaped.

A program that embeds the engine and starts daemons of its own in new sessions should set
`ADOPT_UNMARKED = False`, or its orphaned daemons would be taken for runs' escapees.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Collection

from cronui.engine.executors import containment

log = logging.getLogger(__name__)

ADOPT_UNMARKED = True
HELPERS: set[int] = set()  # our own children that belong to no run (the watchdog)

# Unmarked adoptees seen so far: (pid, start time) -> the executions in flight when first seen.
_unmarked: dict[tuple[int, bytes], frozenset[str]] = {}


def _strays(adopted: list[int], active: Collection[str]) -> list[int]:
    """Those of `adopted` (children that are not run leaders nor helpers) to stop; runs in a worker thread,
    on a copy of the executions in flight."""
    strays = []
    my_session: bytes | None = None
    for pid in adopted:
        fields = containment.stat_fields(pid)
        if fields is None:
            continue
        if my_session is None:
            my_session = str(os.getsid(0)).encode()
        if fields[0] == b"Z":
            if len(fields) >= 4 and fields[3] != my_session:
                containment.reap([pid])  # an adopted process that has exited: collect it
            continue  # one of this program's own children is collected by whoever started it
        marks = containment.marks_of(pid)
        if marks:
            if not any(m in active for m in marks):
                strays.append(pid)
            continue
        if not ADOPT_UNMARKED or len(fields) < 20:
            continue
        if fields[3] == my_session:
            continue  # started by this program itself, not by a run
        key = (pid, fields[19])  # the start time tells a reused pid apart
        seen_with = _unmarked.setdefault(key, frozenset(active))
        if not any(m in active for m in seen_with):
            strays.append(pid)
    return strays


async def sweep(watched: Collection[int], grace_s: float, *, every_thread: bool = True) -> int:
    """Stop and reap our children that belong to no run in flight here (see the module's docstring);
    `watched` are the children the event loop waits for (run leaders). Returns how many were stopped."""
    children = containment.own_children(main_thread_only=not every_thread)
    adopted = [pid for pid in children if pid not in watched and pid not in HELPERS]
    # Each adopted child's /proc files (its environment can be large) are read in a worker thread: there
    # can be thousands. None adopted is the common case, and costs no thread.
    strays = await asyncio.to_thread(_strays, adopted, frozenset(containment.ACTIVE)) if adopted else []
    if _unmarked:
        left = set(children).difference(strays)
        for key in [k for k in _unmarked if k[0] not in left]:
            del _unmarked[key]
    if not strays:
        return 0
    log.warning("stopping %d process(es) left behind by finished runs: %s", len(strays), strays)
    return await containment.stop(strays, grace_s)
