"""Taking over from a scheduler that is gone: its runs left `running` are recorded `interrupted` (their retry
policy applies), and on this host every process its runs left is stopped first, whatever those runs'
status — a run that succeeded a moment before its scheduler was killed may have left a `setsid`
grandchild behind, and that must not overlap the next run.

Which schedulers are over, for their processes on this host (found by their marks, see
executors/containment.py; /proc is read only when there is a takeover to make):
- the node of every run taken over here;
- a node whose process is gone (its pid no longer runs);
- with one scheduler at a time (SQLite: one host, one clock), a node whose heartbeat has expired: it
  stopped renewing (frozen, or cut off from the database) and has lost the lease to this one. On
  PostgreSQL such a node may come back and claim runs again, so only its taken-over runs are stopped here
  (its watchdog stops the rest).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from cronui.engine.executors import containment
from cronui.engine.executors.containment import mark, mark_node, node_host, node_pid, pid_alive
from cronui.model import RunStatus, Trigger

if TYPE_CHECKING:
    from cronui.engine.engine import Engine

log = logging.getLogger(__name__)


async def recover_orphans(engine: Engine, *, look_here: bool = False) -> None:
    """Runs a gone holder left `running` become `interrupted`, and their retry policy applies — but only
    once none of their processes can still be running: a run's lease must have expired on the store's
    clock (its own scheduler, if alive, stops it when it finds it lost the lease, and its watchdog before
    the lease expires, even if the scheduler is frozen), except, with one scheduler at a time (SQLite), a
    run of this host, whose processes are looked for and stopped here. The run is taken over first (its
    fence token bumped): whatever its old holder still writes about it is refused, and of several nodes
    recovering it at once one records it. With `look_here` (this process has just become a holder), what
    schedulers that are over left on this host is looked for even if none of their runs is `running`."""
    store = engine.store
    now = engine.clock.now_ms()
    host = None if store.multi_node else engine.host
    taken = []
    for orphan in await store.orphaned_runs(now, engine.node, host):
        here = node_host(orphan.node) == engine.host
        job = await store.get_job(orphan.job_id)
        if job is None:
            continue
        run = await store.take_over(orphan, now, expired_only=store.multi_node or not here)
        if run is None:
            continue  # renewed, finished or taken over by another node meanwhile
        taken.append((run, job))
        look_here = look_here or here
    if look_here:
        try:
            await _stop_left_here(engine, {mark(run.node, run.id) for run, _ in taken})
        except Exception:  # what cannot be read or signalled is logged; the runs are recorded all the same
            log.exception("could not look for the processes a gone scheduler left on this host")
    for run, job in taken:
        now = engine.clock.now_ms()
        run.status = RunStatus.INTERRUPTED
        run.reason = f"the scheduler running it ({run.node}) stopped"
        if run.trigger is Trigger.PING:  # a check's start whose end never came within the job's timeout
            run.reason = f"started (ping) but no end ping within its timeout ({job.timeout_s:g}s)"
        run.error = run.reason
        run.finished_at = now
        if run.started_at is not None:
            run.duration_ms = now - run.started_at
        await engine.dispatcher.finish(run, job)


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


async def _stop_left_here(engine: Engine, taken: set[str]) -> None:
    """Stop every process on this host marked by a taken-over run or by a scheduler that is over."""
    found = await asyncio.to_thread(containment.scan)  # all of /proc: off the event loop
    if not found:
        return
    nodes = {mark_node(m) for marks in found.values() for m in marks}
    nodes = {n for n in nodes if n != engine.node and node_host(n) == engine.host}
    over = set() if engine.store.multi_node else {mark_node(m) for m in taken}
    for node in nodes:
        pid = node_pid(node)
        if pid is None or not pid_alive(pid):
            over.add(node)
    if not engine.store.multi_node and nodes - over:
        now = engine.clock.now_ms()
        over.update(n.node for n in await engine.store.nodes() if n.node in nodes and n.expires_at <= now)
    # Never a scheduler, nor what is in its session: a scheduler holds a run's marking descriptor for a
    # moment while it starts the run's shell (a frozen one may be holding it now), and the shell is in its
    # session until it starts its own.
    schedulers = {pid for pid in map(node_pid, nodes | {engine.node}) if pid is not None and pid_alive(pid)}
    sessions = {_session(pid) for pid in schedulers} - {None}
    stray = sorted(
        pid
        for pid, marks in found.items()
        if (marks & taken or {mark_node(m) for m in marks} & over)
        and pid not in schedulers
        and _session(pid) not in sessions
    )
    if not stray:
        return
    runs = sorted({m for pid in stray for m in found[pid]})
    log.warning(
        "stopping %d process(es) left by scheduler(s) that are over (%s): %s", len(stray), ", ".join(runs), stray
    )
    await containment.stop(stray, engine.settings.kill_grace)
