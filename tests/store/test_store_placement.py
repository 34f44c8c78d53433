"""Placement in the store contract (both backends): a job pinned to a node label is started only by a node
carrying that label; a job without one by any node; nodes publish their labels with their heartbeat."""

from __future__ import annotations

import pytest

from cronui.model import OverlapPolicy, RunStatus
from cronui.model.records import Node
from cronui.store.base import Store
from tests.store.test_claims import T0, add_job, claim, names, queue, statuses


async def test_a_pinned_job_starts_only_on_a_node_with_its_label(backend: Store):
    pinned = await add_job(backend, "pinned", node_label="gpu")
    free = await add_job(backend, "free")
    await queue(backend, pinned.id)
    await queue(backend, free.id)
    elsewhere = await claim(backend, node="plain", labels=())
    assert names(elsewhere) == ["free"]
    assert await statuses(backend, pinned.id) == [RunStatus.PENDING]
    other_label = await claim(backend, node="eu", labels=("eu",))
    assert names(other_label) == []
    there = await claim(backend, node="big", labels=("eu", "gpu"))
    assert names(there) == ["pinned"]
    assert there.started[0][0].node == "big"


async def test_a_node_without_the_label_does_not_take_a_pinned_job_s_capacity_or_pool(backend: Store):
    """Pinned runs a node cannot start never fill its claim: the capacity goes to runs it can start."""
    for i in range(5):
        job = await add_job(backend, f"pinned{i}", node_label="gpu", pool="p")
        await queue(backend, job.id)
    free = await add_job(backend, "free", pool="p")
    await queue(backend, free.id, at=T0 + 30_000)  # the newest run of all
    got = await claim(backend, capacity=1, node="plain", pools={"p": 1})
    assert names(got) == ["free"]


async def test_overlap_still_applies_to_a_pinned_job_no_node_can_take(backend: Store):
    """While no node carries its label, a pinned `skip` job's line stays one run long (the rest are
    recorded skipped, as on its own node), instead of piling up."""
    job = await add_job(backend, "pinned", node_label="gpu", overlap=OverlapPolicy.SKIP)
    await queue(backend, job.id, 3)
    got = await claim(backend, node="plain")
    assert got.started == [] and len(got.skipped) == 2
    assert await statuses(backend, job.id) == [RunStatus.PENDING, RunStatus.SKIPPED, RunStatus.SKIPPED]


async def test_a_retry_of_a_pinned_job_stays_on_nodes_with_its_label(backend: Store):
    from cronui.model import Trigger

    job = await add_job(backend, "pinned", node_label="gpu")
    await queue(backend, job.id, 1, Trigger.RETRY)
    assert names(await claim(backend, node="plain")) == []
    assert names(await claim(backend, node="gpu-box", labels=["gpu"])) == ["pinned"]


async def test_a_job_keeps_its_label_and_loses_it_when_cleared(backend: Store):
    job = await add_job(backend, "pinned", node_label="gpu")
    assert (await backend.get_job(job.id)).node_label == "gpu"
    job.node_label = None
    await backend.update_job(job)
    assert (await backend.get_job_by_name("pinned")).node_label is None
    await queue(backend, job.id)
    assert names(await claim(backend, node="plain")) == ["pinned"]


async def test_nodes_publish_their_labels_with_their_heartbeat(backend: Store):
    me = Node("host-a:1:abc", "host-a", 1, T0, T0, T0 + 30_000, 0, ["gpu", "eu"])
    await backend.heartbeat(me)
    await backend.heartbeat(Node("host-b:2:def", "host-b", 2, T0, T0, T0 + 30_000, 0))
    listed = {n.node: n for n in await backend.nodes()}
    assert listed["host-a:1:abc"].labels == ["eu", "gpu"]
    assert listed["host-b:2:def"].labels == []
    me.labels = ["gpu"]  # restarted with other labels: the next heartbeat says so
    await backend.heartbeat(me)
    assert {n.node: n.labels for n in await backend.nodes()}["host-a:1:abc"] == ["gpu"]


async def test_the_claim_reads_only_the_pinned_jobs_to_place_runs(backend: Store):
    """The placement check looks up pinned jobs on an index of their own, not by reading every job."""
    from cronui.store.sqlite import SQLiteStore

    if not isinstance(backend, SQLiteStore):
        pytest.skip("query plans are backend-specific")
    plan = await backend.fetch_all(
        "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE node_label IS NOT NULL AND node_label NOT IN "
        "(SELECT value FROM json_each(?))",
        ("[]",),
    )
    assert "jobs_placed" in " ".join(str(row[3]) for row in plan)
