"""`jobs add` / `jobs edit` options naming a job's calendars (`[calendars.NAME]` in the config):
`--skip-calendar NAME` and `--only-calendar NAME`, each repeatable; `--skip-calendar ''` clears the list."""

from __future__ import annotations

import argparse

from cronui.model import Job


def add_calendar_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--skip-calendar",
        action="append",
        metavar="NAME",
        help="skip the slots on a day of calendar NAME, from the config's [calendars.NAME] (repeatable; '' clears)",
    )
    p.add_argument(
        "--only-calendar",
        action="append",
        metavar="NAME",
        help="run only on the days of calendar NAME; others are skipped (repeatable; '' clears)",
    )


def apply_calendar_options(job: Job, a: argparse.Namespace) -> None:
    for attr in ("skip_calendar", "only_calendar"):
        values = getattr(a, attr, None)
        if values is not None:
            setattr(job, attr, list(dict.fromkeys(v.strip() for v in values if v.strip())))
