"""The run-time parameter options of `cronui jobs` (beside `alert_options.py`): `jobs add/edit --param-decl
NAME[:TYPE][=DEFAULT]` declares them, `jobs run --param K=V` gives a run their values (cronui.model.params)."""

from __future__ import annotations

import argparse
from typing import Any

from cronui.jobs import JobError
from cronui.jobs_params import run_params
from cronui.model import Job
from cronui.model.params import PARAM_TYPES, ParamDecl, ParamError, convert, parse_pairs


def add_param_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--param",
        action="append",
        metavar="K=V",
        help="a value for one of the job's params (repeatable); the others take their defaults",
    )


def given_params(job: Job, pairs: list[str] | None) -> dict[str, Any] | None:
    """`--param` values checked against the job's params: every declared one's value (None for a job with
    none and no --param); JobError for a pair that is not K=V, an unknown name, a missing or bad value."""
    try:
        given = parse_pairs(pairs or [])
    except ParamError as e:
        raise JobError("param", str(e)) from None
    return run_params(job, given)


def add_param_decl_option(p: argparse.ArgumentParser, *, editing: bool) -> None:
    more = "; on edit, replaces the one of that name ('' drops them all)" if editing else ""
    p.add_argument(
        "--param-decl",
        action="append",
        metavar="NAME[:TYPE][=DEFAULT]",
        help=f"declare a run-time param (TYPE: {', '.join(PARAM_TYPES)}; no DEFAULT: required){more}",
    )


def apply_param_decls(job: Job, decls: list[str] | None) -> None:
    """`--param-decl` options: each declares (or redeclares) one param; a single '' drops them all."""
    if decls is None:
        return
    if all(not d.strip() for d in decls):
        job.params = {}
        return
    params = dict(job.params)
    for text in decls:
        if text.strip():
            name, decl = parse_decl(text)
            params[name] = decl
    job.params = params


def parse_decl(text: str) -> tuple[str, ParamDecl]:
    head, sep, default = text.partition("=")
    name, colon, kind = head.strip().partition(":")
    kind = kind.strip() if colon else "str"
    if kind not in PARAM_TYPES:
        raise JobError("param-decl", f"{text!r}: unknown type {kind!r} (expected one of {', '.join(PARAM_TYPES)})")
    decl = ParamDecl(type=kind)
    if sep:
        try:
            decl.default = convert(decl, default, name)
        except ParamError as e:
            raise JobError("param-decl", str(e)) from None
    return name, decl
