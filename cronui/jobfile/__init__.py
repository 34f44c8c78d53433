"""Job files: `[[job]]` tables in TOML (or the same shape in JSON) that declare jobs as code.

One file is read into Jobs with the same rules as the CLI (`jobs.validate`), compared with what the
store holds, and the difference is applied in one transaction through `Control.apply`. The comparison
works on a *view* of a job in file terms (the keys a file may write, with every default filled in), so
a job saved by the CLI with a sparse target and the same job read from a file compare equal, and the
second apply of a file finds nothing to do. `export` writes the same view back, leaving out what
equals a built-in default, so export -> apply reproduces the state.

    schema   the format: keys, defaults, JobFile / FileJob, JobFileError
    entry    one `[[job]]` table -> a Job, every problem collected in file terms
    read     a file's text (TOML/JSON, with line numbers) -> a JobFile
    view     a job as flat file-term pairs; values shown with secrets masked
    export   jobs -> a job file
    plan     a JobFile against the live jobs -> creates / updates / removes, chains checked
    report   a plan as a diff, counts and JSON
"""

from cronui.jobfile.export import dump_json, dump_toml, export_entry
from cronui.jobfile.plan import Change, Plan, Update, diff_views, plan_apply
from cronui.jobfile.read import load_entries, parse_text, read_jobfile
from cronui.jobfile.report import format_plan, plan_counts, plan_json
from cronui.jobfile.schema import MAX_REPORTED, SOURCE_PREFIX, FileJob, JobFile, JobFileError, source_for
from cronui.jobfile.view import show_value, view

__all__ = [
    "MAX_REPORTED",
    "SOURCE_PREFIX",
    "Change",
    "FileJob",
    "JobFile",
    "JobFileError",
    "Plan",
    "Update",
    "diff_views",
    "dump_json",
    "dump_toml",
    "export_entry",
    "format_plan",
    "load_entries",
    "parse_text",
    "plan_apply",
    "plan_counts",
    "plan_json",
    "read_jobfile",
    "show_value",
    "source_for",
    "view",
]
