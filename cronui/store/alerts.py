"""Alerts as both SQL backends decide and keep them: one query per pass over every job finds the
conditions that began (a slot late, a run overrunning, no success for too long) and the open episodes whose
condition cleared; episodes are rows unique on (subject, kind, episode), so of several nodes that see the
same condition one records it; sends are an outbox unique on (episode, notice, channel), claimed with a
lease (SKIP LOCKED on PostgreSQL) so each goes out once, retried with backoff, with its outcome kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cronui.model import DEFAULT_GRACE_S
from cronui.model.alerts import FAILED, PENDING, SENT, AlertDefaults, AlertEpisode, AlertKind, AlertSend, job_subject
from cronui.model.failures import FailureStep
from cronui.store.dialect import Tx
from cronui.store.sql_writes import SqlWrites

SUBJECT = "'job:' || CAST(j.id AS TEXT)"
NONE = "CAST(NULL AS BIGINT)"  # typed, so that PostgreSQL matches the UNION's columns


# a ping of the job at or after a moment (through the index of pings by job and time)
PINGED = "SELECT 1 FROM runs r WHERE r.job_id = {job} AND r.trigger = 'ping' AND r.queued_at >= {since}"


def _unseen(kind: str, episode: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM alert_episodes e WHERE e.subject = {SUBJECT} AND e.kind = '{kind}' "
        f"AND e.episode = {episode})"
    )


# Every part returns: action, kind, job id, job name, episode, since (epoch ms), run id, episode id.
# Spans are the job's own or the `[alerts]` default (a parameter; NULL: none).
_LATE_RUNS = (
    "SELECT 'open', 'late', r.job_id, (SELECT j.name FROM jobs j WHERE j.id = r.job_id), "
    "CAST(r.scheduled_for AS TEXT), r.scheduled_for, r.id, CAST(NULL AS BIGINT) FROM runs r "
    "WHERE r.status IN ('pending', 'awaiting_approval') AND r.scheduled_for <= ? "
    "AND r.trigger IN ('schedule', 'catchup') "
    # the job's span in a scalar subquery, not a join: looked up for the few slots waiting past their time
    # only (a join had PostgreSQL hash every job, as it cannot tell how few those are)
    "AND r.scheduled_for + CAST((SELECT COALESCE(j.alert_late_s, ?) FROM jobs j WHERE j.id = r.job_id "
    "AND j.deleted_at IS NULL) * 1000 AS BIGINT) <= ? "
    "AND NOT EXISTS (SELECT 1 FROM alert_episodes e WHERE e.subject = 'job:' || CAST(r.job_id AS TEXT) "
    "AND e.kind = 'late' AND e.episode = CAST(r.scheduled_for AS TEXT))"
)
# a check's grace is its `late` span when it sets no --alert-late of its own (over `[alerts] late`): a slot
# with no ping within it is late whatever else is set
CHECK_LATE_S = f"CASE WHEN j.is_check = 1 THEN COALESCE(j.grace_s, {DEFAULT_GRACE_S}) END"
# a slot not even written (no scheduler holds the lease, or a check's slot still waiting for its ping): the
# job's next fire is long past
_LATE_JOBS = (
    f"SELECT 'open', 'late', j.id, j.name, CAST(j.next_run_at AS TEXT), j.next_run_at, {NONE}, {NONE} FROM jobs j "
    "WHERE j.deleted_at IS NULL AND j.enabled = 1 AND j.next_run_at <= ? "
    f"AND COALESCE(j.alert_late_s, {CHECK_LATE_S}, ?) IS NOT NULL "
    f"AND j.next_run_at + CAST(COALESCE(j.alert_late_s, {CHECK_LATE_S}, ?) * 1000 AS BIGINT) <= ? "
    f"AND {_unseen('late', 'CAST(j.next_run_at AS TEXT)')}"
)
# a check's slot the scheduler recorded missed (its grace passed with no ping) before a pass saw it late, or
# late only later (its --alert-late longer than its grace): its latest slot row (one index seek per check,
# through the checks' own index), late once its span passed with no ping since
_LATE_CHECKS = (
    f"SELECT 'open', 'late', x.id, x.name, CAST(x.slot AS TEXT), x.slot, {NONE}, {NONE} FROM ("
    f"SELECT j.id, j.name, COALESCE(j.alert_late_s, {CHECK_LATE_S}) AS span, (SELECT MAX(r.scheduled_for) "
    "FROM runs r WHERE r.job_id = j.id AND r.trigger IN ('schedule', 'catchup')) AS slot "
    "FROM jobs j WHERE j.deleted_at IS NULL AND j.enabled = 1 AND j.is_check = 1 AND j.next_run_at IS NOT NULL"
    ") x WHERE x.slot + CAST(x.span * 1000 AS BIGINT) <= ? "
    "AND EXISTS (SELECT 1 FROM runs r WHERE r.job_id = x.id AND r.scheduled_for = x.slot "
    "AND r.trigger IN ('schedule', 'catchup') AND r.status = 'skipped' AND r.reason = 'missed') "
    f"AND NOT EXISTS ({PINGED.format(job='x.id', since='x.slot')}) "
    "AND NOT EXISTS (SELECT 1 FROM alert_episodes e WHERE e.subject = 'job:' || CAST(x.id AS TEXT) "
    "AND e.kind = 'late' AND e.episode = CAST(x.slot AS TEXT))"
)
_OVERRUN = (
    "SELECT 'open', 'overrun', j.id, j.name, CAST(r.id AS TEXT), r.started_at, r.id, CAST(NULL AS BIGINT) "
    "FROM runs r JOIN jobs j ON j.id = r.job_id "
    "WHERE r.status = 'running' AND r.started_at <= ? AND j.deleted_at IS NULL "
    "AND COALESCE(j.alert_overrun_s, ?) IS NOT NULL "
    "AND r.started_at + CAST(COALESCE(j.alert_overrun_s, ?) * 1000 AS BIGINT) <= ? "
    f"AND {_unseen('overrun', 'CAST(r.id AS TEXT)')}"
)
# since: the latest success (or the job's creation); the episode is that moment, so each lapse is one. The
# jobs with a success within their span are left out first (one index seek each, no MAX), so the latest
# success is looked up only for the few that lapsed.
_NO_SUCCESS = (
    f"SELECT 'open', 'no_success', x.id, x.name, CAST(x.since AS TEXT), x.since, {NONE}, {NONE} FROM ("
    "SELECT j.id, j.name, COALESCE((SELECT MAX(r.finished_at) FROM runs r WHERE r.job_id = j.id "
    "AND r.status = 'succeeded'), j.created_at) AS since "
    "FROM jobs j WHERE j.deleted_at IS NULL AND j.enabled = 1 AND COALESCE(j.alert_no_success_s, ?) IS NOT NULL "
    "AND j.created_at + CAST(COALESCE(j.alert_no_success_s, ?) * 1000 AS BIGINT) <= ? "
    "AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.job_id = j.id AND r.status = 'succeeded' "
    "AND r.finished_at > ? - CAST(COALESCE(j.alert_no_success_s, ?) * 1000 AS BIGINT))"
    ") x WHERE NOT EXISTS (SELECT 1 FROM alert_episodes e WHERE e.subject = 'job:' || CAST(x.id AS TEXT) "
    "AND e.kind = 'no_success' AND e.episode = CAST(x.since AS TEXT))"
)
# open episodes whose condition cleared: the slot started (or went), the run ended, a success came
_CLEARED = (
    "SELECT 'close', e.kind, e.job_id, j.name, e.episode, e.since, e.run_id, e.id "
    "FROM alert_episodes e LEFT JOIN jobs j ON j.id = e.job_id "
    "WHERE e.closed_at IS NULL AND e.kind IN ('late', 'overrun', 'no_success') AND e.job_id IS NOT NULL AND ("
    "j.id IS NULL OR j.deleted_at IS NOT NULL "
    "OR (e.kind = 'late' AND j.is_check = 0 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.job_id = e.job_id "
    "AND r.scheduled_for = e.since AND r.status IN ('pending', 'awaiting_approval')) "
    "AND NOT (j.enabled = 1 AND COALESCE(j.next_run_at, -1) = e.since)) "
    # a check's slot is never started: its late clears when a ping comes (its slot being recorded missed
    # is no recovery), or when the check is paused
    "OR (e.kind = 'late' AND j.is_check = 1 AND (j.enabled = 0 "
    f"OR EXISTS ({PINGED.format(job='e.job_id', since='e.since')}))) "
    "OR (e.kind = 'overrun' AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = e.run_id AND r.status = 'running')) "
    "OR (e.kind = 'no_success' AND EXISTS (SELECT 1 FROM runs r WHERE r.job_id = e.job_id "
    "AND r.status = 'succeeded' AND r.finished_at > e.since)))"
)
_LATE = f"{_LATE_RUNS} UNION ALL {_LATE_JOBS} UNION ALL {_LATE_CHECKS}"
EVALUATE = f"SELECT * FROM ({_LATE} UNION ALL {_OVERRUN} UNION ALL {_NO_SUCCESS} "
EVALUATE += f"UNION ALL {_CLEARED}) found LIMIT ?"
# without the lapses (no success for too long): the only part that looks at every watched job's runs, one
# index seek each (about 5 ms per 10,000 jobs on SQLite, more on PostgreSQL), so the watcher asks for it
# less often than for the rest (engine/alerts.py: LAPSES_EVERY_MS)
EVALUATE_SOON = f"SELECT * FROM ({_LATE} UNION ALL {_OVERRUN} "
EVALUATE_SOON += f"UNION ALL {_CLEARED}) found LIMIT ?"

EPISODE_COLUMNS = "id, subject, kind, episode, job_id, text, data, opened_at, closed_at, run_id, since"
EPISODE_INSERT = (
    "INSERT INTO alert_episodes (subject, kind, episode, job_id, text, data, opened_at, run_id, since, closed_at, "
    "opened_routed, closed_routed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"
)
# the alert state jobs kept in their memory before episodes kept it (engine/failure_alerts.py adopts it)
_MEMORY_ALERTS = (
    "SELECT m.job_id, m.key, m.value, j.name, CASE WHEN j.deleted_at IS NULL THEN 1 ELSE 0 END "
    "FROM job_memory m JOIN jobs j ON j.id = m.job_id WHERE m.key {keys} ORDER BY m.job_id, m.key LIMIT ?"
)
_UNROUTED = (
    f"SELECT e.{EPISODE_COLUMNS.replace(', ', ', e.')}, e.opened_routed, j.name, j.delivery, j.alert_on, "
    "e.closed_routed "
    "FROM alert_episodes e LEFT JOIN jobs j ON j.id = e.job_id "
    "WHERE e.opened_routed = 0 OR (e.closed_at IS NOT NULL AND e.closed_routed = 0) ORDER BY e.id LIMIT ?"
)
SEND_COLUMNS = "id episode_id notice channel format created_at next_at attempts outcome answer sent_at".split()
_SEND_SELECT = (
    f"SELECT {', '.join('s.' + c for c in SEND_COLUMNS)}, e.subject, e.kind, e.text, e.job_id, j.name, e.data "
    "FROM alert_sends s JOIN alert_episodes e ON e.id = s.episode_id LEFT JOIN jobs j ON j.id = e.job_id"
)


# one open episode closed, its data replaced when given; quiet: its recovery is never routed
CLOSE_EPISODE = (
    "UPDATE alert_episodes SET closed_at = ?, data = COALESCE(?, data), "
    "closed_routed = CASE WHEN ? = 1 THEN 1 ELSE closed_routed END WHERE id = ? AND closed_at IS NULL"
)


def close_values(episode_id: int, now: int, data: dict[str, Any] | None, quiet: bool) -> tuple[Any, ...]:
    return (now, None if data is None else json.dumps(data), 1 if quiet else 0, episode_id)


def episode_values(e: AlertEpisode, told: bool = False) -> tuple[Any, ...]:
    """EPISODE_INSERT's parameters for `e` (`told`: its opening is not routed)."""
    closed = 0 if e.closed_at is None else 1  # one recorded closed (a notice) has no recovery to route
    row = (e.subject, str(e.kind), e.episode, e.job_id, e.text, json.dumps(e.data), e.opened_at, e.run_id, e.since)
    return (*row, e.closed_at, 1 if told else 0, closed)


