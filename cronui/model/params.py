"""Run-time parameters: what a job declares (`[job.params]`, `--param-decl`) and the values a run is given.

A job declares each parameter with a type (str, int, float, bool), an optional default and optional
choices; one without a default is required when someone asks for a run. A run asked for with values
(`jobs run --param K=V`, the API's and MCP's `params`) records every declared parameter's value; a run
the scheduler makes (or a chain, a catch-up) takes the defaults, recorded when it starts. Shell jobs see
them as `CRONUI_PARAM_K`, HTTP URLs and bodies and agent messages as `{param.K}`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

PARAM_TYPES = ("str", "int", "float", "bool")
PARAM_KEYS = ("type", "default", "choices")  # a declaration's keys in a job file
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")  # an environment variable's tail, a placeholder's
MAX_PARAMS = 50
MAX_VALUE = 4096  # characters of one value given to a run
ENV_PREFIX = "CRONUI_PARAM_"
PLACEHOLDER = re.compile(r"\{param\.([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")


class ParamError(ValueError):
    """A parameter declared or given wrongly: one line naming the parameter and the problem."""


@dataclass
class ParamDecl:
    """One declared parameter. `default` and `choices` hold values of its type (None: not set)."""

    type: str = "str"
    default: Any = None
    choices: list[Any] | None = None
    unknown: dict[str, Any] = field(default_factory=dict, kw_only=True)  # keys a newer version wrote

    @property
    def required(self) -> bool:
        return self.default is None

    def to_dict(self) -> dict[str, Any]:
        """The stored and exported form, without what is not set (`type` only when not str)."""
        out: dict[str, Any] = {} if self.type == "str" else {"type": self.type}
        if self.default is not None:
            out["default"] = self.default
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return {**out, **self.unknown}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParamDecl:
        return cls(
            type=data.get("type", "str"),
            default=data.get("default"),
            choices=list(data["choices"]) if data.get("choices") is not None else None,
            unknown={k: v for k, v in data.items() if k not in PARAM_KEYS},
        )


def decls_from_dict(data: Mapping[str, Any] | None) -> dict[str, ParamDecl]:
    return {n: d if isinstance(d, ParamDecl) else ParamDecl.from_dict(d) for n, d in (data or {}).items()}


def decls_to_dict(decls: Mapping[str, ParamDecl]) -> dict[str, dict[str, Any]]:
    return {name: decl.to_dict() for name, decl in decls.items()}


def convert(decl: ParamDecl, raw: Any, name: str) -> Any:
    """`raw` (text from a command line, or a JSON value) as a value of the parameter's type, within its
    choices; ParamError naming `name` otherwise."""
    value = _typed(decl.type, raw, name)
    if decl.choices is not None and value not in decl.choices:
        shown = ", ".join(show(c) for c in decl.choices)
        raise ParamError(f"{name}: {show(value)} is not one of {shown}")
    return value


def _typed(kind: str, raw: Any, name: str) -> Any:
    if isinstance(raw, str) and len(raw) > MAX_VALUE:
        raise ParamError(f"{name}: longer than {MAX_VALUE:,} characters")
    if kind == "str":
        if isinstance(raw, str):
            if "\x00" in raw:
                raise ParamError(f"{name}: contains a NUL character")
            return raw
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return str(raw)
    elif kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in (*_TRUE, *_FALSE):
            return raw.strip().lower() in _TRUE
    elif kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?\d{1,18}\s*", raw):
            return int(raw)
    elif kind == "float":
        if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
            return float(raw)
        if isinstance(raw, str):
            try:
                number = float(raw)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return number
    else:
        raise ParamError(f"{name}: unknown type {show(kind)} (expected one of {', '.join(PARAM_TYPES)})")
    expected = {"str": "a string", "bool": "true or false", "int": "a whole number", "float": "a number"}[kind]
    raise ParamError(f"{name}: expected {expected}, got {show(raw)}")


def decl_problems(decls: Mapping[str, ParamDecl]) -> Iterator[str]:
    """What is wrong with a job's declarations, one line each."""
    if len(decls) > MAX_PARAMS:
        yield f"at most {MAX_PARAMS} params, got {len(decls)}"
    for name, decl in decls.items():
        if not isinstance(name, str) or not PARAM_NAME.match(name):
            yield f"{show(name)}: not a valid name (a letter or '_', then letters, digits, '_'; up to 64)"
            continue
        if decl.type not in PARAM_TYPES:
            yield f"{name}: unknown type {show(decl.type)} (expected one of {', '.join(PARAM_TYPES)})"
            continue
        if decl.unknown:
            yield f"{name}: unknown key {sorted(decl.unknown)[0]!r} (known keys: {', '.join(PARAM_KEYS)})"
        try:
            if decl.choices is not None:
                if not decl.choices:
                    yield f"{name}: choices must not be empty"
                    continue
                decl.choices = [_typed(decl.type, c, f"{name} choice") for c in decl.choices]
            if decl.default is not None:
                decl.default = convert(decl, decl.default, f"{name} default")
        except ParamError as e:
            yield str(e)


