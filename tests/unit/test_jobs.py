"""The rules every job follows, whoever writes it: errors that name their field, and chain checks."""

from __future__ import annotations

import pytest

from cronui.jobs import JobError, chain_errors, chain_graph, check_chain_graph, check_chains, validate
from tests.helpers import make_job, ms

NOW = ms("2026-03-02T08:59:30Z")


def test_a_job_error_names_its_field_and_reads_as_before():
    e = JobError("schedule", "minute field: 61 is out of range 0-59")
    assert (e.field, e.problem, str(e)) == (
        "schedule",
        "minute field: 61 is out of range 0-59",
        "schedule: minute field: 61 is out of range 0-59",
    )
    hinted = JobError("model", "say which model to ask", hint="--model")
    assert (hinted.problem, str(hinted)) == ("say which model to ask", "model: say which model to ask (--model)")
    assert str(hinted.in_job("digest")) == "job 'digest': model: say which model to ask (--model)"
    plain = JobError("--cwd: only shell jobs have a working directory")
    assert (plain.field, plain.problem, str(plain)) == (None, str(plain), str(plain))
    assert str(plain.in_job("x")) == "job 'x': --cwd: only shell jobs have a working directory"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"schedule": "61 * * * *"}, "schedule", "schedule: minute field: 61 is out of range 0-59"),
        ({"retry_delay_s": -1}, "retry-delay", "retry-delay: must not be negative"),
        ({"on_failure": ["n"]}, "on-failure", "on-failure: a job cannot chain to itself"),
    ],
)
def test_validate_raises_the_field_it_refuses(change, field, message):
    with pytest.raises(JobError) as info:
        validate(make_job("n", **change), NOW)
    assert (info.value.field, str(info.value)) == (field, message)


def test_one_job_and_many_jobs_get_the_same_chain_messages():
    a = make_job("a", on_success=["b"])
    with pytest.raises(JobError, match=r"^on-success: no job named 'b'$"):
        check_chains(a, {}, [])
    with pytest.raises(JobError, match=r"^job 'a': on-success: no job named 'b'$"):
        check_chain_graph([a], {"a"})
    b = make_job("b", on_failure=["a"])
    with pytest.raises(JobError, match=r"^chain: this would make a cycle \(a -> b -> a\)$"):
        check_chains(a, {"b": ["a"]}, ["b"])
    with pytest.raises(JobError, match=r"^job 'a': chain: this would make a cycle \(a -> b -> a\)$"):
        check_chain_graph([a, b], {"a", "b"})
    check_chains(a, {"c": ["a"]}, ["b"])  # a chain into the job is no cycle


def test_chain_errors_lists_missing_targets_first_with_notes():
    a = make_job("a", on_success=["gone", "b"], on_failure=["a"])
    errors = list(chain_errors(a, chain_graph([a]), {"a", "b"}, {"gone": "--prune removes it"}))
    assert [(e.field, e.problem) for e in errors] == [
        ("on-success", "no job named 'gone' (--prune removes it)"),
        ("chain", "this would make a cycle (a -> a)"),
    ]


def _ladder(rungs: int) -> list:
    """a0 -> l1, r1 -> a1 -> l2, r2 -> a2 ...: one run of a0 starts a{rungs} 2**rungs times."""
    jobs = []
    for i in range(rungs):
        jobs.append(make_job(f"a{i}", on_success=[f"l{i + 1}", f"r{i + 1}"]))
        jobs.append(make_job(f"l{i + 1}", on_success=[f"a{i + 1}"]))
        jobs.append(make_job(f"r{i + 1}", on_failure=[f"a{i + 1}"]))
    jobs.append(make_job(f"a{rungs}"))
    return jobs


def test_a_ladder_of_diamonds_is_refused_once_one_run_could_start_a_job_more_than_64_times():
    six = _ladder(6)  # 2**6 = 64 runs of a6 from one run of a0: allowed
    check_chain_graph(six, {j.name for j in six})
    seven = _ladder(7)
    with pytest.raises(JobError) as info:
        check_chain_graph(seven, {j.name for j in seven})
    assert str(info.value) == (
        "job 'a0': chain: one run of 'a0' could start 'a7' 128 times through its chains (at most 64: each "
        "path of chains from 'a0' to 'a7' starts it once)"
    )
    # one job saved at a time: the rung added at the bottom is refused, naming the run at the top
    edges = chain_graph(six)
    a6 = make_job("a6", on_success=["l7", "r7"])
    with pytest.raises(JobError, match=r"^chain: one run of 'a0' could start 'a7' 128 times"):
        check_chains(make_job("r7", on_failure=["a7"]), {**edges, "a6": ["l7", "r7"], "l7": ["a7"]}, ["a7"])
    check_chains(a6, edges, ["l7", "r7"])  # a6 -> l7, r7 alone starts each once


def test_chain_run_counts_stay_small_for_a_deep_ladder():
    deep = _ladder(200)  # 2**200 runs: counted up to a cap, not built as a 61-digit number
    errors = list(chain_errors(deep[0], chain_graph(deep), {j.name for j in deep}))
    assert [e.problem for e in errors] == [  # a20, the first rung past the cap (2**20 paths)
        "one run of 'a0' could start 'a20' 1,000,000 or more times through its chains (at most 64: each path "
        "of chains from 'a0' to 'a20' starts it once)"
    ]


def test_an_edge_on_both_chains_or_named_twice_counts_once():
    jobs = [make_job(f"j{i}", on_success=[f"j{i + 1}"] * 2, on_failure=[f"j{i + 1}"]) for i in range(10)]
    jobs.append(make_job("j10"))
    check_chain_graph(jobs, {j.name for j in jobs})