async def write_failure_step(tx: Tx, step: FailureStep, now: int) -> int:
    """Write a job's `failure` step (model.failures) in the caller's transaction; how many notices it made
    (an episode opened, a recovery to tell): the process holding the scheduler routes and sends them."""
    told = 0
    for c in step.close:
        changed = await tx.run(CLOSE_EPISODE, close_values(c.episode_id, now, c.data, c.quiet))
        told += 1 if changed and not c.quiet else 0
    if step.open is not None and await tx.row(EPISODE_INSERT, episode_values(step.open)) is not None:
        told += 1
    return told


async def open_failure_episodes(tx: Tx, job_id: int) -> list[AlertEpisode]:
    """The job's open `failure` episodes, read in the caller's transaction."""
    sql = f"SELECT {EPISODE_COLUMNS} FROM alert_episodes WHERE subject = ? AND kind = 'failure' AND closed_at IS NULL"
    return [episode_from_row(r) for r in await tx.rows(sql + " ORDER BY id", (job_subject(job_id),))]


@dataclass
class Candidate:
    """A row of EVALUATE: a condition that began (`open`) or an open episode whose condition cleared."""

    action: str
    kind: AlertKind
    job_id: int | None
    job_name: str | None
    episode: str
    since: int
    run_id: int | None
    episode_id: int | None


