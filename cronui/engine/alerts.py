"""Watching jobs: the evaluation pass that decides alerts in the store, the routing of each episode's
notices to channels, and the sending of the outbox in tasks with deadlines.

An episode is one occurrence of a condition (a slot late, a run overrunning, no success for too long, an
endpoint down), a row unique on (subject, kind, episode): of several nodes that see it, one records it, and
a restarted node neither repeats nor forgets it. Its opening and, when the condition clears, its recovery
are routed once to the channels the job (or `[alerts]`) names; each send is claimed by one node, retried
with backoff, and its outcome kept for `cronui alerts`. A channel that hangs or refuses holds only its own
send: the pass and the scheduler go on.

Other parts raise episodes of kinds they decide themselves with `raise_alert` / `close_alert`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import httpx

from cronui.engine import channels
from cronui.engine.clock import Clock
from cronui.model.alerts import (
    FAILED,
    NOTICE_FIELDS,
    SENT,
    AlertDefaults,
    AlertEpisode,
    AlertKind,
    AlertSend,
    job_subject,
)
from cronui.model.failures import RECOVERED_TEXT
from cronui.store.alerts import Candidate
from cronui.store.base import Store
from cronui.store.faults import StoreFault
from cronui.timefmt import human_span, iso_utc

log = logging.getLogger(__name__)


PASS_EVERY_MS = 1000  # the evaluation runs at most this often (the scheduler's loop may wake more)
PASS_LIMIT = 500  # conditions one pass records; the rest wait for the next
# no_success is looked for at most this often: it is the one part of the pass that reads every watched job's
# latest success (its spans are hours or days, so a minute more is nothing), the rest runs every pass
LAPSES_EVERY_MS = 60_000
SEND_ATTEMPTS = 5
SEND_BACKOFF_MS = 30_000  # the first pause before a failed send is tried again, doubling
SEND_LEASE_MS = 120_000  # a claimed send another node may take over after this (its sender died)
SENDS_AT_ONCE = 20

MARKS = {
    AlertKind.LATE: "⏰",
    AlertKind.OVERRUN: "🐢",
    AlertKind.SHORT: "⚡",
    AlertKind.NO_SUCCESS: "🕳",
    AlertKind.DEGRADED: "📉",
    AlertKind.FAILURE: "🚨",
    AlertKind.INFRA: "🔌",
    AlertKind.RECOVERED: "✅",
}


def _now() -> int:
    return int(time.time() * 1000)


async def raise_alert(
    store: Store,
    subject: str,
    kind: AlertKind | str,
    episode: str,
    text: str,
    data: Mapping[str, Any] | None = None,
    job_id: int | None = None,
    *,
    now: int | None = None,
) -> bool:
    """Open an episode of `kind` for `subject` (`job:ID`, an endpoint, ...) — once, however often and by
    however many nodes it is raised. True when this call opened it. Its notices are routed and sent by the
    process holding the scheduler."""
    at = _now() if now is None else now
    e = AlertEpisode(subject, AlertKind(kind), episode, text, at, job_id, dict(data or {}))
    return bool(await store.open_alerts([e]))


async def close_alert(
    store: Store, subject: str, kind: AlertKind | str, episode: str | None = None, *, now: int | None = None
) -> int:
    """Close the open episodes of `kind` for `subject` (one `episode`, or all): each sends `recovered`.
    Returns how many this call closed."""
    return len(await store.close_alerts(subject, str(kind), _now() if now is None else now, episode))


def candidate_text(c: Candidate, now: int) -> str:
    """What an evaluated condition's notice says."""
    name = c.job_name or f"job {c.job_id}"
    if c.kind is AlertKind.LATE:
        return f"⏰ {name}: the slot of {iso_utc(c.since)} has not started ({human_span(now - c.since)} late)"
    if c.kind is AlertKind.OVERRUN:
        return f"🐢 {name}: run #{c.run_id} still running after {human_span(now - c.since)}"
    return f"🕳 {name}: no successful run since {iso_utc(c.since)} ({human_span(now - c.since)})"


