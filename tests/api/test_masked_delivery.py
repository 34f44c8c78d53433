"""A webhook URL is itself a secret (whoever has a Slack or Discord hook URL can post to it): job responses
show its host only, and a client that sends a response back unchanged keeps the stored URL."""

from __future__ import annotations

from cronui.secrets import MASK
from tests.api.conftest import Api

HOOK = "https://hooks.slack.com/services/T000/B000/literal-secret-3"


async def test_a_literal_delivery_url_is_masked_and_a_masked_one_sent_back_keeps_it(api: Api) -> None:
    entry = {"name": "d", "schedule": "every 1h", "shell": "true", "deliver_to": HOOK, "alert_to": "${env:ALERTS}"}
    created = await api.client.post("/api/v1/jobs", json=entry)
    assert created.status_code == 201, created.text
    for got in (created, await api.client.get("/api/v1/jobs/d")):
        assert "literal-secret" not in got.text
        delivery = got.json()["delivery"]
        assert delivery["to"] == f"https://hooks.slack.com/{MASK}" and delivery["alert_to"] == "${env:ALERTS}"
    r = await api.client.patch("/api/v1/jobs/d", json={"deliver_to": delivery["to"], "description": "x"})
    assert r.status_code == 200, r.text
    stored = await api.store.get_job_by_name("d")
    assert stored is not None and stored.delivery.to == HOOK and stored.description == "x"
    r = await api.client.patch("/api/v1/jobs/d", json={"deliver_to": "https://example.com/other"})
    stored = await api.store.get_job_by_name("d")
    assert stored is not None and stored.delivery.to == "https://example.com/other"
