"""`${env:NAME}` references: stored as written, resolved only at run time, masked wherever shown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

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
    for value in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
