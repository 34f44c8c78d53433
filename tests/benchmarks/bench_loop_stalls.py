"""The longest stall of the event loop (a task sleeping 1 ms and measuring how late it wakes) while the
scheduler meets work derived from a job's data or history, in-process:

* sweep: the stray-process sweep with N adopted `setsid` children, each with a 100 KB environment;

Run it from a checkout (the cronui it imports is the one on sys.path, so `PYTHONPATH=../main` measures
another checkout):

    python tests/benchmarks/bench_loop_stalls.py [--children 3000] [--only sweep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def max_stall(work: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(the work's wall time, the longest the loop was held), in ms."""
    worst = [0.0]
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            worst[0] = max(worst[0], time.perf_counter() - t - 0.001)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    await work()
    wall = time.perf_counter() - t0
    stop.set()
    await task
    return wall * 1000, worst[0] * 1000


async def bench_sweep(n: int) -> None:
    from cronui.engine.executors import containment, strays

    env = {**os.environ, "BIG": "x" * 100_000}
    children = [subprocess.Popen(["sleep", "600"], start_new_session=True, env=env) for _ in range(n)]
    # like an engine's renewal before these are strays: one execution in flight, seen first with it
    containment.started("bench-run")
    await strays.sweep([], grace_s=1)
    try:
        wall, stall = await max_stall(lambda: strays.sweep([], grace_s=1))
        print(f"sweep of {n} adopted children: {wall:.0f} ms, longest loop stall {stall:.0f} ms")
        leaders = {c.pid for c in children}
        wall, stall = await max_stall(lambda: strays.sweep(leaders, grace_s=1))
        print(f"sweep with none adopted ({n} run leaders): {wall:.1f} ms, longest loop stall {stall:.1f} ms")
    finally:
        containment.ended("bench-run")
        for c in children:
            c.kill()
        for c in children:
            c.wait()


def main() -> None:
    import cronui

    print(f"cronui from {os.path.dirname(cronui.__file__)}")
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=3000)
    ap.add_argument("--only", choices=["sweep"], default=None)
    args = ap.parse_args()
    if args.only in (None, "sweep"):
        asyncio.run(bench_sweep(args.children))


if __name__ == "__main__":
    main()
