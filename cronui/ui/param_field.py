"""The job editor's Params field: the run-time parameters a job declares, as one line of text and back.

`env=staging [staging|prod]; count:int=3; who`: entries separated by `;`, each `NAME[:TYPE][=DEFAULT]` (as
`--param-decl` takes it) with its choices in brackets, separated by `|`; a name without a default is required.
"""

from __future__ import annotations

import re

from cronui.jobs import JobError
from cronui.model.params import PARAM_TYPES, ParamDecl, ParamError, convert, text

_CHOICES = re.compile(r"\[([^\]]*)\]\s*$")
PLACEHOLDER = "env=staging [staging|prod]; count:int=3; who"


def params_text(decls: dict[str, ParamDecl]) -> str:
    parts = []
    for name, decl in decls.items():
        part = name if decl.type == "str" else f"{name}:{decl.type}"
        if decl.default is not None:
            part += f"={text(decl.default)}"
        if decl.choices is not None:
            part += f" [{'|'.join(text(c) for c in decl.choices)}]"
        parts.append(part)
    return "; ".join(parts)


def parse_params(line: str) -> dict[str, ParamDecl]:
    """The declarations a Params line says; JobError("params", ...) for one that is not `NAME[:TYPE][=DEFAULT]`."""
    decls: dict[str, ParamDecl] = {}
    for entry in (e.strip() for e in line.split(";")):
        if not entry:
            continue
        choices: list[str] | None = None
        if m := _CHOICES.search(entry):
            choices = [c.strip() for c in m.group(1).split("|") if c.strip()]
            entry = entry[: m.start()].strip()
        head, sep, default = entry.partition("=")
        name, colon, kind = head.strip().partition(":")
        kind = kind.strip() if colon else "str"
        if kind not in PARAM_TYPES:
            raise JobError("params", f"{name}: unknown type {kind!r} (expected one of {', '.join(PARAM_TYPES)})")
        decl = ParamDecl(type=kind)
        try:
            if choices is not None:
                decl.choices = [convert(ParamDecl(type=kind), c, f"{name} choice") for c in choices]
            if sep:
                decl.default = convert(decl, default.strip(), f"{name} default")
        except ParamError as e:
            raise JobError("params", str(e)) from None
        decls[name] = decl
    return decls