class Watcher:
    """The scheduling process's part: evaluate, route, send."""

    def __init__(
        self,
        store: Store,
        defaults: Callable[[], AlertDefaults],
        clock: Clock,
        node: str,
        http: Callable[[], httpx.AsyncClient],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.defaults = defaults
        self.clock = clock
        self.node = node
        self.http = http
        self.spawn = spawn
        self.env = env
        self._last_pass = -PASS_EVERY_MS
        self._last_lapses = -LAPSES_EVERY_MS
        self._sending: set[int] = set()

    async def tick(self) -> bool:
        """One pass when it is due: evaluate, route what is new, start sending what is due. True when a
        pass ran."""
        now = self.clock.now_ms()
        if 0 <= now - self._last_pass < PASS_EVERY_MS:  # a wall clock set back does not hold passes off
            return False
        self._last_pass = now
        await self.evaluate(now)
        await self.route(now)
        await self.start_sends(now)
        return True

    async def evaluate(self, now: int) -> tuple[int, int]:
        """The one query over every job, then the episodes it found opened or closed: (opened, closed)."""
        lapses = not 0 <= now - self._last_lapses < LAPSES_EVERY_MS  # (or the wall clock was set back)
        if lapses:
            self._last_lapses = now
        found = await self.store.alert_candidates(now, self.defaults(), PASS_LIMIT, lapses)
        opens = [
            AlertEpisode(
                job_subject(c.job_id or 0),
                c.kind,
                c.episode,
                candidate_text(c, now),
                now,
                c.job_id,
                {"since": c.since, "run_id": c.run_id},
                run_id=c.run_id,
                since=c.since,
            )
            for c in found
            if c.action == "open"
        ]
        # closed first: a lapse of no_success that ended and began again is one episode closed, one opened
        # (the store keeps one open at a time)
        gone = [c.episode_id for c in found if c.action == "close" and c.episode_id is not None]
        closed = await self.store.close_alerts("", "", now, ids=gone) if gone else []
        opened = await self.store.open_alerts(opens) if opens else []
        return len(opened), len(closed)

    async def route(self, now: int) -> int:
        """Queue the sends of every notice not routed yet; returns how many were queued."""
        queued = 0
        defaults = self.defaults()
        for u in await self.store.unrouted_alerts():
            assert u.episode.id is not None
            targets = channels.routes(u.delivery, u.notice, str(u.episode.kind), defaults, u.on)
            queued += await self.store.route_alert(u.episode.id, u.notice, targets, now)
        return queued

    async def start_sends(self, now: int) -> None:
        """Claim the sends that are due and send each in a task of its own."""
        for s in await self.store.take_alert_sends(self.node, now, SEND_LEASE_MS, SENDS_AT_ONCE):
            if s.id in self._sending:
                continue
            self._sending.add(s.id)
            self.spawn(self._send(s))

    async def _send(self, s: AlertSend) -> None:
        try:
            title = f"cronui: {s.job_name or s.subject} {s.notice}"
            text = s.text if s.notice != AlertKind.RECOVERED else s.data.get(RECOVERED_TEXT) or _recovered(s)
            body = {"job": s.job_name, "alert": text, "kind": s.notice, "subject": s.subject, "text": text}
            if s.format in ("slack",):
                body = {"text": text}
            elif s.format == "discord":
                body = {"content": text}
            elif s.format == "json":
                extra = s.data.get(NOTICE_FIELDS) if s.notice != AlertKind.RECOVERED else None
                body = {**(extra if isinstance(extra, dict) else {})}
                body.update(job=s.job_name, alert=text, kind=s.notice, subject=s.subject)
            env = os.environ if self.env is None else self.env
            ok, answer = await channels.send(self.http(), s.channel, s.format, title, body, env)
            now = self.clock.now_ms()
            if ok:
                await self.store.record_alert_send(s.id, self.node, SENT, answer, now, None)
                return
            retry = None if s.attempts + 1 >= SEND_ATTEMPTS else now + SEND_BACKOFF_MS * 2**s.attempts
            await self.store.record_alert_send(s.id, self.node, FAILED, answer, now, retry)
            log.warning("alert to %s not sent: %s", channels.shown(s.channel), answer)
        except StoreFault as e:  # its claim lapses and the send is taken again
            log.warning("alert send %s met a database fault; it is tried again: %s", s.id, e)
        except Exception:
            log.exception("alert send %s failed unexpectedly", s.id)
        finally:
            self._sending.discard(s.id)

    async def next_deadline(self, now: int) -> int | None:
        """When the holder should wake for alerts: the moment the next waiting slot turns late, the next
        running run overruns, or a check's slot with no ping turns late (its grace, or its own late span)
        (no_success rides on the lease renewal's wake-ups: its spans are hours or days), never sooner than
        the next pass may run, nor than a quarter of a pass from now (a pass under way has not recorded what
        is due yet). None: nothing to wake for."""
        at = await self.store.next_alert_at(self.defaults())
        if at is None:
            return None
        return max(at, self._last_pass + PASS_EVERY_MS, now + PASS_EVERY_MS // 4)

    async def send_now(self) -> None:
        """Route what is new and start the sends that are due now, between passes: a run's end that opened
        or closed an episode is told at once, as a post right after the run was."""
        now = self.clock.now_ms()
        await self.route(now)
        await self.start_sends(now)

    async def drain_now(self) -> None:
        """A pass now, whenever the last one was (tests; `cronui alerts` run by hand)."""
        self._last_pass = self.clock.now_ms() - PASS_EVERY_MS
        self._last_lapses = self.clock.now_ms() - LAPSES_EVERY_MS
        await self.tick()


def _recovered(s: AlertSend) -> str:
    what = s.text.split(": ", 1)[0].lstrip("⏰🐢🕳📉🚨🔌⚡ ")
    return f"✅ {what}: recovered ({s.kind} cleared)"
