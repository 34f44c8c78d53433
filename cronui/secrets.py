"""`${env:NAME}` references: stored as written, resolved only at run time, masked wherever shown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "••••••••"


class MissingSecret(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set (referenced as ${{env:{name}}})")
        self.name = name


def references(text: str) -> list[str]:
    return REF.findall(text)


def missing(texts: Iterable[str], env: Mapping[str, str]) -> list[str]:
    """Names referenced in `texts` that `env` does not define, in order, once each."""
    out: list[str] = []
    for text in texts:
        for name in references(text):
            if name not in env and name not in out:
                out.append(name)
    return out


def resolve(text: str, env: Mapping[str, str], found: list[str] | None = None) -> str:
    """Replace every reference by its value; collect the values in `found` so they can be masked."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise MissingSecret(name)
        value = env[name]
        if found is not None and value:
            found.append(value)
        return value

    return REF.sub(sub, text)


def mask(text: str, secrets: Iterable[str]) -> str:
    """Hide resolved secret values that leaked into output or errors."""
    for value in maskable(secrets):
        text = text.replace(value, MASK)
    return text


def maskable(secrets: Iterable[str]) -> list[str]:
    """The values worth masking (at least 4 characters: shorter ones would mangle ordinary text), longest first."""
    return sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)


def mask_data(value: Any, secrets: Iterable[str]) -> Any:
    """`mask` applied to every string in a JSON-like value (dicts, lists, tuples; keys too)."""
    values = maskable(secrets)
    if not values:
        return value
    return _mask_data(value, values)


def _mask_data(value: Any, values: list[str]) -> Any:
    if isinstance(value, str):
        for v in values:
            value = value.replace(v, MASK)
        return value
    if isinstance(value, dict):
        return {_mask_data(k, values): _mask_data(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_data(v, values) for v in value]
    return value


class StreamMasker:
    """Masks a stream of text handed over in pieces, so a value split across two pieces is masked too.

    `feed` returns what can be shown now and holds back only the end of the text that could be the
    start of a value (usually nothing); `end` returns what is held back, masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.values = maskable(secrets)
        self.longest = len(self.values[0]) if self.values else 0
        self.pattern = re.compile("|".join(re.escape(v) for v in self.values)) if self.values else None
        self.firsts = {v[0] for v in self.values}
        self.held = ""

    def feed(self, text: str) -> str:
        if self.pattern is None:
            return text
        buf = self.held + text
        matches = [(m.start(), m.end()) for m in self.pattern.finditer(buf, max(0, len(buf) - 2 * self.longest))]
        cut = len(buf)
        for i in range(max(0, len(buf) - self.longest + 1), len(buf)):
            if buf[i] not in self.firsts or any(s < i < e for s, e in matches):
                continue
            rest = buf[i:]
            if any(v.startswith(rest) for v in self.values):
                cut = i  # the earliest start of a value that may go on in the next piece
                break
        self.held = buf[cut:]
        return self.pattern.sub(MASK, buf[:cut])

    def end(self) -> str:
        held, self.held = self.held, ""
        return held if self.pattern is None else self.pattern.sub(MASK, held)
