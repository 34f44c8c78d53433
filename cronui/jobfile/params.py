"""A job file's `[job.params]`: the run-time parameters a job declares, read with every problem named by its
key (`params.env.default`), and written back in the same shape by `view` (and so by export)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cronui.model import Job
from cronui.model.params import PARAM_KEYS, PARAM_NAME, PARAM_TYPES, ParamDecl, ParamError, convert, decls_to_dict

if TYPE_CHECKING:
    from cronui.jobfile.entry import EntryReader

EXAMPLE = '{ env = { default = "staging", choices = ["staging", "prod"] }, count = { type = "int" } }'


def read_params(reader: EntryReader) -> dict[str, ParamDecl]:
    """The `params` table of the reader's entry ({} when absent); problems go to the reader."""
    table = reader.entry.get("params", {})
    if not isinstance(table, dict):
        reader.fail("params", f"expected a table like {EXAMPLE}")
        return {}
    decls: dict[str, ParamDecl] = {}
    for name, spec in table.items():
        label = f"params.{name}"
        if not PARAM_NAME.match(name):
            reader.fail(label, "not a valid param name (a letter or '_', then letters, digits, '_'; up to 64)")
            continue
        if not isinstance(spec, dict):
            reader.fail(label, 'expected a table like { type = "int", default = 3, choices = [1, 3, 5] }')
            continue
        reader.unknown(spec, PARAM_KEYS, f"{label}.")
        kind = reader.choice(spec, "type", f"{label}.type", PARAM_TYPES) or "str"
        decl = ParamDecl(type=kind)
        choices = spec.get("choices")
        if choices is not None and (not isinstance(choices, list) or not choices):
            reader.fail(f"{label}.choices", "expected a non-empty array of values")
            choices = None
        try:
            if choices is not None:
                decl.choices = [convert(ParamDecl(type=kind), c, f"{name} choice") for c in choices]
        except ParamError as e:
            reader.fail(f"{label}.choices", str(e))
        try:
            if spec.get("default") is not None:
                decl.default = convert(decl, spec["default"], f"{name} default")
        except ParamError as e:
            reader.fail(f"{label}.default", str(e))
        decls[name] = decl
    return decls


def params_view(job: Job) -> dict[str, Any]:
    """The job's declarations as the file writes them (nothing when it declares none)."""
    return {"params": decls_to_dict(job.params)} if job.params else {}
