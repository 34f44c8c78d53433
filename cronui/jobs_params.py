"""The values a run is asked for with, checked against what its job declares (cronui.model.params), whoever
asks: the CLI's `jobs run --param`, the API's and MCP's `params`, the TUI's run form, a hook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cronui.jobs import JobError
from cronui.model import Job
from cronui.model.params import ParamError, resolve


def run_params(job: Job, given: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Every declared param's value for a run asked for with `given` (None for a job that declares none and
    a run given none); JobError("param", ...) for a name not declared, a required one missing, a wrong value."""
    if not job.params and not given:
        return None
    if given is not None and not isinstance(given, Mapping):
        raise JobError("param", "expected a table of NAME: VALUE")
    try:
        return resolve(job.params, given or {})
    except ParamError as e:
        raise JobError("param", str(e)) from None
