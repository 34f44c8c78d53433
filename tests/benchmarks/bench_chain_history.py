"""Work on the event loop derived from a job's chains and an agent job's conversation, before and after
their bounds, in-process:

* history: what one persistent agent run does with its conversation on the loop (decode the stored
  history, encode the request sent, the run row's request and the history stored again), uncapped
  ("before": every turn keep_turns allows, the whole request on the run row) and capped (history.carried,
  history.recorded_body; the stored history as the capped code left it), with the sizes stored;
* chains: the save-time count of chain paths (cronui.chain_runs) for one job saved and for a whole job
  file, on a plain chain of 1,000 jobs and a ladder of 333 diamonds.

    python tests/benchmarks/bench_chain_history.py
"""

from __future__ import annotations

import json
import time
from typing import Any

from cronui.chain_runs import ChainRuns
from cronui.engine.executors.agent.history import carried, recorded_body
from cronui.jobs import chain_errors, chain_graph, check_chain_graph
from cronui.model import Job, TargetKind


class _Ctx:
    def mask(self, text: str) -> str:
        return text


def _history(turns: int, reply: int) -> list[dict[str, Any]]:
    h: list[dict[str, Any]] = []
    for i in range(turns):
        h += [{"role": "user", "content": f"question {i} " + "q" * 200}, {"role": "assistant", "content": "r" * reply}]
    return h


def _run(h: list[dict[str, Any]], capped: bool) -> tuple[float, int, int]:
    stored = json.dumps(carried(h) if capped else h)
    t = time.perf_counter()
    loaded = json.loads(stored)
    if capped:
        loaded = carried(loaded)
    body = {"model": "m", "messages": [*loaded, {"role": "user", "content": "now"}]}
    json.dumps(body)
    row = json.dumps({"body": recorded_body(body, _Ctx()) if capped else body})  # type: ignore[arg-type]
    turns = [*loaded, body["messages"][-1], {"role": "assistant", "content": h[-1]["content"]}]
    mem = json.dumps(carried(turns) if capped else turns)
    return time.perf_counter() - t, len(mem), len(row)


def _job(name: str, targets: list[str] | None = None) -> Job:
    target = {"command": "true"}
    return Job(
        name=name, schedule="@daily", timezone="UTC", kind=TargetKind.SHELL, target=target, on_success=targets or []
    )


def _ladder(rungs: int) -> list[Job]:
    jobs: list[Job] = []
    for i in range(rungs):
        jobs += [_job(f"a{i}", [f"l{i + 1}", f"r{i + 1}"]), _job(f"l{i + 1}", [f"a{i + 1}"])]
        jobs.append(_job(f"r{i + 1}", [f"a{i + 1}"]))
    return [*jobs, _job(f"a{rungs}")]


def main() -> None:
    for label, turns, reply in (
        ("10 turns, 256 KiB replies (defaults)", 10, 256 * 1024),
        ("keep_turns 100, 256 KiB replies", 100, 256 * 1024),
        ("keep_turns 10,000, 3 KiB replies", 10_000, 3 * 1024),
    ):
        h = _history(turns, reply)
        for capped in (False, True):
            best = min(_run(h, capped)[0] for _ in range(3))
            _, mem, row = _run(h, capped)
            print(
                f"history {label:38} {'after ' if capped else 'before'}: {best * 1000:7.1f} ms on the loop per run; "
                f"history stored {mem / 1e6:6.2f} MB; run row request {row / 1e6:6.2f} MB"
            )
    plain = [_job(f"j{i}", [f"j{i + 1}"]) for i in range(999)] + [_job("j999")]
    for label, jobs in (("a chain of 1,000 jobs", plain), ("a ladder of 333 diamonds", _ladder(333))):
        graph, names = chain_graph(jobs), {j.name for j in jobs}
        t = time.perf_counter()
        list(chain_errors(jobs[-2], graph, names))
        one = time.perf_counter() - t
        t = time.perf_counter()
        runs = ChainRuns(graph)
        for job in jobs:
            runs.too_many([job.name, *runs.ancestors(job.name)])
        counts = time.perf_counter() - t
        t = time.perf_counter()
        try:
            check_chain_graph(jobs, names)
        except ValueError as e:
            refused = str(e)[:60]
        else:
            refused = "accepted"
        whole = time.perf_counter() - t
        print(
            f"chains {label:26}: one save {one * 1000:5.0f} ms; path counts for every job {counts * 1000:5.0f} ms; "
            f"whole file (with the cycle search) {whole * 1000:5.0f} ms ({refused})"
        )


if __name__ == "__main__":
    main()
