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