@dataclass
class Unrouted:
    """An episode whose opening or recovery has no sends yet, with what routing needs of its job."""

    episode: AlertEpisode
    notice: str  # the episode's kind, or `recovered`
    delivery: dict[str, Any]
    on: list[str] | None = None  # the job's `--alert-on` (None: `[alerts] on`)


def episode_from_row(row: Sequence[Any]) -> AlertEpisode:
    id_, subject, kind, episode, job_id, text, data, opened_at, closed_at, run_id, since = row[:11]
    return AlertEpisode(
        subject,
        AlertKind(kind),
        episode,
        text,
        opened_at,
        job_id,
        json.loads(data or "{}"),
        closed_at,
        id_,
        run_id=run_id,
        since=since,
    )


def _send(row: Sequence[Any]) -> AlertSend:
    values = dict(zip(SEND_COLUMNS, row[: len(SEND_COLUMNS)], strict=True))
    subject, kind, text, job_id, job_name, data = row[len(SEND_COLUMNS) :]
    return AlertSend(
        **values, subject=subject, kind=kind, text=text, job_id=job_id, job_name=job_name, data=json.loads(data or "{}")
    )


class SqlAlerts(SqlWrites):
    """Deciding, recording, routing and sending alerts, the same way on each engine."""

    async def alert_candidates(
        self, now: int, defaults: AlertDefaults, limit: int = 500, lapses: bool = True
    ) -> list[Candidate]:
        """The one query of an evaluation pass: conditions that began and episodes that cleared, at most
        `limit` of them (the rest are found by the next pass); without `lapses`, no_success is not looked
        for (its episodes still clear)."""
        d = defaults
        params: list[Any] = [now, d.late_s, now, now, d.late_s, d.late_s, now, now]
        params += [now, d.overrun_s, d.overrun_s, now]
        if lapses:
            params += [d.no_success_s, d.no_success_s, now, now, d.no_success_s]
        rows = await self.select_rows(EVALUATE if lapses else EVALUATE_SOON, [*params, limit])
        return [Candidate(r[0], AlertKind(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    async def open_alerts(self, episodes: Sequence[AlertEpisode], told: bool = False) -> list[AlertEpisode]:
        """Record episodes (one already recorded, by this node or another, is left alone, and so is a second
        open episode of a continuous kind for the same subject: ddl's `alert_episodes_one_open`); returns
        those this call recorded, with their ids. An episode given its `closed_at` is a notice with no
        recovery (a spent budget, a retry planned): its opening is routed, nothing when it closes. `told`:
        their openings were told already (an alert state adopted from a job's memory), none is routed."""
        opened = []
        async with self.write() as tx:
            for e in episodes:
                row = await tx.row(EPISODE_INSERT, episode_values(e, told))
                if row is not None:
                    e.id = row[0]
                    opened.append(e)
        return opened

    async def memory_alerts(self, keys: Sequence[str], limit: int = 500) -> list[tuple[int, str, Any, str, bool]]:
        """(job id, key, value, job name, job live) of the job memory entries under `keys`, at most `limit`
        of them: alert state kept before episodes were, read (and then forgotten) by a scheduler that starts."""
        among, values = self.dialect.in_list(list(keys))
        rows = await self.select_rows(_MEMORY_ALERTS.format(keys=among), [*values, limit])
        return [(r[0], r[1], json.loads(r[2]), r[3], bool(r[4])) for r in rows]

    async def close_alerts(
        self, subject: str, kind: str, now: int, episode: str | None = None, ids: Sequence[int] = ()
    ) -> list[int]:
        """Close the open episodes of `subject` and `kind` (one `episode`, or all), or those of `ids`; returns
        the ids this call closed (a recovery is sent for each)."""
        closed: list[int] = []
        async with self.write() as tx:
            if ids:
                for i in ids:
                    rows = await tx.rows(
                        "UPDATE alert_episodes SET closed_at = ? WHERE id = ? AND closed_at IS NULL RETURNING id",
                        (now, i),
                    )
                    closed += [r[0] for r in rows]
                return closed
            sql = "UPDATE alert_episodes SET closed_at = ? WHERE subject = ? AND kind = ? AND closed_at IS NULL"
            params: list[Any] = [now, subject, kind]
            if episode is not None:
                sql += " AND episode = ?"
                params.append(episode)
            rows = await tx.rows(sql + " RETURNING id", params)
        return [r[0] for r in rows]

    async def close_alert_episode(
        self, episode_id: int, now: int, data: dict[str, Any] | None = None, quiet: bool = False
    ) -> bool:
        """Close one open episode, its data replaced by `data` when given; `quiet`: its recovery is never
        sent (one episode ended to make way for the next of the same condition). True when this call closed
        it."""
        row = await self.write_one(CLOSE_EPISODE, close_values(episode_id, now, data, quiet))
        return bool(row)

    async def unrouted_alerts(self, limit: int = 100) -> list[Unrouted]:
        """Episodes whose opening or recovery no channel was chosen for yet."""
        out = []
        for row in await self.select_rows(_UNROUTED, (limit,)):
            e = episode_from_row(row)
            e.job_name = row[12]
            delivery = json.loads(row[13] or "{}")
            on = None if row[14] is None else json.loads(row[14])
            if not row[11]:
                out.append(Unrouted(e, str(e.kind), delivery, on))
            if e.closed_at is not None and not row[15]:  # one closed quietly has no recovery to route
                out.append(Unrouted(e, str(AlertKind.RECOVERED), delivery, on))
        return out

    async def route_alert(
        self, episode_id: int, notice: str, channels: Sequence[tuple[str, str | None]], now: int
    ) -> int:
        """Mark a notice routed and queue one send per (channel, format), together and once: of two nodes
        routing it, the one whose mark took queues them. Returns how many sends this call queued."""
        column = "closed_routed" if notice == AlertKind.RECOVERED else "opened_routed"
        async with self.write() as tx:
            took = await tx.run(f"UPDATE alert_episodes SET {column} = 1 WHERE id = ? AND {column} = 0", (episode_id,))
            if not took:
                return 0
            for channel, fmt in channels:
                await tx.run(
                    "INSERT INTO alert_sends (episode_id, notice, channel, format, created_at, next_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (episode_id, notice, channel) DO NOTHING",
                    (episode_id, notice, channel, fmt, now, now),
                )
        return len(channels)

    async def take_alert_sends(self, node: str, now: int, lease_ms: int, limit: int = 20) -> list[AlertSend]:
        """Claim sends that are due (not sent, not failed for good, not held by a live claim) for `node`."""
        d = self.dialect
        due = "outcome = 'pending' AND next_at <= ? AND (claim_expires IS NULL OR claim_expires <= ?)"
        if not await self.select_rows(f"SELECT 1 FROM alert_sends WHERE {due} LIMIT 1", (now, now)):
            return []  # a read first: a pass with nothing due writes nothing (a write is a commit, an fsync)
        async with self.write() as tx:
            rows = await tx.rows(
                "UPDATE alert_sends SET claimed_by = ?, claim_expires = ? WHERE id IN (SELECT id FROM alert_sends "
                "WHERE outcome = 'pending' AND next_at <= ? AND (claim_expires IS NULL OR claim_expires <= ?) "
                f"ORDER BY next_at LIMIT ?{d.skip_locked}) RETURNING id",
                (node, now + lease_ms, now, now, limit),
            )
            if not rows:
                return []
            among, values = d.in_list([r[0] for r in rows])
            found = await tx.rows(f"{_SEND_SELECT} WHERE s.id {among} ORDER BY s.id", values)
        return [_send(r) for r in found]

    async def record_alert_send(
        self, send_id: int, node: str, outcome: str, answer: str | None, now: int, retry_at: int | None
    ) -> bool:
        """Record one attempt of a send held by `node`: `sent`, or `failed` (for good when `retry_at` is
        None, else pending again from `retry_at`)."""
        if outcome == SENT:
            sql, params = "outcome = ?, sent_at = ?", [SENT, now]
        elif retry_at is None:
            sql, params = "outcome = ?", [FAILED]
        else:
            sql, params = "outcome = ?, next_at = ?", [PENDING, retry_at]
        changed = await self.write_one(
            f"UPDATE alert_sends SET {sql}, attempts = attempts + 1, answer = ?, claimed_by = NULL, "
            "claim_expires = NULL WHERE id = ? AND claimed_by = ?",
            [*params, answer, send_id, node],
        )
        return bool(changed)

    async def list_alert_sends(self, limit: int = 100, job_id: int | None = None) -> list[AlertSend]:
        """The latest sends, newest first (of one job's episodes, or of all)."""
        where, params = ("WHERE e.job_id = ? ", [job_id]) if job_id is not None else ("", [])
        rows = await self.select_rows(f"{_SEND_SELECT} {where}ORDER BY s.id DESC LIMIT ?", [*params, limit])
        return [_send(r) for r in rows]

    async def open_alert_episodes(self, job_ids: Sequence[int] | None = None) -> list[AlertEpisode]:
        """The episodes open now (of some jobs, or of all): what each job's health says."""
        sql = f"SELECT {EPISODE_COLUMNS} FROM alert_episodes WHERE closed_at IS NULL"
        params: list[Any] = []
        if job_ids is not None:
            if not job_ids:
                return []
            among, params = self.dialect.in_list(list(job_ids))
            sql += f" AND job_id {among}"
        return [episode_from_row(r) for r in await self.select_rows(sql + " ORDER BY id", params)]

    async def list_alert_episodes(
        self, limit: int = 50, job_id: int | None = None
    ) -> list[tuple[AlertEpisode, list[AlertSend]]]:
        """The latest episodes, newest first (of one job, or of all), each with its sends in the order they
        were queued: two queries, whatever the history's size."""
        where, params = ("WHERE e.job_id = ? ", [job_id]) if job_id is not None else ("", [])
        rows = await self.select_rows(
            f"SELECT e.{EPISODE_COLUMNS.replace(', ', ', e.')}, j.name FROM alert_episodes e "
            f"LEFT JOIN jobs j ON j.id = e.job_id {where}ORDER BY e.id DESC LIMIT ?",
            [*params, limit],
        )
        episodes = []
        for row in rows:
            e = episode_from_row(row)
            e.job_name = row[11]
            episodes.append(e)
        if not episodes:
            return []
        among, values = self.dialect.in_list([e.id for e in episodes])
        sends: dict[int, list[AlertSend]] = {}
        for s in map(_send, await self.select_rows(f"{_SEND_SELECT} WHERE s.episode_id {among} ORDER BY s.id", values)):
            sends.setdefault(s.episode_id, []).append(s)
        return [(e, sends.get(e.id or 0, [])) for e in episodes]

    async def next_alert_at(self, defaults: AlertDefaults) -> int | None:
        """The earliest moment a slot waiting now turns late, a run running now overruns, or a check's slot
        with no ping turns late (of those not alerted yet), so that the process holding the scheduler wakes
        for it: read through the waiting slots, the running runs and the checks only (one index seek per
        check, as the pass's own), never every job's history."""
        row = await self.select_one(NEXT_ALERT_AT, (defaults.late_s, defaults.overrun_s))
        return None if row is None or row[0] is None else int(row[0])


# When the next alert may fall due (`next_alert_at`): the parts of _LATE_RUNS, _OVERRUN, _LATE_JOBS and
# _LATE_CHECKS that lie ahead, each moment one not alerted yet. A check's parts: its next slot late by its
# span (a ping moves it on; after its grace the slot is recorded missed), and its latest slot, recorded
# missed with no ping since, late by its span (which may outlast the grace).
_WAITING_LATE = (
    "SELECT r.scheduled_for + CAST((SELECT COALESCE(j.alert_late_s, ?) FROM jobs j WHERE j.id = r.job_id "
    "AND j.deleted_at IS NULL) * 1000 AS BIGINT) AS t FROM runs r "
    "WHERE r.status IN ('pending', 'awaiting_approval') AND r.trigger IN ('schedule', 'catchup') "
    "AND NOT EXISTS (SELECT 1 FROM alert_episodes e WHERE e.subject = 'job:' || CAST(r.job_id AS TEXT) "
    "AND e.kind = 'late' AND e.episode = CAST(r.scheduled_for AS TEXT))"
)
_RUNNING_OVERRUN = (
    "SELECT r.started_at + CAST((SELECT COALESCE(j.alert_overrun_s, ?) FROM jobs j "
    "WHERE j.id = r.job_id AND j.deleted_at IS NULL) * 1000 AS BIGINT) FROM runs r WHERE r.status = 'running' "
    "AND NOT EXISTS (SELECT 1 FROM alert_episodes e WHERE e.subject = 'job:' || CAST(r.job_id AS TEXT) "
    "AND e.kind = 'overrun' AND e.episode = CAST(r.id AS TEXT))"
)
_CHECKS_WATCHED = (
    "FROM jobs j WHERE j.deleted_at IS NULL AND j.enabled = 1 AND j.is_check = 1 AND j.next_run_at IS NOT NULL"
)
_CHECK_NEXT_LATE = (
    f"SELECT j.next_run_at + CAST(COALESCE(j.alert_late_s, {CHECK_LATE_S}) * 1000 AS BIGINT) {_CHECKS_WATCHED} "
    f"AND {_unseen('late', 'CAST(j.next_run_at AS TEXT)')}"
)
_CHECK_MISSED_LATE = (
    "SELECT x.slot + CAST(x.span * 1000 AS BIGINT) FROM ("
    f"SELECT j.id, COALESCE(j.alert_late_s, {CHECK_LATE_S}) AS span, (SELECT MAX(r.scheduled_for) "
    f"FROM runs r WHERE r.job_id = j.id AND r.trigger IN ('schedule', 'catchup')) AS slot {_CHECKS_WATCHED}"
    ") x WHERE EXISTS (SELECT 1 FROM runs r WHERE r.job_id = x.id AND r.scheduled_for = x.slot "
    "AND r.trigger IN ('schedule', 'catchup') AND r.status = 'skipped' AND r.reason = 'missed') "
    f"AND NOT EXISTS ({PINGED.format(job='x.id', since='x.slot')}) "
    "AND NOT EXISTS (SELECT 1 FROM alert_episodes e WHERE e.subject = 'job:' || CAST(x.id AS TEXT) "
    "AND e.kind = 'late' AND e.episode = CAST(x.slot AS TEXT))"
)
NEXT_ALERT_AT = (
    f"SELECT MIN(t) FROM ({_WAITING_LATE} UNION ALL {_RUNNING_OVERRUN} UNION ALL {_CHECK_NEXT_LATE} "
    f"UNION ALL {_CHECK_MISSED_LATE}) w"
)
