"""The demo's alerts (developer tooling, beside demo_data.py): a few episodes, open and closed, that give
the demo jobs a health other than `ok`, and the notices sent for them, each already sent or failed for
good, so that the engine of a demo app has nothing left to route or send.

Health they give: nightly-backup `degraded`, report-weekly `no_success` (health-api and invoice-run are
`failing` from their last runs); nightly-backup's failure episode and the billing endpoint's infra episode
have recovered.
"""

from __future__ import annotations

from cronui.model import Job, RunStatus
from cronui.model.alerts import FAILED, SENT, AlertEpisode, AlertKind, job_subject
from cronui.model.records import RunFilter
from cronui.store.base import Store

MIN = 60_000
HOUR = 60 * MIN

MAIL = "mailto://ops:s3cret-pass@mail.example.com?to=oncall@example.com"
TELEGRAM = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567"
SLACK = "${env:SLACK_HOOK}"
NTFY = "ntfy://ntfy.sh/cronui-demo-alerts"

UNAUTHORIZED = '{"ok":false,"error_code":401,"description":"Unauthorized: bot token is invalid or was revoked"}'


async def _episode(store: Store, e: AlertEpisode) -> int:
    [opened] = await store.open_alerts([e])
    assert opened.id is not None
    return opened.id


Outcome = tuple[str, str, int]  # a channel, what it answered, attempts (negative: all failed, the last for good)


async def _sent(store: Store, node: str, episode_id: int, notice: str, at: int, *outcomes: Outcome) -> None:
    """One notice, queued at `at` for each channel, then its attempts a few seconds apart (each claim is
    short, so that a send claimed with another is claimed again for its own attempt)."""
    await store.route_alert(episode_id, notice, [(channel, None) for channel, _, _ in outcomes], at)
    now = at
    for channel, answer, tries in outcomes:
        attempts = abs(tries) or 1
        for i in range(attempts):
            now += 2_000
            [send] = [s for s in await store.take_alert_sends(node, now, 1) if s.channel == channel]
            if i == attempts - 1 and tries > 0:
                await store.record_alert_send(send.id, node, SENT, answer, now, None)
            else:
                await store.record_alert_send(send.id, node, FAILED, answer, now, now if i < attempts - 1 else None)


async def seed_alerts(store: Store, jobs: dict[str, Job], now: int, node: str) -> None:
    """Write the demo's episodes and their sends (see the module)."""
    weekly = jobs["report-weekly"]
    backup = jobs["nightly-backup"]
    assert weekly.id and backup.id

    # nightly-backup failed three nights ago, and recovered the night after
    failed_at = now - 3 * 24 * HOUR + 12 * HOUR
    ep = await _episode(
        store,
        AlertEpisode(
            job_subject(backup.id), AlertKind.FAILURE, str(failed_at), "🚨 nightly-backup: failed", failed_at, backup.id
        ),
    )
    await store.close_alerts("", "", failed_at + 24 * HOUR, ids=[ep])
    await _sent(
        store, node, ep, "failure", failed_at, (MAIL, "250 2.0.0 OK queued as 4Fk2pQ", 1), (TELEGRAM, UNAUTHORIZED, -5)
    )
    await _sent(store, node, ep, "recovered", failed_at + 24 * HOUR, (MAIL, "250 2.0.0 OK queued as 7Hq1xZ", 1))

    # the billing endpoint was down for twenty minutes yesterday
    down = now - 22 * HOUR
    subject = "endpoint:https://billing.example.com"
    ep = await _episode(
        store, AlertEpisode(subject, AlertKind.INFRA, str(down), "🔌 https://billing.example.com is down", down)
    )
    await store.close_alerts("", "", down + 20 * MIN, ids=[ep])
    await _sent(store, node, ep, "infra", down, (NTFY, '{"id":"x1Yq","event":"message"}', 2))
    await _sent(store, node, ep, "recovered", down + 20 * MIN, (NTFY, '{"id":"b7Kz","event":"message"}', 1))

    # report-weekly has not succeeded for a week (since its latest success)
    finished = [
        r.finished_at
        for r in await store.list_runs(RunFilter(job_id=weekly.id, statuses=[RunStatus.SUCCEEDED], limit=50))
        if r.finished_at is not None
    ]
    since = max(finished, default=weekly.created_at)
    opened = now - 5 * HOUR
    ep = await _episode(
        store,
        AlertEpisode(
            job_subject(weekly.id),
            AlertKind.NO_SUCCESS,
            str(since),
            "🕳 report-weekly: no successful run for 6 days",
            opened,
            weekly.id,
            since=since,
        ),
    )
    await _sent(store, node, ep, "no_success", opened, (SLACK, "ok", 1))

    # nightly-backup's success rate fell below the 98% it expects over its latest 20 runs
    opened = now - 2 * HOUR
    text = "📉 nightly-backup: 95% succeeded over the latest 20 runs (expected 98%)"
    ep = await _episode(
        store, AlertEpisode(job_subject(backup.id), AlertKind.DEGRADED, str(opened), text, opened, backup.id)
    )
    await _sent(
        store,
        node,
        ep,
        "degraded",
        opened,
        (MAIL, "250 2.0.0 OK queued as 9Lm3vB", 1),
        (TELEGRAM, '{"ok":true,"result":{"message_id":4711}}', 1),
    )
