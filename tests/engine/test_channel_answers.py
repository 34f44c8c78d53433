"""What each service answered is kept with its own send: two apprise sends at once (a slow JSON receiver
and a real SMTP server) each keep their own service's lines, not the other's; apprise's lines are not in
the process's log, and its logger is as it was once the sends are done."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from cronui.engine.channels import send
from tests.alert_receivers import json_receiver, smtp_server


async def test_sends_at_once_each_keep_their_own_services_answer(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    apprise_log = logging.getLogger("apprise")
    before = (apprise_log.level, apprise_log.propagate)
    with smtp_server() as (port, box), json_receiver(delay_s=0.3) as hook:
        mail = f"mailto://cronui@127.0.0.1:{port}?to=ops@example.com&from=cronui@example.com&mode=insecure"
        hook_url = f"json://127.0.0.1:{hook.port}/alerts"
        async with httpx.AsyncClient() as client:
            body = {"text": "⏰ backup: late"}
            # the mail is sent while the JSON receiver still holds its request
            (hook_ok, hook_said), (mail_ok, mail_said) = await asyncio.gather(
                send(client, hook_url, None, "cronui: backup late", body, {}),
                send(client, mail, None, "cronui: backup late", body, {}),
            )
        assert hook_ok and mail_ok and len(box.mails) == 1 and len(hook.bodies) == 1
        assert "Sent JSON POST notification" in hook_said and "Email" not in hook_said, hook_said
        assert "Sent Email" in mail_said and "JSON" not in mail_said, mail_said
        assert hook_said.count("Notifying") == 1 and mail_said.count("Notifying") == 1
    assert not [r for r in caplog.records if r.name.startswith("apprise")]
    assert (apprise_log.level, apprise_log.propagate) == before
