"""A job as a job file (MCP's `cronui://jobs/{name}`): what `cronui export` writes, with the literal
credentials masked as the API masks them (cronui.masking), since the text leaves the host."""

from __future__ import annotations

import copy

from cronui.application.context import Cronui
from cronui.jobfile.export import dump_toml
from cronui.masking import masked_delivery, masked_target
from cronui.model import Job
from cronui.targets import delivery_from_dict, target_from_dict, to_dict


def masked_job(job: Job) -> Job:
    """A copy of `job` whose target and delivery hold their values as every face shows them."""
    shown = copy.deepcopy(job)
    shown.target = target_from_dict(job.kind, masked_target(to_dict(job.target, keep_none=True)))
    shown.delivery = delivery_from_dict(masked_delivery(to_dict(job.delivery)))
    return shown


async def job_file_text(app: Cronui, name: str) -> str:
    """The job named `name` as a TOML job file, secrets masked (NotFound when there is none)."""
    job = await app.control.job(name)
    text, _ = dump_toml([masked_job(job)])
    return text
