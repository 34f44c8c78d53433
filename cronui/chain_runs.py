"""How many runs of one job a single run can start through chains, checked when chains are saved.

A chain run is unique per (the run that fired it, the job it starts), so one run of a job starts each job
it names once; but a job reached by two paths runs once per path. A ladder of diamonds (A -> B1, B2 -> C
-> D1, D2 -> E ...) doubles the count at each rung: k rungs start the last job 2^k times from one run of
A. The cycle check cannot see this (there is no loop), so the paths are counted: for every job, how many
times one of its runs can start each job below it, counting every edge as if it fired (a condition or
the run's outcome may hold some back; the count is what could happen). A change that lets one run start
any job more than MAX_CHAIN_RUNS times is refused, naming both jobs and the count.

Counting walks each job reachable from the jobs checked once, in reverse topological order, summing its
targets' counts, kept only for jobs two or more jobs chain to (see ChainRuns._joins); counts stop at
COUNT_CAP, so numbers stay small however deep the ladder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

MAX_CHAIN_RUNS = 64  # runs of one job that a single run may start through its chains
COUNT_CAP = 1_000_000  # counts stop here ("more than a million"), so numbers stay small


class ChainRuns:
    """Path counts over one chain graph (job name -> the names it triggers), worked out as asked and kept:
    one instance serves every job of a job file."""

    def __init__(self, graph: Mapping[str, Sequence[str]]) -> None:
        self.graph = graph
        self._runs: dict[str, dict[str, int]] = {}  # job -> {job below it: runs one of its runs starts}
        self._worst: dict[str, tuple[str, int]] = {}  # job -> the job its run starts most often, how often
        self._parents: dict[str, list[str]] | None = None
        self._join_names: set[str] | None = None

    def runs_from(self, start: str) -> dict[str, int] | None:
        """How many times one run of `start` starts each job below it that two or more jobs chain to (at
        most COUNT_CAP each); None when a loop is reachable from it (the cycle check reports that)."""
        if start in self._runs:
            return self._runs[start]
        cap = COUNT_CAP
        joins = self._joins()
        on_path: set[str] = set()
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            node, done = stack.pop()
            if done:
                on_path.discard(node)
                counts: dict[str, int] = {}
                for child in dict.fromkeys(self.graph.get(node, ())):  # an edge named twice fires once
                    if child in joins:
                        counts[child] = min(cap, counts.get(child, 0) + 1)
                    for name, n in self._runs[child].items():
                        counts[name] = min(cap, counts.get(name, 0) + n)
                self._runs[node] = counts
                if counts:
                    self._worst[node] = max(counts.items(), key=lambda item: item[1])
                continue
            if node in self._runs:
                continue
            if node in on_path:
                return None
            on_path.add(node)
            stack.append((node, True))
            for child in self.graph.get(node, ()):
                if child in on_path:
                    return None
                if child not in self._runs:
                    stack.append((child, False))
        return self._runs[start]

    def _parents_of(self) -> dict[str, list[str]]:
        if self._parents is None:
            self._parents = {}
            for node, targets in self.graph.items():
                for target in dict.fromkeys(targets):
                    self._parents.setdefault(target, []).append(node)
        return self._parents

    def _joins(self) -> set[str]:
        """The jobs two or more jobs chain to. Only these can run more than once from one run: a job one
        job chains to runs as often as that job does, so the most-started job is a join (or runs once)
        and counts are kept for joins alone, which keeps a long plain chain linear to check."""
        if self._join_names is None:
            self._join_names = {name for name, parents in self._parents_of().items() if len(parents) > 1}
        return self._join_names

    def ancestors(self, name: str) -> list[str]:
        """The jobs whose chains lead to `name`, nearest first."""
        parents_of = self._parents_of()
        seen = {name}
        order: list[str] = []
        frontier = [name]
        while frontier:
            nxt: list[str] = []
            for node in frontier:
                for parent in parents_of.get(node, ()):
                    if parent not in seen:
                        seen.add(parent)
                        order.append(parent)
                        nxt.append(parent)
            frontier = nxt
        return order

    def too_many(self, starts: Iterable[str]) -> tuple[str, str, int] | None:
        """The first of `starts` one run of which could start a job more than MAX_CHAIN_RUNS times, as
        (that job, the job started, the count, which is COUNT_CAP when it is at least that)."""
        for start in starts:
            if self.runs_from(start) is None or start not in self._worst:
                continue
            name, count = self._worst[start]
            if count > MAX_CHAIN_RUNS:
                return start, name, count
        return None


def too_many_message(start: str, name: str, count: int) -> str:
    """The refusal of a chain graph in which one run of `start` starts `name` `count` times."""
    times = f"{COUNT_CAP:,} or more" if count >= COUNT_CAP else f"{count:,}"
    return (
        f"one run of {start!r} could start {name!r} {times} times through its chains (at most "
        f"{MAX_CHAIN_RUNS}: each path of chains from {start!r} to {name!r} starts it once)"
    )