def resolve(decls: Mapping[str, ParamDecl], given: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a run asked for with `given`: each declared parameter's, given or its default.
    ParamError for a name not declared, a required one not given, or a value not of its type or choices."""
    unknown = [k for k in given if k not in decls]
    if unknown:
        declared = ", ".join(decls) or "none"
        raise ParamError(f"unknown name {unknown[0]!r} (declared: {declared})")
    values: dict[str, Any] = {}
    for name, decl in decls.items():
        if name in given:
            values[name] = convert(decl, given[name], name)
        elif decl.default is not None:
            values[name] = decl.default
        else:
            raise ParamError(f"{name} is required (it has no default): give it a value")
    return values


def defaults(decls: Mapping[str, ParamDecl]) -> dict[str, Any]:
    """The values a run nobody gave any takes (a scheduled run): the declared defaults."""
    return {name: decl.default for name, decl in decls.items() if decl.default is not None}


def parse_pairs(pairs: list[str], option: str = "--param") -> dict[str, str]:
    """`K=V` texts (a command line's) as a table; ParamError for one without `=`."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParamError(f"expected {option} NAME=VALUE, got {show(pair)}")
        out[name.strip()] = value
    return out


def text(value: Any) -> str:
    """A value as a shell job's environment and a placeholder see it (bools as true / false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def environment(values: Mapping[str, Any]) -> dict[str, str]:
    """`CRONUI_PARAM_K` for each value."""
    return {ENV_PREFIX + name: text(value) for name, value in values.items()}


def render(template: str, values: Mapping[str, Any]) -> str:
    """`{param.K}` replaced by K's value; a placeholder of a parameter with no value is left as written."""
    if "{param." not in template:
        return template
    return PLACEHOLDER.sub(lambda m: text(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def filled(decls: Mapping[str, ParamDecl], recorded: Mapping[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    """The values a run starts with: those recorded when it was asked for, else the defaults; and the
    reason it cannot run when a required parameter has no value (a chained run of a job with one)."""
    values = dict(recorded) if recorded is not None else defaults(decls)
    missing = [name for name, decl in decls.items() if decl.required and name not in values]
    if missing:
        return values, f"param {missing[0]} is required (it has no default), and this run was given no value"
    return values, None


def job_problems(job: Any) -> Iterator[str]:
    """What is wrong with a job's declarations (`job`: a model.Job), typed values normalized on the way: the
    declarations themselves; params on a check (which runs nothing); a required one on an enabled job, whose
    scheduled runs take the defaults (a disabled job runs only when asked, with the values given)."""
    decls: dict[str, ParamDecl] = job.params
    if not isinstance(decls, dict):
        yield f"expected a table of params, got {show(decls)}"
        return
    if decls and job.is_check:
        yield "a check runs nothing: it takes no params"
        return
    found = list(decl_problems(decls))
    yield from found
    required = [name for name, decl in decls.items() if decl.required]
    if not found and required and job.enabled:
        yield (
            f"{required[0]} has no default, but the job runs on its schedule, which gives no values: "
            "give it a default, or keep the job disabled and run it with --param"
        )
