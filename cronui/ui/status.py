"""What the header line says: which database, who schedules, how many jobs and runs, what fires next."""

from __future__ import annotations

import os

from cronui.ui.catalog import Catalog
from cronui.ui.client import EngineClient
from cronui.ui.inflight import InFlight
from cronui.ui.times import countdown
from cronui.ui.widgets.header import HeaderState


def home_path(path: str) -> str:
    """`path` with the home folder shown as `~`."""
    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if home and home != "/" and path.startswith(home + os.sep) else path


def scheduler_text(client: EngineClient, ready: bool) -> tuple[str, str]:
    """(kind, text): owning, attached or none, and how to say it."""
    if client.holding:
        return "owning", "scheduling (this process)"
    lease = client.holder
    if lease is not None:
        return "attached", f"attached to daemon {lease.host}:{lease.pid}"
    if not ready:
        return "none", "starting…"
    return "none", "nothing schedules (waiting for the lease)"


def cluster_text(client: EngineClient, nodes: int) -> tuple[str, str]:
    """(kind, text) in cluster mode: how many nodes schedule, and whether this process is one of them."""
    text = f"{nodes} node{'s' if nodes != 1 else ''}"
    if client.holding:
        return "owning", f"{text} · this one executes"
    return ("attached", text) if nodes else ("none", "no node schedules")


def header_state(
    client: EngineClient,
    catalog: Catalog,
    inflight: InFlight,
    db: str,
    *,
    ready: bool,
    where: str,
    nodes: int | None = None,
) -> HeaderState:
    kind, text = scheduler_text(client, ready)
    if client.multi_node and nodes is not None:
        kind, text = cluster_text(client, nodes)
    nxt = catalog.next_fire()
    next_text = ""
    if nxt is not None and not catalog.paused:
        next_text = countdown(nxt[0], client.now_ms())
    return HeaderState(
        db=home_path(db),
        scheduler=text,
        scheduler_kind=kind,
        paused=catalog.paused,
        jobs=len(catalog),
        running=inflight.running,
        next_text=next_text,
        where=where,
        nodes=nodes if client.multi_node else None,
    )
