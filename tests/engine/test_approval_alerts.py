"""The "needs approval" notice as an `approval` alert, on both backends: two nodes that see the same waiting
run at once record its notice once (one `approval` episode), and it is routed once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cronui.engine.approval_notices import Approvals
from cronui.engine.events import EventBus
from cronui.model import RunStatus
from cronui.model.alerts import AlertKind
from cronui.store.base import Store
from cronui.targets import Delivery
from tests.store.backends import BACKENDS, fresh_store, same_database
from tests.store.test_store_approvals import T0, add_job, new_run


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with fresh_store(request.param, tmp_path / "approvals.db") as s:
        yield s


async def test_two_nodes_record_a_runs_approval_notice_once(backend: Store) -> None:
    job = await add_job(backend, "deploy", approval=True, delivery=Delivery(alert_to="json://127.0.0.1:9/hook"))
    run = new_run(job.id, T0)
    run.status, run.approval_deadline, run.approval_default = RunStatus.AWAITING_APPROVAL, T0 + 3_600_000, "reject"
    run = await backend.insert_run(run)
    other = same_database(backend)
    await other.open()
    try:
        nodes = [Approvals(backend, EventBus(backend)), Approvals(other, EventBus(other))]
        recorded = await asyncio.gather(*(n.send_notices(T0 + 1) for n in nodes))
        again = await asyncio.gather(*(n.send_notices(T0 + 2) for n in nodes))
    finally:
        await other.close()
    assert sorted(recorded) == [0, 1] and again == [0, 0]
    [(episode, _)] = await backend.list_alert_episodes()
    assert (episode.kind, episode.episode, episode.closed_at) == (AlertKind.APPROVAL, str(run.id), T0 + 1)
    [unrouted] = await backend.unrouted_alerts()
    assert unrouted.notice == "approval", "its opening only: a notice has no recovery to route"
    assert await backend.route_alert(episode.id or 0, "approval", [("json://127.0.0.1:9/hook", None)], T0 + 3) == 1
    assert await backend.unrouted_alerts() == []
