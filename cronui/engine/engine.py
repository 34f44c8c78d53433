"""The engine: one process per store schedules and executes (it holds the scheduler lease); any other
process is attached and only writes rows and pokes the holder.

The loop sleeps until the earliest due slot, a retry's backoff end, the lease renewal, or a poke —
there is no tick. Sleeping is on the event loop's monotonic clock; what is due is decided by the
injected wall clock, re-read on every wake, so a wall-clock jump is noticed at the next wake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import uuid
from collections.abc import Mapping

from cronui.config import Settings
from cronui.engine import draining, failure_alerts, pauses
from cronui.engine.alerts import PASS_EVERY_MS, Watcher
from cronui.engine.approval_notices import Approvals
from cronui.engine.clock import Clock, SystemClock
from cronui.engine.control import Control
from cronui.engine.dispatcher import Dispatcher, Executor
from cronui.engine.events import EventBus
from cronui.engine.executors import containment, strays
from cronui.engine.executors.containment import pid_alive
from cronui.engine.executors.shell import LEADERS
from cronui.engine.executors.watchdog import Watchdog, now_boot
from cronui.engine.faults import LAST_FAULT_KEY, Backoff, FaultPersisted, FaultState
from cronui.engine.frozen import end_stopped_writer
from cronui.engine.monitor import DeadMansSwitch
from cronui.engine.planning import Planner, on_time_first
from cronui.engine.recovery import recover_orphans
from cronui.engine.retention import Pruner
from cronui.model import EventKind, Lease, RunEvent, RunStatus, TargetKind
from cronui.model.records import Node
from cronui.store.base import Store, StoreError
from cronui.store.faults import ReadOnlyDatabase, StoreFault, StoreGone

log = logging.getLogger(__name__)

FAULT_FIRST_RETRY_S = 0.25  # database faults: the first retry, doubling up to
FAULT_MAX_RETRY_S = 5.0  # this (or the lease renewal interval, if shorter)
# the next alert's deadline is looked up again at once (up to this many times in all) when a slot was planned
# or a run started during the lookup (steps go on meanwhile: they start no second lookup)
LOOKUPS_AT_ONCE = 2


class Engine:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock | None = None,
        executors: Mapping[TargetKind, Executor] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.node = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:6]}"
        self.bus = EventBus(store)
        self.address = ""
        self.holding = False
        self.holder: Lease | None = None  # who holds the lease, as last seen
        self._wake = asyncio.Event()
        self._listening = False
        self.pruner = Pruner(store, settings, self.clock)
        self.wakeups = 0  # passes of the loop: an idle holder makes one per lease renewal
        self.started_at = self.clock.now_ms()
        self._beat_ok_at: int | None = None  # multi-node: the last heartbeat the database took
        self._skew_warned = False
        self.planner = Planner(store, self.bus, self.clock, settings.calendars)
        lease = settings.lease
        self.watchdog = Watchdog(self.node, lease.ttl, lease.renew, settings.kill_grace)
        self.dispatcher = Dispatcher(
            store, self.bus, settings, self.clock, self.node, executors, rng, on_finished=self._wake.set
        )
        finisher = self.dispatcher.finisher
        self.monitor = DeadMansSwitch(settings.monitor.ping_url, finisher.http, token=settings.monitor.ping_token)
        self.approvals = Approvals(store, self.bus)
        self._watching: asyncio.Future[None] | None = None
        self._alert_at: int | None = None  # when the next alert falls due, as the last lookup found
        self._adopted = False  # the alert state jobs kept in memory before episodes: adopted at the first pass
        self._planned: int | None = None  # the wake-up the last pass returned
        # what may bring the next alert nearer (a slot planned, a run started, a write from elsewhere) bumps
        # this; the deadline is looked up again only after a pass or when it moved since the last lookup
        self._changes = 0
        self._looked_up = -1  # the value of `_changes` the last lookup saw
        self.watcher = Watcher(store, lambda: settings.alerts, self.clock, self.node, finisher.http, finisher.spawn)
        finisher.send_alerts = self.watcher.send_now  # a run's failure alert goes out at once
        self.approvals.send_alerts = self.watcher.send_now  # and a run's "needs approval" notice
        self.control = Control(
            store,
            settings,
            self.clock,
            publish=self.bus.publish,
            wake_local=self.poke_local,
            is_holder=lambda: self.holding,
        )

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Start the event writer and listen for wake-ups through the store (the store must be open)."""
        self.bus.start()
        if not containment.become_subreaper():
            log.debug("not a child subreaper here: a process that leaves its run's group is not adopted")
        if not self._listening:
            self.address = await self.store.listen(self.poke_local)
            self._listening = True

    async def close(self, grace_s: float = 0.0, hurry: asyncio.Event | None = None) -> None:
        """Stop starting runs; let running ones finish within grace_s (cut short when `hurry` is set), then
        interrupt them; release."""
        await draining.drain(self, grace_s, hurry)
        if self._watching is not None:
            self._watching.cancel()
        await self.monitor.close()
        await self.dispatcher.close()
        try:  # what this node's runs left behind is stopped with the node (the watchdog looks once more)
            await strays.sweep(LEADERS, self.settings.kill_grace)
        except Exception:
            log.exception("could not look for processes left behind by finished runs")
        self.watchdog.close()
        if self.holding:
            self.holding = False
            try:
                if not self.store.multi_node:
                    await self.store.release_lease(self.node)
                await self.store.forget_node(self.node)
            except StoreError as e:  # a database that refuses writes: the lease runs out by itself
                log.warning("could not release the scheduler lease (%s); it expires on its own", e)
            else:
                self.bus.publish(
                    RunEvent(EventKind.SCHEDULER, self.clock.now_ms(), data={"state": "released", "node": self.node})
                )
        if self._listening:
            self._listening = False
            await self.store.unlisten(self.poke_local)
        await self.bus.stop()

    def poke_local(self) -> None:
        """Wake this process's loop (another process's notify through the store arrives here too)."""
        self._changes += 1  # a job edited, a run triggered, a ping: the next alert may come sooner
        self._wake.set()

    # ------------------------------------------------------------ the lease

    def _holder_alive(self, lease: Lease) -> bool:
        if lease.host != self.host:
            return True  # another machine: only its lease expiry can tell
        return pid_alive(lease.pid)

    async def try_acquire(self) -> bool:
        if self.store.multi_node:
            return await self._beat()
        began = now_boot()
        now = self.clock.now_ms()
        ttl_ms = int(self.settings.lease.ttl * 1000)
        await end_stopped_writer(self.store, self.pid, self.host, now, waited=False)
        me = Lease(self.node, self.host, self.pid, self.address, now, now + ttl_ms)
        got = await self.store.acquire_lease(me, now, self._holder_alive)
        self.holder = got
        if got.holder == self.node:
            self.watchdog.renewed(began)
            if not self.holding:
                self.holding = True
                await self.store.heartbeat(self._node_row(now, ttl_ms))  # listed from the start, not first renewal
                self.bus.publish(RunEvent(EventKind.SCHEDULER, now, data={"state": "acquired", "node": self.node}))
                await self._recover_orphans(look_here=True)
            return True
        self.holding = False
        return False

    def _node_row(self, now: int, ttl_ms: int) -> Node:
        """This process as the nodes table lists it (its heartbeat)."""
        return Node(
            self.node,
            self.host,
            self.pid,
            self.started_at,
            now,
            now + ttl_ms,
            len(self.dispatcher.active),
            self.settings.node.labels,
        )

    async def _beat(self) -> bool:
        """Cluster mode: every node schedules; its heartbeat (the nodes table) is what says it lives. A
        node whose heartbeats fail for most of a lease stops its runs before other nodes take them over."""
        began = now_boot()
        now = self.clock.now_ms()
        ttl_ms = int(self.settings.lease.ttl * 1000)
        try:
            db_now = await self.store.heartbeat(self._node_row(now, ttl_ms))
        except ReadOnlyDatabase:
            raise  # no node can schedule on a database it may not write: the daemon says so and ends
        except Exception as e:
            log.warning("heartbeat failed (%s: %s)", type(e).__name__, e)
            if self._beat_ok_at is not None and now - self._beat_ok_at > ttl_ms * 0.8:
                self._stop_own_runs("this node could not reach the database for most of its lease")
                self.holding = False
            return self.holding
        self._beat_ok_at = now
        if abs(db_now - now) > 1000 and not self._skew_warned:
            self._skew_warned = True
            log.warning(
                "this node's clock is %+.1f s off the database's: leases are counted on the database's clock, "
                "but this node fires slots by its own (keep clocks in sync with NTP)",
                (now - db_now) / 1000,
            )
        self.holder = Lease(self.node, self.host, self.pid, self.address, self.started_at, now + ttl_ms)
        if not self.holding:
            self.holding = True
            self.watchdog.renewed(began)  # no run yet: the first renewal of runs' leases is the next beat's
            self.bus.publish(RunEvent(EventKind.SCHEDULER, now, data={"state": "acquired", "node": self.node}))
            await self._recover_orphans(look_here=True)
        return True

    def _stop_own_runs(self, reason: str) -> None:
        for run_id in list(self.dispatcher.active):
            self.dispatcher.cancel(run_id, reason, RunStatus.INTERRUPTED)

    async def renew(self, *, contain: bool = True) -> bool:
        """Renew the lease and the leases of this node's runs; the watchdog's deadline follows them. With
        `contain`, what finished runs left is stopped and gone holders' runs are recovered."""
        began = now_boot()
        now = self.clock.now_ms()
        ttl_ms = int(self.settings.lease.ttl * 1000)
        if self.store.multi_node:
            if not await self._beat():
                return False
            await self._renew_runs(now, ttl_ms)
            self.watchdog.renewed(began)
            if contain:
                await self._contain()
            return True
        ok = await self.store.renew_lease(self.node, now, now + ttl_ms)
        if not ok:
            if self.holding:
                log.warning("lost the scheduler lease; no new runs start here and the runs in flight are stopped")
                self.bus.publish(RunEvent(EventKind.SCHEDULER, now, data={"state": "lost", "node": self.node}))
            self.holding = False
            # Another scheduler holds the lease now and may start these jobs again: stop ours first.
            self._stop_own_runs("this scheduler lost its lease")
        else:
            await self._renew_runs(now, ttl_ms)
            self.watchdog.renewed(began)
            await self.store.heartbeat(self._node_row(now, ttl_ms))  # `cronui nodes` shows the holder on SQLite too
            if contain:
                await self._contain()
        return ok

    async def _renew_runs(self, now: int, lease_ms: int) -> None:
        """Extend our runs' leases (on the store's clock, fenced by each run's token); a run another node has
        taken over meanwhile (this process was frozen or cut off past the lease) is stopped here at once:
        its retry may already be running elsewhere."""
        ours = {run_id: a.run.fence for run_id, a in self.dispatcher.active.items()}
        kept = set(await self.store.renew_run_leases(self.node, ours, now, lease_ms))
        for run_id in ours:
            if run_id not in kept:
                self.dispatcher.cancel(run_id, "taken over by another scheduler", RunStatus.INTERRUPTED)

    async def _contain(self) -> None:
        """Stop what finished runs left behind (processes that left their group and were adopted), and take
        over runs a gone holder left running once it is safe to (recovery.py)."""
        try:
            await strays.sweep(LEADERS, self.settings.kill_grace)
        except Exception:
            log.exception("could not look for processes left behind by finished runs")
        await self._recover_orphans()

    async def _recover_orphans(self, *, look_here: bool = False) -> None:
        await recover_orphans(self, look_here=look_here)

    # ------------------------------------------------------------ one pass

    async def step(self) -> int | None:
        """Materialize due slots and start what may start. Returns the next moment there is work."""
        now = self.clock.now_ms()
        pause = await pauses.scheduler_pause(self.store, self.bus, now)
        paused = pause.paused
        await self.approvals.expire(now)  # before the claim: a run its timeout approved starts in this pass
        due = on_time_first(await self.store.due_jobs(now), now)
        # counted once written: a lookup begun after the count reads what it counts
        planned = bool(due)  # slots planned: one may wait past its time (a check's be recorded missed)
        started = 0  # runs started: one may overrun
        while due:
            due = await self.planner.materialize(due, now, paused)
            if due:  # what was planned starts now, before the rest of the catch-up is planned
                started += await self.dispatcher.dispatch(paused)
        await self.approvals.send_notices(self.clock.now_ms())
        started += await self.dispatcher.dispatch(paused)
        if planned or started:
            self._changes += 1
        if self._watching is None or self._watching.done():  # in a task of its own: it never delays a run
            self._watching = asyncio.ensure_future(self._watch())
        now = self.clock.now_ms()
        wake = pauses.sooner(await self.store.next_wakeup(now), pause)
        alert_at = None if self._alert_at is None else max(self._alert_at, now + PASS_EVERY_MS // 4)
        self._planned = alert_at if wake is None else wake if alert_at is None else min(wake, alert_at)
        return self._planned

    async def _watch(self) -> None:
        """The alerts' pass (at most once a second), then the next alert's deadline, looked up only when it
        may have moved: after a pass that ran, or when a slot was planned, a run started or a write from
        elsewhere came since the last lookup. A run's end or a step with nothing new cannot bring it nearer
        (a deadline it leaves behind is one early wake-up, whose pass looks it up again), so the lookup does
        not run once per step. A failure in either is logged and never stops scheduling."""
        try:
            if not self._adopted:
                await failure_alerts.adopt_memory(self.store, self.clock.now_ms())
                self._adopted = True
            ran = await self.watcher.tick()
            for _ in range(LOOKUPS_AT_ONCE):
                seen = self._changes
                if not ran and seen == self._looked_up:
                    return
                ran = False
                # woken for the next alert too, not only at the next lease renewal: when it falls due before
                # the wake-up planned, the loop plans again (one pass more, once)
                self._alert_at = at = await self.watcher.next_deadline(self.clock.now_ms())
                self._looked_up = seen
                if at is not None and (self._planned is None or at < self._planned):
                    self._wake.set()
            if self._changes != self._looked_up:  # still more came meanwhile: the next step looks again
                self._wake.set()
        except StoreFault as e:  # a passing fault (a connection cut, the write lock held): the next pass retries
            log.warning("the alerts' pass met a database fault; it runs again at the next wake-up: %s", e)
        except Exception:
            log.exception("the alerts' pass failed; it runs again at the next wake-up")

    def _maybe_prune(self) -> None:
        """Retention pruning runs in a task of its own, never between a renewal and a pass (retention.py)."""
        self.pruner.maybe_start()

    # ------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event, *, standby: bool = True) -> None:
        """Schedule until `stop` is set. Without the lease: wait and take over when it frees up
        (standby), or return at once (not standby).

        A database fault (StoreFault: the write lock held elsewhere, a full disk, an I/O error) is retried
        with backoff, reported (`fault`, a warning, a `scheduler` event) and, once a try succeeds, the loop
        carries on. A fault that outlasts the lease this process holds (without the lease: the lease ttl)
        raises FaultPersisted, and a database file deleted or replaced underneath raises StoreGone: the
        caller stops (the daemon exits non-zero for a supervisor to restart it)."""
        loop = asyncio.get_running_loop()
        next_renew = 0.0
        backoff = Backoff(first=FAULT_FIRST_RETRY_S, cap=min(FAULT_MAX_RETRY_S, self.settings.lease.renew))
        self.dispatcher.finisher.writes.retry_for = self.settings.lease.ttl
        stop_task = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                tried = (loop.time(), self.clock.now_ms())  # a fault began when the try that met it began
                try:
                    if loop.time() >= next_renew:
                        if self.holding:
                            await self.renew()
                        if not self.holding:
                            await self.try_acquire()
                            if not self.holding and not standby:
                                return
                        if self.holding:
                            self._renewed_at = loop.time()
                            self.monitor.ping()  # the dead-man's switch: someone schedules (never waited for)
                        next_renew = loop.time() + self.settings.lease.renew
                        if self.holding:
                            self._maybe_prune()
                    delay = next_renew - loop.time()
                    # Cleared whether or not we schedule: a standby woken by its last runs finishing (or by a
                    # poke) must sleep until its next lease attempt, not spin on a wake-up that stays set.
                    self._wake.clear()
                    if self.holding:
                        try:
                            wake_at = await self.step()
                        except StoreFault:
                            raise
                        except Exception:
                            log.exception("scheduler pass failed; retrying at the next wake-up")
                            wake_at = None
                        if wake_at is not None:
                            delay = min(delay, (wake_at - self.clock.now_ms()) / 1000)
                except StoreFault as e:
                    if e.kind == "locked" and await end_stopped_writer(
                        self.store, self.pid, self.host, self.clock.now_ms(), waited=True
                    ):
                        next_renew = 0.0  # the lock is free now: take the lease over at once
                        continue
                    delay = self._fault_retry(e, loop.time(), backoff, tried)
                    next_renew = 0.0  # the next try starts with the lease: it tells whether the fault is over
                    self._wake.clear()
                else:
                    if self.fault is not None:
                        await self._fault_cleared(loop.time())
                    backoff.reset()
                self.wakeups += 1
                wake_task = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {wake_task, stop_task}, timeout=max(0.0, delay), return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    wake_task.cancel()
        except (FaultPersisted, StoreGone) as e:
            # The lease is gone or going: ends that cannot be written are left for the next holder, which
            # records those runs interrupted; nothing waits on a database that refuses.
            self.dispatcher.finisher.writes.abort(e)
            self.bus.abandon()
            raise
        finally:
            stop_task.cancel()
            await self.pruner.stop()

    # ------------------------------------------------------------ read-only views for callers

    @property
    def running_count(self) -> int:
        """How many runs this process is executing now (none while it does not hold the lease)."""
        return len(self.dispatcher.active) if self.holding else 0

    @property
    def target_kinds(self) -> frozenset[TargetKind]:
        """The target kinds this process has an executor for."""
        return frozenset(self.dispatcher.executors)

    # ------------------------------------------------------------ database faults (the loop's)

    fault: FaultState | None = None  # the database fault being ridden out, if any
    _renewed_at: float | None = None  # monotonic time of the last lease renewal the loop made

    def _fault_retry(self, e: StoreFault, now: float, backoff: Backoff, tried: tuple[float, int]) -> float:
        """Note a failed try (begun at `tried`: loop time, wall ms); the wait before the next one. Raises
        FaultPersisted once the lease has run out."""
        if self.fault is None:
            ttl = self.settings.lease.ttl
            lease_end = self._renewed_at + ttl if self.holding and self._renewed_at is not None else None
            # A lease already run out when the first try fails was not run out by the database: the process
            # was stopped (SIGSTOP, a suspended VM) and meets a connection the server closed meanwhile. The
            # fault gets a lease's time of its own; the renewal after it says whether the lease is still this
            # process's (another may have taken over, and then this one stands by).
            if lease_end is None or lease_end <= now:
                tried, lease_end = (now, self.clock.now_ms()), now + ttl
            self.fault = FaultState(str(e), e.kind, tried[1], tried[0], lease_end)
            log.warning(
                "database fault: %s; retrying with backoff (giving up in %.1fs if it lasts)",
                e,
                max(0.0, self.fault.give_up_at - now),
            )
            self.bus.publish(
                RunEvent(
                    EventKind.SCHEDULER,
                    self.fault.since_ms,
                    data={"state": "db-fault", "node": self.node, "error": str(e), "kind": e.kind},
                )
            )
        else:
            self.fault.failed_again(str(e), e.kind)
        fault = self.fault
        if fault.exhausted(now):
            raise FaultPersisted(fault, fault.lasted(now))
        wait = min(backoff.next(), max(0.0, fault.give_up_at - now))
        if fault.failures > 1:
            log.warning(
                "database fault for %.1fs (%d failed tries): %s; next try in %.2fs",
                fault.lasted(now),
                fault.failures,
                fault.error,
                wait,
            )
        return wait

    async def _fault_cleared(self, now: float) -> None:
        """A try succeeded: report how long the fault lasted and keep a note of it for `status`."""
        fault, self.fault = self.fault, None
        if fault is None:
            return
        lasted = round(fault.lasted(now), 3)
        log.warning("database fault over after %.1fs (%d failed tries); carrying on", lasted, fault.failures)
        note = {**fault.describe(), "until": self.clock.now_ms(), "lasted_s": lasted, "node": self.node}
        self.bus.publish(
            RunEvent(
                EventKind.SCHEDULER,
                self.clock.now_ms(),
                data={"state": "db-recovered", "node": self.node, "error": fault.error, "lasted_s": lasted},
            )
        )
        try:
            await self.store.set_state(LAST_FAULT_KEY, json.dumps(note))
        except StoreError as e:  # the note is for people; the next pass meets the fault again if it is back
            log.warning("could not note the database fault for status: %s", e)
