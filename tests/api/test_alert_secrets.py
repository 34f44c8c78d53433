"""A channel's secret never shows: one given as `${env:NAME}` is in no output and not in the database file;
a literal one (a password in a json:// URL) is masked in every output: the CLI (`alerts`, `jobs show`), the
API (`/alerts`, `/jobs/NAME`), the log. `cronui alerts` and `GET /api/v1/alerts` say the same."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from cronui.engine.alerts import Watcher, raise_alert
from cronui.engine.clock import SystemClock
from cronui.main import main
from cronui.model import Delivery
from cronui.model.alerts import AlertDefaults
from cronui.secrets import MASK
from tests.alert_receivers import json_receiver, until
from tests.api.conftest import Api, assert_documented
from tests.helpers import make_job

ENV_SECRET = "envSecretValue-9f8e7d6c5b4a"
LITERAL = "litSecretValue-1a2b3c4d5e6f"


async def _cli(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> str:
    code = await asyncio.to_thread(main, ["--db", db, *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out + err


async def test_channel_secrets_are_in_no_output_and_no_env_secret_is_in_the_database(
    api: Api, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", ENV_SECRET)  # whichever node sends it resolves the reference alike
    caplog.set_level(logging.INFO)
    with json_receiver() as receiver:
        channels = (
            f"json://bot:${{env:HOOK_TOKEN}}@127.0.0.1:{receiver.port}/a "
            f"json://bot:{LITERAL}@127.0.0.1:{receiver.port}/b "
            f"json://bot:{LITERAL}@127.0.0.1:1/refused"
        )
        job = await api.store.create_job(make_job("nightly", delivery=Delivery(alert_to=channels)))
        assert job.id is not None
        assert await raise_alert(api.store, f"job:{job.id}", "infra", "gw", "🔌 nightly: gateway down", None, job.id)
        tasks: list[asyncio.Future[None]] = []

        def spawn(coro: Coroutine[Any, Any, None]) -> None:
            tasks.append(asyncio.ensure_future(coro))

        async with httpx.AsyncClient() as client:
            watcher = Watcher(api.store, AlertDefaults, SystemClock(), "node-t", lambda: client, spawn)
            for _ in range(3):
                await watcher.drain_now()
                await asyncio.gather(*tasks)

        async def all_tried() -> bool:
            return all(s.attempts >= 1 for s in await api.store.list_alert_sends())

        await until(lambda: len(receiver.bodies) == 2)
        for _ in range(100):
            if await all_tried():
                break
            await asyncio.sleep(0.05)
        assert {a.split()[0] for a in receiver.auth if a} == {"Basic"}  # both secrets reached their service

    outputs = {
        "cli alerts": await _cli(capsys, api.settings.db, "alerts"),
        "cli alerts --json": await _cli(capsys, api.settings.db, "alerts", "--json"),
        "cli jobs show": await _cli(capsys, api.settings.db, "jobs", "show", "nightly"),
        "cli jobs show --json": await _cli(capsys, api.settings.db, "jobs", "show", "nightly", "--json"),
    }
    r = await api.client.get("/api/v1/alerts")
    assert r.status_code == 200
    await assert_documented(api, "GET", "/api/v1/alerts", r)
    outputs["api alerts"] = r.text
    outputs["api job"] = (await api.client.get("/api/v1/jobs/nightly")).text
    outputs["log"] = caplog.text + api.out.getvalue()
    for where, text in outputs.items():
        assert ENV_SECRET not in text, where
        assert LITERAL not in text, where
    for where in ("cli alerts", "cli alerts --json", "api alerts", "api job", "cli jobs show --json"):
        assert MASK in outputs[where], where
    assert "${env:HOOK_TOKEN}" in outputs["api alerts"]  # a reference is shown as written

    listed = json.loads(outputs["cli alerts --json"])
    assert listed == r.json()
    [alert] = listed
    assert alert["kind"] == "infra" and alert["job"] == "nightly" and alert["closed_at"] is None
    by_outcome = sorted((s["outcome"], s["channel"]) for s in alert["sends"])
    assert by_outcome == [
        ("pending", f"json://bot:{MASK}@127.0.0.1:1/{MASK}"),
        ("sent", f"json://bot:${{env:HOOK_TOKEN}}@127.0.0.1:{receiver.port}/{MASK}"),
        ("sent", f"json://bot:{MASK}@127.0.0.1:{receiver.port}/{MASK}"),
    ]

    await asyncio.sleep(0)
    db = Path(api.settings.db)
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert ENV_SECRET.encode() not in stored
