"""Benchmark of cronui.schedule: prints numbers, asserts nothing.

    python tests/benchmarks/bench_schedule.py

1. 10,000 jobs in a mix of zones, first with (mostly) different expressions, then drawing from 300:
   parse, then the next fire of each, cold (croniter built on first use) and warm (from the slot
   just found, as the engine asks after each run), and the same question again.
2. Per call, one expression at a time: cronui's next_after walking slot to slot, against croniter's
   get_next and cronsim's next() walking the same slots in the same zone, as ratios.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from cronsim import CronSim

from cronui.schedule import parse

ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
]
START_MS = int(datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp() * 1000)


def random_expression(rng: random.Random) -> str:
    """A realistic mix: mostly "at a time on some days", some frequent, a few intervals."""
    kind = rng.random()
    if kind < 0.1:
        return f"every {rng.choice([15, 30, 45, 90])}s" if rng.random() < 0.5 else f"every {rng.randint(1, 90)}m"
    if kind < 0.3:
        step = rng.choice([2, 3, 5, 10, 15, 20, 30])
        return f"*/{step} {rng.choice(['*', '8-18', '*/2'])} * * {rng.choice(['*', '1-5'])}"
    minute = rng.randint(0, 59)
    hour = rng.choice([str(rng.randint(0, 23)), f"{rng.randint(0, 8)}-{rng.randint(12, 23)}/{rng.randint(1, 4)}"])
    dom = rng.choice(["*", "*", "*", str(rng.randint(1, 28)), "1,15", "L"])
    month = rng.choice(["*", "*", "*", "*/3", "jan-jun"])
    dow = rng.choice(["*", "*", "1-5", "mon", "0,6", "5L", "1#2"])
    return f"{minute} {hour} {dom} {month} {dow}"


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_many_jobs(pool: int | None) -> None:
    """10,000 jobs; with `pool`, their expressions are drawn from that many (as real job lists repeat)."""
    rng = random.Random(7)
    if pool is None:
        jobs = [(random_expression(rng), rng.choice(ZONES)) for _ in range(10_000)]
    else:
        common = [random_expression(rng) for _ in range(pool)]
        jobs = [(rng.choice(common), rng.choice(ZONES)) for _ in range(10_000)]
    distinct = len({e for e, _ in jobs})
    schedules = []
    t_parse = timed(lambda: schedules.extend(parse(e, tz) for e, tz in jobs))
    firsts: list[int | None] = []
    t_cold = timed(lambda: firsts.extend(s.next_after(START_MS) for s in schedules))
    after = [f if f is not None else START_MS for f in firsts]
    t_warm = timed(lambda: [s.next_after(a) for s, a in zip(schedules, after, strict=True)])
    t_again = timed(lambda: [s.next_after(a) for s, a in zip(schedules, after, strict=True)])
    print(f"10,000 jobs ({distinct} distinct expressions, {len(ZONES)} zones)")
    print(f"  parse all                          {t_parse * 1000:8.1f} ms")
    print(f"  next fire of all, cold             {t_cold * 1000:8.1f} ms   (builds croniter and zone tables)")
    print(f"  next fire of all, from last slot   {t_warm * 1000:8.1f} ms")
    print(f"  the same question again            {t_again * 1000:8.1f} ms   (answered from the last answer)")


def per_call(expr: str, tz: str, steps: int, croniter_expr: str) -> tuple[float, float, float]:
    """Microseconds per next fire for cronui, croniter and cronsim, walking `steps` slots."""
    zone = ZoneInfo(tz)
    start = datetime.fromtimestamp(START_MS / 1000, zone)
    sched = parse(expr, tz)
    sched.next_after(START_MS)  # build it first: the engine asks many times per schedule

    def ours() -> None:
        current: int | None = START_MS
        for _ in range(steps):
            current = sched.next_after(current)  # type: ignore[arg-type]

    def theirs_croniter() -> None:
        it = croniter(croniter_expr, start, ret_type=float, second_at_beginning=len(expr.split()) == 6)
        for _ in range(steps):
            it.get_next()

    def theirs_cronsim() -> None:
        it = CronSim(expr, start)
        for _ in range(steps):
            next(it)

    def best(fn: Callable[[], None]) -> float:
        return min(timed(fn) for _ in range(3)) / steps * 1e6

    return best(ours), best(theirs_croniter), best(theirs_cronsim)


def main() -> None:
    bench_many_jobs(pool=None)
    print()
    bench_many_jobs(pool=300)
    print()
    print("per call, walking slot to slot (µs per next fire; ratio = cronui / other)")
    header = ("expression", "zone", "cronui", "croniter", "cronsim", "/croniter", "/cronsim")
    print("  {:<22} {:<17} {:>8} {:>9} {:>8} {:>10} {:>9}".format(*header))
    cases = [
        ("*/5 * * * *", "Europe/Berlin"),
        ("0 * * * *", "America/New_York"),
        ("0 9 * * 1-5", "Europe/Berlin"),
        ("30 2 * * *", "Europe/Berlin"),
        ("0 0 1,15 * 1", "UTC"),
        ("0 12 * * 5L", "Australia/Sydney"),
        ("*/10 * * * * *", "Asia/Kolkata"),
    ]
    spelled_for_croniter = {"0 12 * * 5L": "0 12 * * L5"}  # croniter writes "last Friday" as L5
    ratios_croniter, ratios_cronsim = [], []
    for expr, tz in cases:
        ours, c1, c2 = per_call(expr, tz, 2000, spelled_for_croniter.get(expr, expr))
        ratios_croniter.append(ours / c1)
        ratios_cronsim.append(ours / c2)
        print(f"  {expr:<22} {tz:<17} {ours:8.1f} {c1:9.1f} {c2:8.1f} {ours / c1:10.2f} {ours / c2:9.2f}")
    print(
        f"  median ratio: cronui/croniter {statistics.median(ratios_croniter):.2f}, "
        f"cronui/cronsim {statistics.median(ratios_cronsim):.2f}"
    )


if __name__ == "__main__":
    main()
