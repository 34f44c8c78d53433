"""`cronui nodes`: the processes that schedule this database, from their heartbeats (cluster mode on
PostgreSQL: every node; SQLite: the one that holds the scheduler lease), with the labels each offers to
jobs pinned with `--node-label`."""

from __future__ import annotations

import argparse
import socket

from cronui.cli.common import Commands, command, print_json, with_store
from cronui.config import Settings
from cronui.engine.clock import SystemClock
from cronui.engine.control import Control
from cronui.placement import node_alive
from cronui.store import Store
from cronui.timefmt import human_span, iso_utc


def add_parsers(sub: Commands) -> None:
    """Registers nodes."""
    p = command(sub, "nodes", "the processes that schedule this database, from their heartbeats", cmd_nodes)
    p.add_argument("--json", action="store_true", help="one JSON object per node, in a list")


def cmd_nodes(args: argparse.Namespace) -> int:
    async def body(settings: Settings, store: Store, control: Control) -> int:
        now = SystemClock().now_ms()
        here = socket.gethostname()  # a node on this host is alive only while its process is
        nodes = await store.nodes()
        data = [
            {
                "node": n.node,
                "host": n.host,
                "pid": n.pid,
                "since": iso_utc(n.started_at),
                "seen": iso_utc(n.seen_at),
                "alive": node_alive(n, now, here),
                "running": n.running,
                "labels": n.labels,
            }
            for n in nodes
        ]
        if args.json:
            print_json(data)
            return 0
        if not data:
            print("no node has a heartbeat on this database")
            return 0
        print(f"{'NODE':<36} {'STATE':<6} {'RUNNING':>7}  {'SEEN':<10}  LABELS")
        for n, d in zip(nodes, data, strict=True):
            state = "alive" if d["alive"] else "gone"
            seen = f"{human_span(max(0, now - n.seen_at))} ago"
            print(f"{n.node:<36} {state:<6} {n.running:>7}  {seen:<10}  {' '.join(n.labels) or '—'}".rstrip())
        return 0

    return with_store(args, body)
