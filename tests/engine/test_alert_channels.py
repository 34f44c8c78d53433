"""Alerts reaching real services: a mail through apprise's mailto:// received by a real SMTP server
(aiosmtpd), and a JSON body through json:// received by a loopback HTTP server, each once, with its
recovery; what each service answered is kept with the send."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx

from cronui.engine.alerts import Watcher, close_alert, raise_alert
from cronui.engine.clock import FakeClock
from cronui.model import Delivery
from cronui.model.alerts import SENT, AlertDefaults
from cronui.store.sqlite import SQLiteStore
from tests.alert_receivers import json_receiver, smtp_server
from tests.helpers import make_job

T0 = 1_700_000_000_000


class Sender:
    """A Watcher whose sends are awaited by `pass_`."""

    def __init__(self, store: SQLiteStore, clock: FakeClock, defaults: AlertDefaults | None = None) -> None:
        self.tasks: list[asyncio.Future[None]] = []
        self.client = httpx.AsyncClient()
        d = defaults or AlertDefaults()
        self.watcher = Watcher(store, lambda: d, clock, "node-a", lambda: self.client, self.spawn, {})

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def pass_(self) -> None:
        await self.watcher.drain_now()
        await asyncio.gather(*self.tasks)
        self.tasks.clear()


async def test_an_alert_reaches_a_real_smtp_server_through_mailto(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    await store.open()
    clock = FakeClock(T0)
    with smtp_server() as (port, box):
        channel = f"mailto://cronui@127.0.0.1:{port}?to=ops@example.com&from=cronui@example.com&mode=insecure"
        job = await store.create_job(
            make_job("backup", created_at=T0, updated_at=T0, delivery=Delivery(alert_to=channel))
        )
        sender = Sender(store, clock)
        assert await raise_alert(store, f"job:{job.id}", "late", str(T0), "⏰ backup: late", None, job.id, now=T0)
        await sender.pass_()
        await sender.pass_()  # sent once
        assert len(box.mails) == 1
        _, to, mail = box.mails[0]
        assert to == ["ops@example.com"] and "backup" in str(mail["Subject"])
        assert "late" in mail.get_payload(decode=False) or "late" in str(mail)
        await close_alert(store, f"job:{job.id}", "late", now=clock.now_ms())
        await sender.pass_()
        assert len(box.mails) == 2 and "recovered" in str(box.mails[1][2])
    sends = await store.list_alert_sends()
    assert [(s.notice, s.outcome, s.attempts) for s in sends] == [("recovered", SENT, 1), ("late", SENT, 1)]
    await sender.client.aclose()
    await store.close()


async def test_an_alert_reaches_a_loopback_json_receiver_through_json(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    await store.open()
    clock = FakeClock(T0)
    with json_receiver() as receiver:
        defaults = AlertDefaults(to=[f"json://127.0.0.1:{receiver.port}/alerts"])  # `[alerts] to`: no job's own
        job = await store.create_job(make_job("sync", created_at=T0, updated_at=T0))
        sender = Sender(store, clock, defaults)
        await raise_alert(store, f"job:{job.id}", "infra", "gw", "🔌 sync: gateway down", None, job.id, now=T0)
        await sender.pass_()
        await sender.pass_()
        assert len(receiver.bodies) == 1 and "sync" in receiver.bodies[0]["message"]
    await sender.client.aclose()
    await store.close()
